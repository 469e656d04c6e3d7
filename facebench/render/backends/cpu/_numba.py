"""numba settings shared by the CPU kernels; import numba through this module.

DataLoader workers fork the process. numba's default OpenMP layer (GNU libgomp) aborts in a forked child
("fork() called from a process already using GNU OpenMP"), so unless the user chose a layer with
NUMBA_THREADING_LAYER we use the built-in 'workqueue' layer, which is always available.

Compiled kernels are cached (``cache=True``) in a directory named by a hash of the sources they are built
from (see :func:`kernel_cache_dir`): numba keys its cache by the kernel's own file only, and the kernels
compile in constants from other modules (materials, texture and hair tables in ``render/materials.py``, part and
class ids), so after a change there (an update of facebench) a cache beside the sources would go on
running the old constants on the CPU while the PyTorch and CUDA paths used the new ones.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numba

if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"

_PACKAGE = Path(__file__).resolve().parents[3]  # facebench/


def kernel_sources() -> list[Path]:
    """The files the CPU and CUDA kernels compile from or take constants from."""
    return sorted((_PACKAGE / "render").rglob("*.py")) + [_PACKAGE / "labels.py"]


def source_hash(files: list[Path]) -> str:
    """A short hash of the files' names and contents."""
    h = hashlib.sha256()
    for p in files:  # named by their path in the package (several backends have a shade.py)
        name = p.relative_to(_PACKAGE).as_posix() if p.is_relative_to(_PACKAGE) else p.name
        h.update(name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def kernel_cache_dir() -> Path:
    """Where compiled kernels are cached: under NUMBA_CACHE_DIR if set, else the user's cache directory
    (XDG_CACHE_HOME or ~/.cache, the temporary directory where there is no home)/facebench/numba, in a
    subdirectory per source hash. (Where it cannot be written numba falls back to its own locations.)"""
    base = os.environ.get("NUMBA_CACHE_DIR")
    if not base:
        home = Path(os.path.expanduser("~"))
        user = os.environ.get("XDG_CACHE_HOME") or (home / ".cache" if home.is_absolute() else Path(tempfile.gettempdir()))
        base = Path(user) / "facebench" / "numba"
    return Path(base) / source_hash(kernel_sources())


numba.config.CACHE_DIR = str(kernel_cache_dir())

__all__ = ["numba"]
