import numpy as np
import pytest
import torch

from datamodules.readers.images import DatasetError
from datamodules.readers.landmark_sets import PtsFolder, read_aflw2000, read_pts, read_wflw_list
from facebench.metrics.landmarks import yaw_bin
from facebench.labels import FS70_FLIP, IBUG68_FLIP, WFLW98_TO_IBUG68
from facebench.landmarks_ops import (apply_affine, decode_heatmaps, fan_crop_transform, flip_points, heatmaps,
                                     invert_affine, rescale_affine)
from facebench.metrics.landmarks import LandmarkNME, auc, failure_rate, nme, normaliser

PTS = "version: 1\nn_points:  3\n{\n1 2\n3.5 4\n10 20\n}\n"


def test_pts_reader_is_zero_based(tmp_path):
    p = tmp_path / "a.pts"
    p.write_text(PTS)
    assert read_pts(p).tolist() == [[0, 1], [2.5, 3], [9, 19]]


@pytest.mark.parametrize("text,msg", [
    ("version: 1\nn_points:  4\n{\n1 2\n3 4\n5 6\n}\n", "n_points is 4 but 3 points"),
    ("version: 1\nn_points:  3\n1 2\n3 4\n5 6\n}\n", "unexpected header line"),
    ("version: 1\nn_points:  3\n{\n1 2\n3 4\n5 6\n", "missing closing brace"),
    ("version: 1\nn_points:  3\n{\n1 2\nthree 4\n5 6\n}\n", r"bad.pts:5: expected 'x y'"),
    ("version: 1\n{\n1 2\n}\n", "no 'n_points:' header"),
])
def test_pts_reader_errors_name_the_file(tmp_path, text, msg):
    p = tmp_path / "bad.pts"
    p.write_text(text)
    with pytest.raises(DatasetError, match=msg):
        read_pts(p)


def test_300w_fixture(fixtures_dir):
    ds = PtsFolder(fixtures_dir / "300w")
    s = ds.sample(0)
    assert s.points.shape == (68, 2)
    raw = (fixtures_dir / "300w" / "breakingbad.pts").read_text().splitlines()[3].split()
    assert np.allclose(s.points[0], [float(raw[0]) - 1, float(raw[1]) - 1])
    # Anatomy: the subject's right eye (36-41) is on the image's left; the chin (8) below the nose tip (30).
    assert s.points[36:42, 0].mean() < s.points[42:48, 0].mean() and s.points[8, 1] > s.points[30, 1]


def test_aflw2000_fixture(fixtures_dir):
    s = read_aflw2000(fixtures_dir / "aflw2000_3d" / "image00050.mat")
    assert s.points.shape == (68, 2) and s.meta["pts3d"].shape == (68, 3)
    assert abs(s.meta["yaw_deg"] - np.degrees(1.6389934e-02)) < 1e-4 and yaw_bin(s.meta["yaw_deg"]) == "[0,30)"
    assert yaw_bin(-45) == "[30,60)" and yaw_bin(75) == "[60,90]"


def test_wflw_list(tmp_path):
    pts = np.arange(196, dtype=np.float32)
    line = " ".join(f"{v:.1f}" for v in pts) + " 1 2 30 40 1 0 0 1 0 1 sub/img.jpg"
    p = tmp_path / "list_98pt_rect_attr_test.txt"
    p.write_text(line + "\n")
    (path, points, box, attrs), = read_wflw_list(p)
    assert points.shape == (98, 2) and points[1].tolist() == [2, 3] and box.tolist() == [1, 2, 30, 40]
    assert attrs == {"pose": True, "expression": False, "illumination": False, "make-up": True,
                     "occlusion": False, "blur": True}
    p.write_text(line.replace(" sub/img.jpg", "") + "\n")
    with pytest.raises(DatasetError, match="test.txt:1: expected 207 fields"):
        read_wflw_list(p)


def test_wflw_to_68_table_picks_the_right_landmarks():
    t = WFLW98_TO_IBUG68
    assert t[:17] == list(range(0, 33, 2)) and t[36] == 60 and t[45] == 72 and t[30] == 54 and t[48] == 76
    assert len(set(t)) == 68


