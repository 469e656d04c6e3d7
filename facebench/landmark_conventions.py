"""2D-FAN and 3D-FAN landmark conventions, and landmark depth for 2D-to-3D-FAN.

The render's landmarks are projections of 3D points: 3D-FAN's convention, where a jaw point on the far
side of a turned head stays where its 3D point projects, hidden behind the cheek. 2D sets (300-W and its
family) annotate the jaw contour on the visible face silhouette instead. :func:`contour_to_2d` converts
the first into the second by landmark marching in the image: every self-occluded jaw point moves along
its image row, toward the side the face is turned to, to the face's silhouette (the 2D analogue of the
3D marching along horizontal lines that 300W-LP's labels come from).

Coordinates are image pixels, centres at integers; the segmentation uses FaceSynthetics ids.
"""
from __future__ import annotations

import numpy as np

from facebench.labels import SEG

JAW = tuple(range(17))
NOSE_TIP = 30
# Classes whose outline is the face silhouette a 2D annotator follows (not ears, neck, hair, headwear).
FACE_SILHOUETTE_CLASSES = tuple(SEG[c] for c in (
    "SKIN", "NOSE", "RIGHT_EYE", "LEFT_EYE", "RIGHT_BROW", "LEFT_BROW", "MOUTH_INTERIOR", "TOP_LIP",
    "BOTTOM_LIP", "BEARD", "GLASSES", "FACEWEAR"))


def contour_to_2d(pts: np.ndarray, visible: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """iBUG 68 (or FaceSynthetics 70) points in the 3D convention -> the 2D convention.

    pts (N >= 68, 2) image pixels; visible (N,) bool (False = hidden by the head itself); seg (H, W)
    FaceSynthetics ids. Only self-occluded jaw points move; a point whose pixel is not on the face (hidden
    behind an ear or outside the image) stays where it is. The moved point sits on the outer edge of the
    last face pixel of its row (half a pixel beyond that pixel's centre). The side the face is turned to is
    where the nose tip lies relative to the midpoint of the two jaw ends (points 0 and 16).
    """
    out = np.array(pts, dtype=np.float64, copy=True)
    face = np.isin(seg, FACE_SILHOUETTE_CLASSES)
    h, w = face.shape
    step = 1 if out[NOSE_TIP, 0] > (out[0, 0] + out[16, 0]) / 2 else -1
    for j in JAW:
        if visible[j]:
            continue
        x, y = out[j]
        xi, yi = int(round(x)), int(round(y))
        if not (0 <= yi < h and 0 <= xi < w) or not face[yi, xi]:
            continue
        row = face[yi, xi::step] if step > 0 else face[yi, xi::-1]
        off = np.flatnonzero(~row)
        last = (off[0] - 1) if off.size else (row.size - 1)  # pixels from xi to the last face pixel
        out[j, 0] = xi + step * (last + 0.5)
    return out.astype(pts.dtype)


def depth_in_pixels(pts2d: np.ndarray, pts3d: np.ndarray) -> np.ndarray:
    """Depth of each landmark in the image's pixel scale (N,), positive toward the camera, zero-mean.

    pts3d are the render's posed-head-frame points (metres; +X image right at yaw 0, +Y up, +Z toward the
    camera). The metres-to-pixels scale is that of the least-squares similarity from (X, -Y) to the 2D
    projections (Umeyama; rotation-free, so the framing's in-plane rotation does not shrink it), so the
    depth is in the same units as x and y (up to the camera's small perspective).
    """
    q = np.stack([pts3d[:, 0], -pts3d[:, 1]], 1).astype(np.float64)
    p = pts2d.astype(np.float64)
    qc, pc = q - q.mean(0), p - p.mean(0)
    sv = np.linalg.svd(qc.T @ pc, compute_uv=False)
    s = float(sv.sum() / (qc * qc).sum())
    z = pts3d[:, 2].astype(np.float64)
    return s * (z - z.mean())
