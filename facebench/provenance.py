"""Where a results file came from: the code's commit and the machine that ran the command."""
from __future__ import annotations

import platform
import subprocess


def git_commit() -> str:
    """Short commit hash of the working directory's checkout ("unknown" outside a git checkout)."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        out = ""
    return out or "unknown"


def machine() -> str:
    """Host name, architecture and accelerator, e.g. ``vm (x86_64, CPU only)``."""
    import torch

    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU only"
    return f"{platform.node()} ({platform.machine()}, {device})"
