"""Contact sheets of the render source: one row per identity, with a second grid of label overlays.

    python -m facebench.render.tools.contact_sheet head=ict out=results/render/contact_sheet.png
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from facebench.labels import NUM_SEG_CLASSES
from facebench.render.source import RenderSource
from facebench.render.spec import DatasetSpec

# A fixed colour per FaceSynthetics class (background black).
_PALETTE = np.array([[0, 0, 0], [224, 172, 140], [255, 128, 0], [0, 160, 255], [0, 255, 160], [140, 80, 40],
                     [80, 140, 40], [200, 0, 200], [120, 0, 255], [120, 0, 0], [255, 0, 80], [255, 80, 160],
                     [160, 160, 255], [90, 60, 20], [60, 40, 40], [0, 90, 200], [255, 255, 0], [0, 200, 0],
                     [230, 230, 230]], np.uint8)
assert len(_PALETTE) == NUM_SEG_CLASSES


@dataclass
class SheetConfig:
    head: str = "auto"
    ict_path: str = ""
    out: str = "results/render/contact_sheet.png"
    identities: int = 8
    per_identity: int = 8
    size: int = 112
    framing: str = "aligned"
    seed: int = 0
    # A factor (e.g. facewear, headwear, glasses): the sheet shows, in index order, the first samples of a
    # 2000-identity spec that have it (not one identity per row). Empty: every sample.
    only: str = ""


def overlay(img: np.ndarray, seg: np.ndarray, ldmk: np.ndarray, vis: np.ndarray) -> np.ndarray:
    """Blend the segmentation over the image and draw landmarks (green visible, red self-occluded)."""
    col = _PALETTE[np.minimum(seg, NUM_SEG_CLASSES - 1)]
    out = (0.45 * img + 0.55 * col).astype(np.uint8)
    for (x, y), v in zip(ldmk, vis):
        cv2.circle(out, (int(round(x)), int(round(y))), 1, (0, 255, 0) if v else (255, 0, 0), -1)
    return out


def sheet_indices(cfg: SheetConfig, src: RenderSource) -> np.ndarray:
    """The sample indices a sheet shows: all of the spec, or the first ones having ``cfg.only``."""
    n = cfg.identities * cfg.per_identity
    if not cfg.only:
        return np.arange(n)
    has = getattr(src.factors(np.arange(len(src.spec))), cfg.only).cpu().numpy() > 0
    indices = np.nonzero(has)[0][:n]
    if len(indices) < n:
        raise ValueError(f"only {len(indices)} of {len(src.spec)} samples have {cfg.only}; asked for {n}")
    return indices


def make_sheets(cfg: SheetConfig) -> tuple[Path, Path]:
    spec = DatasetSpec(width=2000 if cfg.only else cfg.identities, depth=cfg.per_identity, seed=cfg.seed)
    src = RenderSource(spec, size=cfg.size, framing=cfg.framing, head=cfg.head, ict_path=cfg.ict_path or None)
    indices = sheet_indices(cfg, src)
    r = src.render(indices, chunk=16)
    imgs = r.images_u8()
    ovl = np.stack([overlay(imgs[i], r.seg[i].numpy(), r.ldmk2d[i].numpy(), r.ldmk_visible[i].numpy())
                    for i in range(len(imgs))])

    def grid(a):
        s = cfg.size
        g = np.full((cfg.identities * (s + 2), cfg.per_identity * (s + 2), 3), 255, np.uint8)
        for i in range(len(a)):
            rr, cc = divmod(i, cfg.per_identity)
            g[rr * (s + 2):rr * (s + 2) + s, cc * (s + 2):cc * (s + 2) + s] = a[i]
        return g

    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(grid(imgs), cv2.COLOR_RGB2BGR))
    lab = out.with_name(out.stem + "_labels.png")
    cv2.imwrite(str(lab), cv2.cvtColor(grid(ovl), cv2.COLOR_RGB2BGR))
    print(f"wrote {out} and {lab} (head={src.head.name}, seed={cfg.seed}, samples {indices.tolist()})")
    return out, lab


def main(argv=None):
    from facebench.cli_args import parse

    make_sheets(parse(SheetConfig(), argv))


if __name__ == "__main__":
    main()
