"""2D vs 3D landmark conventions (landmark marching) and 2D-to-3D-FAN depth targets."""
from facebench.render.settings import RenderSettings
import numpy as np
import pytest
import torch

from facebench.labels import IBUG68_FLIP, SEG
from facebench.landmark_conventions import FACE_SILHOUETTE_CLASSES, contour_to_2d, depth_in_pixels
from facebench.metrics.landmarks import LandmarkDepthError


def _toy():
    seg = np.zeros((20, 40), np.uint8)
    seg[:, 5:25] = SEG["SKIN"]
    seg[:, 25:30] = SEG["HAIR"]  # hair beyond the cheek is not the face silhouette
    pts = np.full((68, 2), 10.0)
    pts[30] = (12.0, 10.0)  # nose tip
    pts[0], pts[16] = (6.0, 10.0), (22.0, 10.0)  # jaw ends: midpoint 14 -> the face turns to image left
    vis = np.ones(68, bool)
    return seg, pts, vis


def test_hidden_jaw_point_marches_to_the_silhouette_edge():
    seg, pts, vis = _toy()
    pts[14], pts[2], pts[5], pts[20] = (20.0, 8.0), (7.2, 11.0), (22.0, 3.0), (21.0, 4.0)
    vis[[14, 2, 20]] = False  # 5 is visible; 20 is not a jaw point
    out = contour_to_2d(pts, vis, seg)
    assert out[14].tolist() == [4.5, 8.0]    # marches to the left silhouette: first skin column 5, edge -0.5
    assert out[2].tolist() == [4.5, 11.0]
    assert out[5].tolist() == [22.0, 3.0] and out[20].tolist() == [21.0, 4.0]
    untouched = np.setdiff1d(np.arange(68), [14, 2])
    np.testing.assert_array_equal(out[untouched], pts[untouched])
    pts[30] = (16.0, 10.0)  # nose right of the jaw midpoint: the face turns to image right
    out = contour_to_2d(pts, vis, seg)
    assert out[14].tolist() == [24.5, 8.0] and out[2].tolist() == [24.5, 11.0]  # last skin column 24, +0.5


def test_hidden_point_off_the_face_stays():
    seg, pts, vis = _toy()
    pts[14] = (27.0, 8.0)  # on hair
    vis[14] = False
    assert contour_to_2d(pts, vis, seg)[14].tolist() == [27.0, 8.0]


def test_marching_on_a_turned_render_lands_on_the_face_boundary(procedural_head):
    from facebench.render.scene.factors import FACTOR_GROUPS, sample_factors
    from facebench.render.renderer import FaceRenderer

    fac = sample_factors(3, range(2), range(2), frozenset(FACTOR_GROUPS), procedural_head.num_identity)
    fac.pose[:] = torch.tensor([55.0, 0.0, 0.0])
    fac.glasses.zero_(); fac.facewear.zero_(); fac.beard.zero_()
    out = FaceRenderer(procedural_head).render(fac, 224, "wild")
    for k in range(2):
        p3, vis, seg = out.ldmk2d[k, :68].numpy(), out.ldmk_visible[k, :68].numpy(), out.seg[k].numpy()
        p2 = contour_to_2d(p3, vis, seg)
        moved = np.flatnonzero(np.abs(p2 - p3).sum(1) > 0)
        assert len(moved) >= 3 and set(moved) <= set(range(17)) and not vis[moved].any()
        face = np.isin(seg, FACE_SILHOUETTE_CLASSES)
        for j in moved:
            step = np.sign(p2[j, 0] - p3[j, 0])
            y, x_in, x_out = int(round(p2[j, 1])), int(p2[j, 0] - 0.5 * step), int(p2[j, 0] + 0.5 * step)
            assert face[y, x_in] and not face[y, x_out]
            # The yaw turns the face to the subject's left (image right): its left jaw hides, marching right.
            assert j >= 8 and step > 0


def test_depth_in_pixels_recovers_an_orthographic_depth():
    rng = np.random.default_rng(0)
    p3 = rng.normal(size=(68, 3)) * 0.05
    a = np.radians(30)
    R = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    q = p3 @ R.T
    pts2d = np.stack([q[:, 0], -q[:, 1]], 1) * 900 + (120, 130)  # 900 px per metre
    z = depth_in_pixels(pts2d, q)
    np.testing.assert_allclose(z, 900 * (q[:, 2] - q[:, 2].mean()), atol=1e-9)
    # The wild framing rotates the image in its plane: the depth scale must not change.
    b = np.radians(25)
    rot = np.array([[np.cos(b), -np.sin(b)], [np.sin(b), np.cos(b)]])
    np.testing.assert_allclose(depth_in_pixels(pts2d @ rot.T, q), z, atol=1e-9)


