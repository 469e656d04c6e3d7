"""Compile every numba.cuda kernel of the GPU path to PTX without a GPU (needs numba-cuda with NVVM, e.g.
``pip install -e ".[cu12]"``): catches typing errors that CUDA's simulator, which runs kernels as Python,
cannot. The argument types are recorded from a simulator run of ``cuda_sim_check.py``.

    python tests/cuda_compile_check.py        # prints one line per kernel, exits non-zero on a failure
"""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def record_signatures() -> dict[str, list[str]]:
    """Kernel name -> numba type names of its arguments, from the simulator (a subprocess)."""
    code = (
        "import json, runpy, sys, numba\n"
        "import facebench.render.backends.cuda.kernels as K\n"
        "rec = {}\n"
        "orig = K._launch\n"
        "def launch(kernel, n, *args):\n"
        "    conv = [K._arr(a) if hasattr(a, 'device') else a for a in args]\n"
        "    rec[kernel.py_func.__name__] = [str(numba.typeof(a)) for a in conv]\n"
        "    return orig(kernel, n, *args)\n"
        "K._launch = launch\n"
        "sys.argv = ['cuda_sim_check.py', '--shade']\n"
        "runpy.run_path('tests/cuda_sim_check.py', run_name='__main__')\n"
        "print('SIGNATURES ' + json.dumps(rec))\n"
    )
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    line = next(x for x in out.stdout.splitlines() if x.startswith("SIGNATURES "))
    return json.loads(line.removeprefix("SIGNATURES "))


def _numba_type(name: str):
    from numba import types

    if name.startswith("array("):  # e.g. array(float32, 3d, C)
        dtype, ndim, layout = (x.strip() for x in name[len("array("):-1].split(","))
        return types.Array(getattr(types, dtype), int(ndim[:-1]), layout)
    return getattr(types, {"bool": "boolean"}.get(name, name))


def main() -> int:
    import numba.cuda.dispatcher as dispatcher
    from numba.cuda import compile_ptx

    class _H100:  # device functions ask the current device for its compute capability; there is none here
        compute_capability = (9, 0)

    dispatcher.get_current_device = lambda: _H100()
    import facebench.render.backends.cuda.kernels as K

    failed = 0
    for name, sig in record_signatures().items():
        try:
            ptx, _ = compile_ptx(getattr(K, name).py_func, tuple(_numba_type(t) for t in sig), cc=(9, 0))
            print(f"{name}: compiles ({len(ptx)} chars of sm_90 PTX)")
        except Exception as e:  # noqa: BLE001 - report every kernel
            failed += 1
            print(f"{name}: FAILED {type(e).__name__}: {e}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
