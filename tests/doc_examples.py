"""The Python examples of README.rst and the docs pages, read out of their code blocks.

test_docs.py runs each as a user would; other suites take the module an example page
defines (the registry's third-party flow) from here, so they test what the docs show.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.rst"
DOCS = ROOT / "docs"
SOURCES = [README, *sorted(DOCS.glob("*.rst"))]

_PYTHON_BLOCK = re.compile(r"^( *)\.\. code-block:: python\n((?:\1 +:.*\n)*)\n((?:(?:\1 +.*)?\n)+)", re.MULTILINE)
# A block captioned with a file name is a module the page's later examples import.
_MODULE_CAPTION = re.compile(r":caption: (\w+\.py)$", re.MULTILINE)


@dataclass(frozen=True)
class Example:
    """One Python example: where it stands and its code."""

    source: Path
    line: int
    code: str
    #: The file name a module example is saved as; None for an example that runs.
    module: str | None = None

    @property
    def id(self) -> str:
        return f"{self.source.name}:{self.line}"

    @property
    def is_test_file(self) -> bool:
        return re.search(r"^(?:def test_\w+\(|class Test\w+)", self.code, re.MULTILINE) is not None


def examples() -> list[Example]:
    """Every ``.. code-block:: python`` of SOURCES, in order."""
    found = []
    for source in SOURCES:
        text = source.read_text()
        for match in _PYTHON_BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            caption = _MODULE_CAPTION.search(match.group(2))
            found.append(Example(source, line, textwrap.dedent(match.group(3)), caption and caption.group(1)))
    return found


EXAMPLES = examples()