def test_flip_permutation_round_trip_and_sides():
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 100, (68, 2))
    assert np.allclose(flip_points(flip_points(pts, 100, IBUG68_FLIP), 100, IBUG68_FLIP), pts)
    # After a flip, the new right eye (36-41) holds the mirrored old left eye (42-47) and stays on the left.
    face = np.zeros((68, 2))
    face[36:42, 0], face[42:48, 0] = 30, 70
    f = flip_points(face, 100, IBUG68_FLIP)
    assert (f[36:42, 0] == 29).all() and (f[42:48, 0] == 69).all()
    assert FS70_FLIP[68] == 69 and sorted(FS70_FLIP) == list(range(70))


def test_heatmap_round_trip_within_a_quarter_pixel():
    rng = np.random.default_rng(1)
    pts = torch.tensor(rng.uniform(2, 61, (4, 68, 2)))
    dec = decode_heatmaps(heatmaps(pts, 64, 1.0))
    assert (dec - pts).abs().max() <= 0.25 + 1e-9
    # Exactly on a pixel: decoded exactly.
    on = torch.tensor([[[10.0, 20.0]]])
    assert torch.equal(decode_heatmaps(heatmaps(on)), on)


def test_fan_crop_round_trip_and_centre():
    box = (100, 50, 300, 290)
    M = fan_crop_transform(box)
    pts = np.array([[150.0, 80.0], [200.0, 170.0 - 0.12 * 240]])
    back = apply_affine(invert_affine(M), apply_affine(M, pts))
    assert np.allclose(back, pts)
    # The shifted box centre maps to the crop centre; the side 200 * (w + h) / 195 maps onto 256 px.
    assert np.allclose(apply_affine(M, pts[1:]), [[127.5, 127.5]])
    assert np.isclose(M[0, 0], 256 / (200 * 440 / 195))
    H = rescale_affine(M, 256, 64)
    assert np.allclose(apply_affine(H, pts[1:]), [[31.5, 31.5]])


def test_nme_auc_failure_hand_computed():
    gt = torch.zeros(2, 68, 2, dtype=torch.float64)
    gt[:, 36] = torch.tensor([0.0, 0.0])
    gt[:, 45] = torch.tensor([100.0, 0.0])
    gt[:, 8] = torch.tensor([50.0, 100.0])  # landmark box 100 x 100
    assert torch.allclose(normaliser(gt, "inter_ocular"), torch.tensor([100.0, 100.0], dtype=torch.float64))
    assert torch.allclose(normaliser(gt, "box"), torch.tensor([100.0, 100.0], dtype=torch.float64))
    pred = gt.clone()
    pred[0] += torch.tensor([3.0, 4.0])  # every point off by 5 px -> NME 0.05
    pred[1, :34] += torch.tensor([6.0, 8.0])  # half the points off by 10 px -> NME 0.05
    e = nme(pred, gt, "inter_ocular")
    assert torch.allclose(e, torch.tensor([0.05, 0.05], dtype=torch.float64))
    e = torch.tensor([0.01, 0.03, 0.08], dtype=torch.float64)
    # AUC@7 = mean(max(0, .07 - e)) / .07 = (0.06 + 0.04 + 0) / 3 / 0.07
    assert abs(auc(e, 0.07) - (0.10 / 3 / 0.07)) < 1e-9
    assert failure_rate(e, 0.07) == pytest.approx(1 / 3)
    m = LandmarkNME("inter_ocular")
    m.update(pred, gt)
    r = m.compute()
    assert abs(r["nme"].item() - 0.05) < 1e-6 and r["fr@7"].item() == 0.0


def test_crop_heatmap_decode_inverse_recovers_points(fixtures_dir):
    from datamodules.datasets.landmark_crops import crop_sample

    s = PtsFolder(fixtures_dir / "300w").sample(0)
    x, pts_hm, pts_img, hm_to_img, _, _ = crop_sample(s.image, s.points.astype(np.float64), None)
    assert x.shape == (3, 256, 256) and torch.allclose(pts_img, torch.from_numpy(s.points))
    dec = decode_heatmaps(heatmaps(pts_hm[None].double()))[0].float()
    back = dec @ hm_to_img[:, :2].T + hm_to_img[:, 2]
    px_per_hm = float(torch.linalg.norm(hm_to_img[:, 0]))  # image pixels per heatmap pixel
    assert (back - pts_img).abs().max() <= 0.25 * px_per_hm + 1e-3


