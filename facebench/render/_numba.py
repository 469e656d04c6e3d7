"""numba settings shared by the CPU kernels; import numba through this module.

DataLoader workers fork the process. numba's default OpenMP layer (GNU libgomp) aborts in a forked child
("fork() called from a process already using GNU OpenMP"), so unless the user chose a layer with
NUMBA_THREADING_LAYER we use the built-in 'workqueue' layer, which is always available.
"""
from __future__ import annotations

import os

import numba

if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"

__all__ = ["numba"]
