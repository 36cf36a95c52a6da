"""The results table, its verdicts and header, and where they are written."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from pathlib import Path


class Report:
    """Rows of the main table, verdicts, and extra tables, in the order the sections add them."""

    def __init__(self, columns: list[str]) -> None:
        self.columns = columns
        self.rows: list[tuple[str, dict[str, str]]] = []
        self.verdicts: list[str] = []
        self.notes: list[str] = []

    def row(self, label: str, cells: dict[str, str]) -> None:
        self.rows.append((label, cells))

    def verdict(self, figure: str, target: str, outcome: str) -> None:
        self.verdicts.append(f"{figure} (target {target}): {outcome}")

    def table(self) -> list[str]:
        lines = ["| measurement | " + " | ".join(self.columns) + " |", "|" + "---|" * (len(self.columns) + 1)]
        for label, cells in self.rows:
            lines.append("| " + " | ".join([label, *(cells.get(n, "") for n in self.columns)]) + " |")
        return lines


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def load_average(digits: int = 2) -> str:
    return ", ".join(f"{x:.{digits}f}" for x in os.getloadavg())


def code_measured() -> str:
    """The commit of the imported requests_adtech_auth, and whether its files differ from it."""
    import requests_adtech_auth

    where = Path(requests_adtech_auth.__file__).parent
    git = ["git", "-C", str(where)]
    try:
        commit = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=30, check=False
        )
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--", "."], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return f"requests_adtech_auth from {where}"
    if commit.returncode != 0:
        return f"requests_adtech_auth from {where}"
    return f"requests_adtech_auth at commit {commit.stdout.strip()}" + (
        " with uncommitted changes" if dirty.stdout.strip() else ""
    )


README_BEGIN = "<!-- latest results: begin (written by bench/run.py) -->"
README_END = "<!-- latest results: end -->"


def update_readme(report: str, path: Path) -> bool:
    """Put ``report`` between the README's markers, leaving every other section as it is."""
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(README_BEGIN) + ".*?" + re.escape(README_END), re.DOTALL)
    if not pattern.search(text):
        return False
    path.write_text(pattern.sub(lambda _: f"{README_BEGIN}\n\n{report}\n{README_END}", text, count=1), encoding="utf-8")
    return True
