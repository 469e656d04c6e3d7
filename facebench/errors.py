"""One error type for bad input, and the wrapper that turns it into one line on the command line.

Every reader, dataset and command raises :class:`DatasetError` for a data problem, with a message that names
the file (and line, record or sample where there is one) and says what was wrong, and :class:`ConfigError`
for a bad setting. The commands (run, eval, check, generate, report, bench) catch both, print one line
(plus a hint where one helps) and exit with status 1; ``--traceback`` or ``FACEBENCH_DEBUG=1`` shows the stack.
"""
from __future__ import annotations

import os
import sys


class DatasetError(ValueError):
    """A dataset or checkpoint file is missing or malformed; the message names the file."""


class ConfigError(ValueError):
    """A setting is invalid; the message names the key and the accepted values."""


DEBUG_ENV = "FACEBENCH_DEBUG"
_WORKER_MARK = "Original Traceback (most recent call last):"


def debug_requested(argv: list[str] | None = None) -> bool:
    """Whether the user asked for full tracebacks (``--traceback`` or ``FACEBENCH_DEBUG=1``)."""
    argv = sys.argv if argv is None else argv
    return "--traceback" in argv or os.environ.get(DEBUG_ENV, "") not in ("", "0")


def one_line(err: BaseException) -> str:
    """The message of an error as one line. An error raised in a DataLoader worker arrives with the worker's
    whole traceback in its message; its own message is the last line."""
    msg = str(err)
    if _WORKER_MARK in msg:
        last = [ln for ln in msg.strip().splitlines() if ln.strip()][-1]
        name = type(err).__name__
        msg = last.split(f"{name}: ", 1)[1] if f"{name}: " in last else last
    return " ".join(msg.split("\n")).strip()


def report(err: BaseException, hint: str | None = None) -> None:
    """Print ``error: <one line>`` (and the hint) to stderr."""
    print(f"error: {one_line(err)}", file=sys.stderr)
    if hint:
        print(f"hint: {hint}", file=sys.stderr)


def run_command(main, argv: list[str] | None = None) -> None:
    """Run a command's ``main(argv)`` and exit with its status; bad input exits 1 with one line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = debug_requested(argv)
    argv = [a for a in argv if a != "--traceback"]
    try:
        code = main(argv)
    except (DatasetError, ConfigError) as e:
        if debug:
            raise
        report(e, "run again with --traceback (or FACEBENCH_DEBUG=1) to see where it was raised")
        sys.exit(1)
    sys.exit(code or 0)