def test_crop_sample_scales_and_flips_depth():
    from datamodules.datasets.landmark_crops import HEATMAP, crop_sample

    rng = np.random.default_rng(1)
    pts = np.stack([rng.uniform(100, 200, 68), rng.uniform(120, 220, 68)], 1)
    img = np.zeros((300, 300, 3), np.uint8)
    z = rng.normal(size=68) * 20
    item = crop_sample(img, pts, None, depth=z)
    side = 200 * ((pts[:, 0].max() - pts[:, 0].min()) + (pts[:, 1].max() - pts[:, 1].min())) / 195
    np.testing.assert_allclose(item[4].numpy(), z * HEATMAP / side, rtol=1e-5)

    class FlipOnly:  # an rng whose draws give no noise, no rotation, and a flip
        def uniform(self, lo=0.0, hi=1.0, size=None):
            return np.zeros(size) if size else (0.0 if (lo, hi) != (0.0, 1.0) else 0.1)

    flipped = crop_sample(img, pts, FlipOnly(), flip=True, colour=False, depth=z)
    np.testing.assert_allclose(flipped[4].numpy(), (z * HEATMAP / side)[IBUG68_FLIP], rtol=1e-5)
    np.testing.assert_allclose(flipped[1][:, 0].numpy(), (HEATMAP - 1 - item[1][:, 0].numpy())[IBUG68_FLIP], atol=1e-4)


def test_depth_error_hand_computed():
    pts = torch.zeros(1, 68, 2)
    pts[0, :, 0] = torch.linspace(0, 40, 68)
    pts[0, :, 1] = torch.linspace(0, 10, 68)          # box 40 x 10 -> normaliser 20
    gt = torch.zeros(1, 68)
    pred = torch.full((1, 68), 7.0)                    # a constant offset is no error
    pred[0, :34] += 2.0
    pred[0, 34:] -= 2.0                                # mean-removed: +-2 everywhere
    m = LandmarkDepthError()
    m.update(pred, gt, pts)
    assert m.compute().item() == pytest.approx(2.0 / 20)


@pytest.fixture(scope="module")
def generated_wild(tmp_path_factory):
    from facebench.generate import GenerateConfig, generate

    out = tmp_path_factory.mktemp("wild")
    generate(GenerateConfig(out=str(out), n=4, width=4, depth=1, chunk=4, batch=4, size=128, framing="wild",
                            head="procedural", seed=3))
    return out


def test_generated_folder_serves_both_conventions_and_depth(generated_wild):
    from datamodules.datasets.landmark_crops import LandmarkSetDataset, RenderLandmarkDataset
    from facebench.render.spec import DatasetSpec

    d3 = LandmarkSetDataset(str(generated_wild), convention="3d", depth=True)
    d2 = LandmarkSetDataset(str(generated_wild), convention="2d")
    # The folder holds exactly what the on-the-fly render source serves for the same seed and indices.
    spec = DatasetSpec(width=4, depth=1, seed=3)
    live3 = RenderLandmarkDataset(spec, 128, RenderSettings("procedural"), None, "3d", True)
    live2 = RenderLandmarkDataset(spec, 128, RenderSettings("procedural"), None, "2d")
    for i in range(4):
        a, b, c3, c2 = d3[i], d2[i], live3[i], live2[i]
        assert a.has_depth and not b.has_depth
        # ldmks.txt stores 3 decimals; a marched point may land one row over, where the silhouette differs.
        np.testing.assert_allclose(b[2][17:].numpy(), c2[2][17:].numpy(), atol=2e-3)
        np.testing.assert_allclose(b[2][:17].numpy(), c2[2][:17].numpy(), atol=3)
        assert (np.abs(b[2][:17].numpy() - c2[2][:17].numpy()).max(1) < 2e-3).sum() >= 15
        # _meta.json keeps 3D points to 10 um and ldmks.txt 2D points to 1e-3 px: depths agree to a few 1e-3 px.
        np.testing.assert_allclose(a[4].numpy(), c3[4].numpy(), rtol=1e-3, atol=5e-3)
        assert d3.yaw(i) == pytest.approx(live3.yaw(i), abs=1e-3)
        moved = np.abs(a[2].numpy() - b[2].numpy()).sum(1) > 0
        assert set(np.flatnonzero(moved)) <= set(range(17))


def test_two_d_convention_without_meta_names_the_file(generated_wild, tmp_path):
    import shutil

    from datamodules.datasets.landmark_crops import LandmarkSetDataset

    bare = tmp_path / "bare"
    shutil.copytree(generated_wild, bare)
    (bare / "000001_meta.json").unlink()
    ds = LandmarkSetDataset(str(bare), convention="2d")
    ds[0]
    with pytest.raises(ValueError, match="000001_meta.json"):
        ds[1]


def test_depth_of_an_annotated_set_is_refused(fixtures_dir):
    from datamodules.datasets.landmark_crops import LandmarkSetDataset

    with pytest.raises(ValueError, match="depth"):
        LandmarkSetDataset(str(fixtures_dir / "300w"), depth=True)
    assert LandmarkSetDataset(str(fixtures_dir / "300w"), convention="2d").convention == "annotated"
