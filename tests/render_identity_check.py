"""Bitwise identity of the CPU render paths across a change of the renderer's code (a restructuring must not
change a single bit). Run by hand, before and after the change, on the same machine:

    python tests/render_identity_check.py save /tmp/before      # on the old code
    python tests/render_identity_check.py compare /tmp/before   # on the new code

It renders 128 samples at 112 px aligned and 128 at 256 px wild with the numba and the PyTorch backends (ICT
head when $FACEBENCH_ICT_PATH is set, else procedural) and stores / compares every output array (image, seg,
2D and 3D landmarks, visibility) exactly. Prints one line per case and exits non-zero on any difference.
"""
import sys
from pathlib import Path

import numpy as np

from facebench.render.source import RenderSource
from facebench.render.spec import DatasetSpec

CASES = [(backend, size, framing) for backend in ("numba", "torch") for size, framing in ((112, "aligned"),
                                                                                        (256, "wild"))]
FIELDS = ("image", "seg", "ldmk2d", "ldmk_visible", "ldmk3d")


def render(backend: str, size: int, framing: str, n: int = 128) -> dict[str, np.ndarray]:
    spec = DatasetSpec(width=32, depth=4, seed=3)
    src = RenderSource(spec, size, framing, backend=backend)
    out = src.render(np.arange(n), chunk=32)
    return {f: getattr(out, f).cpu().numpy() for f in FIELDS} | {"head": np.array(src.head.name)}


def main(mode: str, folder: str) -> int:
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    bad = 0
    for case in CASES:
        name = "{}_{}_{}".format(*case)
        arrays = render(*case)
        path = root / f"{name}.npz"
        if mode == "save":
            np.savez_compressed(path, **arrays)
            print(f"{name}: saved ({arrays['head']})", flush=True)
            continue
        ref = np.load(path)
        diff = [f for f in FIELDS if not np.array_equal(ref[f], arrays[f])]
        bad += bool(diff)
        print(f"{name}: {'IDENTICAL' if not diff else 'DIFFERS in ' + ', '.join(diff)} ({arrays['head']})", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
