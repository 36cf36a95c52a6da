"""Check the built sdist and wheel: the wheel's metadata, and that the sdist carries its tests and docs."""

from __future__ import annotations

import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

dist = Path(sys.argv[1])
(wheel,) = dist.glob("*.whl")
(sdist,) = dist.glob("*.tar.gz")

with zipfile.ZipFile(wheel) as archive:
    (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
    metadata = Parser().parsestr(archive.read(name).decode())
    shipped = set(archive.namelist())
urls = {value.split(",", 1)[0].strip() for value in metadata.get_all("Project-URL") or []}
problems = [
    f"Project-URL {label} missing" for label in ("Documentation", "Source", "Changelog", "Issues") if label not in urls
]
if not metadata.get("Author"):
    problems.append("no Author")
if metadata.get("License-Expression") != "MIT":
    problems.append(f"License-Expression is {metadata.get('License-Expression')!r}, not 'MIT'")
problems += [f"license classifier {c!r}" for c in metadata.get_all("Classifier") or [] if c.startswith("License ::")]
problems += [f"wheel lacks {n}" for n in ("requests_adtech_auth/py.typed",) if n not in shipped]

with tarfile.open(sdist) as archive:
    members = {m.name.split("/", 1)[1] for m in archive.getmembers() if "/" in m.name}
# Every module of the suite: the sdist runs it, and its test files import the support
# modules beside them (helpers.py, redis_server.py, ...), not only conftest.py.
root = Path(__file__).resolve().parent.parent
needed = (
    *sorted(p.relative_to(root).as_posix() for p in (root / "tests").glob("*.py")),
    "docs/conf.py",
    "docs/index.rst",
    "CHANGELOG.rst",
)
problems += [f"sdist lacks {n}" for n in needed if n not in members]
problems += [f"sdist carries {n}" for n in members if n.startswith(("docs/_build/", "build/", ".venv/"))]

if problems:
    sys.exit("dist check failed:\n  " + "\n  ".join(problems))
print(f"{wheel.name} and {sdist.name}: metadata and contents as expected ({len(members)} files in the sdist)")
