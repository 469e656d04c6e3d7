"""Recognise a dataset's on-disk format, validate every file and print counts and problems.

    python -m facebench.check PATH

Exit status 0 when everything is fine, 1 when any problem was found, 2 when the format is unknown.
"""
from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console
from rich.progress import track


MAX_LISTED = 200  # problems printed one per line; the rest are counted


class Report:
    """Collects counts and problems (each naming its file) while a format validates a path."""

    def __init__(self, console: Console | None = None, progress: bool = True):
        self.counts: dict[str, object] = {}
        self.problems: list[str] = []
        self.console = console or Console(stderr=True)
        self._progress = progress

    def count(self, name: str, value) -> None:
        self.counts[name] = value

    def problem(self, msg: str) -> None:
        self.problems.append(msg)

    def progress(self, it, what: str):
        return track(it, description=f"checking {what}", console=self.console, disable=not self._progress)


def check(path: str | Path, progress: bool = True) -> tuple[str | None, Report]:
    from datamodules.readers.formats import detect_format
    from datamodules.readers.images import DatasetError

    path = Path(path)
    report = Report(progress=progress)
    if not path.exists():
        report.problem(f"{path}: does not exist")
        return None, report
    fmt = detect_format(path)
    if fmt is None:
        return None, report
    try:
        fmt.validate(path, report)
    except DatasetError as e:  # a whole-set problem (its index or header): what was found so far is kept
        report.problem(str(e))
    return fmt.name, report


def main(argv: list[str] | None = None) -> int:
    from datamodules.readers.formats import FORMATS

    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m facebench.check PATH", file=sys.stderr)
        return 2
    name, report = check(argv[0])
    if name is None and not report.problems:
        print(f"{argv[0]}: format not recognised (known: {', '.join(f.name for f in FORMATS)})")
        return 2
    if name is None:  # the path itself is the problem (missing)
        for p in report.problems:
            print(f"error: {p}", file=sys.stderr)
        return 1
    print(f"{argv[0]}: format {name}")
    for k, v in report.counts.items():
        print(f"  {k}: {v}")
    if report.problems:
        print(f"{len(report.problems)} problem(s):")
        for p in report.problems[:MAX_LISTED]:
            print(f"  - {p}")
        if len(report.problems) > MAX_LISTED:
            print(f"  ... and {len(report.problems) - MAX_LISTED} more")
        return 1
    print("OK: no problems found")
    return 0


if __name__ == "__main__":
    from facebench.errors import run_command

    run_command(main)