def test_augmented_crop_keeps_points_on_the_face(fixtures_dir):
    from datamodules.datasets.landmark_crops import crop_sample

    s = PtsFolder(fixtures_dir / "300w").sample(1)
    for seed in range(5):
        rng = np.random.default_rng(seed)
        x, pts_hm, _, _, _, _ = crop_sample(s.image, s.points.astype(np.float64), rng, box_noise=0.2, rotation=30, scale=0.3,
                                      flip=True)
        inside = ((pts_hm >= 0) & (pts_hm < 64)).all(1).float().mean()
        assert inside >= 0.8 and ((pts_hm[30] >= 0) & (pts_hm[30] < 64)).all()  # a few jaw points may leave
        # Whatever the flip, the right eye (36-41) stays on the image's left of the left eye (42-47).
        assert pts_hm[36:42, 0].mean() < pts_hm[42:48, 0].mean()
    # Per-sample seeding: the same generator state gives the same crop, photometric part included; the
    # photometric part changes pixels, never points.
    kw = dict(box_noise=0.2, rotation=30, scale=0.3, flip=True)
    a = crop_sample(s.image, s.points.astype(np.float64), np.random.default_rng(7), **kw)
    b = crop_sample(s.image, s.points.astype(np.float64), np.random.default_rng(7), **kw)
    c = crop_sample(s.image, s.points.astype(np.float64), np.random.default_rng(7), colour=False, **kw)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], c[1]) and not torch.equal(a[0], c[0])


def test_resolution_ablation_expresses_truth_in_the_downscaled_image(fixtures_dir):
    from datamodules.datasets.landmark_crops import LandmarkSetDataset

    full = LandmarkSetDataset(str(fixtures_dir / "300w"))
    small = LandmarkSetDataset(str(fixtures_dir / "300w"), face_px=30)
    p_full = full[0].points_img
    x, p_hm, p_small, m, _, _ = small[0]
    extent = (p_small.max(0).values - p_small.min(0).values).max()
    assert abs(extent - 30) < 1.0 and x.shape == (3, 256, 256)
    # Heatmap points map back onto the downscaled truth through the returned inverse.
    assert torch.allclose(p_hm @ m[:, :2].T + m[:, 2], p_small, atol=1e-3)
    noisy = LandmarkSetDataset(str(fixtures_dir / "300w"), box_noise=0.3)
    first, again = noisy[0][1], noisy[0][1]  # two separate reads: the noise is seeded per image, not global
    assert not torch.allclose(first, full[0][1]) and torch.equal(first, again)


def test_wflw_list_in_the_release_layout_serves_68_points(wflw_release):
    from datamodules.datasets.landmark_crops import LandmarkSetDataset

    path, pts68 = wflw_release
    ds = LandmarkSetDataset(str(path))
    assert len(ds) == 1 and ds.attributes(0)["expression"] and ds.attributes(0)["occlusion"]
    np.testing.assert_allclose(ds[0][2].numpy(), pts68, atol=1e-3)


def test_soft_argmax_of_gaussians_and_of_a_flat_map():
    from facebench.landmarks_ops import soft_argmax

    on_grid = torch.tensor([[[20.0, 41.0], [33.0, 12.0]]])
    assert torch.allclose(soft_argmax(heatmaps(on_grid, 64, 1.0), beta=50.0), on_grid, atol=1e-3)
    # Off the grid, beta 50 makes it (almost) the hard argmax: the nearest pixel, never further than half a pixel.
    off = torch.tensor([[[20.3, 40.7]]])
    assert (soft_argmax(heatmaps(off, 64, 1.0)) - off).abs().max() <= 0.5
    # A flat map: the centre of the grid (pixel centres 0..63).
    assert torch.allclose(soft_argmax(torch.zeros(1, 1, 64, 64)), torch.full((1, 1, 2), 31.5))


def test_coordinate_loss_is_added_and_differentiable():
    from facebench.models.fan import FAN
    from facebench.tasks.landmarks import LandmarkModule

    torch.manual_seed(0)
    x, pts = torch.randn(2, 3, 256, 256), torch.rand(2, 68, 2) * 60
    plain = LandmarkModule(FAN(1, 16), sigma=2.0)
    aux = LandmarkModule(FAN(1, 16), sigma=2.0, coord_weight=0.5)
    aux.load_state_dict(plain.state_dict())
    plain.log = aux.log = lambda *a, **k: None
    from datamodules.batches import LandmarkBatch

    batch = LandmarkBatch(x, pts, pts, torch.zeros(2, 2, 3), torch.zeros(2, 0))
    l0, l1 = plain.training_step(batch, 0), aux.training_step(batch, 0)
    assert l1 > l0
    l1.backward()
    assert aux.net.heads[0].weight.grad.abs().sum() > 0
