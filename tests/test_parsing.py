"""Face parsing: metrics against hand-computed confusion matrices, class tables and side conventions, readers
on the published layouts (fixtures and files written here in those layouts), crops, flips and models."""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from conftest import train_smoke
from facebench.errors import ConfigError, DatasetError


# --- metrics -----------------------------------------------------------------------------------------------------
def test_confusion_and_scores_by_hand():
    from facebench.metrics.parsing import ParsingConfusion, parsing_scores

    # 3 classes; two images; 255 pixels are ignored.
    gt1 = torch.tensor([[0, 0, 1, 1], [2, 2, 255, 1]])
    pr1 = torch.tensor([[0, 1, 1, 1], [2, 0, 2, 1]])
    gt2 = torch.tensor([[2, 2, 2, 0]])
    pr2 = torch.tensor([[2, 2, 1, 0]])
    m = ParsingConfusion(3)
    m.update(pr1[None], gt1[None])
    m.update(pr2[None], gt2[None])
    conf = m.compute()
    # rows = ground truth, columns = prediction, counted by hand over the 11 labelled pixels:
    # gt 0: (0,0)->0, (0,1)->1, image 2 last ->0; gt 1: three pixels ->1;
    # gt 2: (1,0)->2, (1,1)->0, image 2: 2, 2, 1
    expected = torch.tensor([[2, 1, 0], [0, 3, 0], [1, 1, 3]])
    assert torch.equal(conf, expected)
    r = parsing_scores(conf, ("a", "b", "c"), mean_classes=[1, 2], overall_classes=[1, 2])
    # F1 = 2TP / (pred + gt): b: 2*3/(5+3) = 0.75; c: 2*3/(3+5) = 0.75; a: 2*2/(3+3) = 2/3
    assert r["f1"] == pytest.approx({"a": 2 / 3, "b": 0.75, "c": 0.75})
    assert r["mean_f1"] == pytest.approx(0.75)
    # pooled b+c: 2*(3+3) / ((5+3) + (3+5)) = 0.75
    assert r["overall_f1"] == pytest.approx(0.75)
    # IoU a: 2/(3+3-2) = .5; b: 3/(5+3-3) = .6; c: 3/(3+5-3) = .6
    assert r["miou"] == pytest.approx((0.5 + 0.6 + 0.6) / 3)
    assert r["pixel_accuracy"] == pytest.approx(8 / 11)


def test_pooled_f1_differs_from_mean_and_absent_class_is_left_out():
    from facebench.metrics.parsing import parsing_scores

    conf = torch.tensor([[10, 0, 0, 0], [0, 1, 1, 0], [0, 0, 8, 0], [0, 0, 0, 0]])
    r = parsing_scores(conf, ("bg", "x", "y", "z"), mean_classes=[1, 2, 3], overall_classes=[1, 2])
    # x: 2*1/(1+2) = 2/3; y: 2*8/(9+8) = 16/17; z: in neither -> NaN, not averaged
    assert np.isnan(r["f1"]["z"]) and r["mean_classes"] == ["x", "y"]
    assert r["mean_f1"] == pytest.approx((2 / 3 + 16 / 17) / 2)
    assert r["overall_f1"] == pytest.approx(2 * 9 / (10 + 10))  # pooled: 2*(1+8)/((1+9)+(2+8))


def test_confusion_refuses_out_of_range_labels():
    from facebench.metrics.parsing import ParsingConfusion

    with pytest.raises(ValueError, match="outside"):
        ParsingConfusion(3).update(torch.zeros(1, 2, 2, dtype=torch.long), torch.full((1, 2, 2), 3))


# --- class sets and tables ------------------------------------------------------------------------------------------
def test_tables_cross_sides_and_merge():
    from facebench.labels import SEG
    from facebench.parsing_classes import mapping

    fs_helen = mapping("facesynthetics19", "helen11")
    helen = fs_helen.target
    # FaceSynthetics names sides from the viewer: its RIGHT_EYE is the subject's left eye.
    assert fs_helen.lut[SEG["RIGHT_EYE"]] == helen.index("left_eye")
    assert fs_helen.lut[SEG["LEFT_BROW"]] == helen.index("right_brow")
    assert fs_helen.lut[SEG["NECK"]] == helen.index("background")
    lab = np.array([[SEG["RIGHT_EYE"], 255], [SEG["BEARD"], SEG["MOUTH_INTERIOR"]]], np.uint8)
    assert fs_helen.labels(lab).tolist() == [[helen.index("left_eye"), 255], [helen.index("skin"),
                                                                            helen.index("inner_mouth")]]
    m = fs_helen.matrix()
    assert m.shape == (19, 11) and torch.equal(m.sum(1), torch.ones(19))
    # Classes nothing maps to are not in the shared set (CelebAMask-HQ's earrings, necklace).
    shared = mapping("facesynthetics19", "celebamask19").shared
    names = [mapping("facesynthetics19", "celebamask19").target.classes[i] for i in shared]
    assert "ear_r" not in names and "neck_l" not in names and "background" not in names and "eye_g" in names
    with pytest.raises(ConfigError, match="no class table from helen11 to facesynthetics19"):
        mapping("helen11", "facesynthetics19")


def test_celebamask_sides_are_the_subjects(fixtures_dir):
    """The table's claim, checked on the files: CelebAMask-HQ's l_eye / l_brow lie on the image's right."""
    from datamodules.readers.parsing_sets import open_parsing_set

    for layout in ("official", "palette"):
        ds = open_parsing_set(fixtures_dir / "celebamask_hq" / layout)
        for i in range(len(ds)):
            lab = ds.sample(i).label
            for left, right in ((4, 5), (6, 7)):
                assert np.nonzero(lab == left)[1].mean() > np.nonzero(lab == right)[1].mean()


# --- readers ------------------------------------------------------------------------------------------------------
def test_celebamask_fixtures_read_indices_not_colours(fixtures_dir):
    from datamodules.readers.parsing_sets import open_parsing_set

    pal = open_parsing_set(fixtures_dir / "celebamask_hq" / "palette")
    p = fixtures_dir / "celebamask_hq" / "palette" / "masks" / (pal.ids[0] + ".png")
    assert cv2.imread(str(p), cv2.IMREAD_UNCHANGED).ndim == 3  # OpenCV sees the palette's colours
    s = pal.sample(0)
    assert s.label.ndim == 2 and set(np.unique(s.label)) <= set(range(19)) and len(np.unique(s.label)) > 8
    off = open_parsing_set(fixtures_dir / "celebamask_hq" / "official")
    s = off.sample(0)
    raw = cv2.imread(str(fixtures_dir / "celebamask_hq" / "official" / "0.png"), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(s.label, raw) and s.image.shape == (512, 512, 3)  # 1024 px image brought to its label
    assert off.classes.name == "celebamask19" and off.kind == "celebamask_hq"


def _png(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), arr)


def _image(path: Path, h=20, w=24, seed=0) -> None:
    _png(path, np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8))


def test_helen_multi_map_argmax_lists_and_single_map(tmp_path):
    from datamodules.readers.parsing_sets import open_parsing_set

    root = tmp_path / "helen"
    truth = np.random.default_rng(1).integers(0, 11, (20, 24)).astype(np.uint8)
    for sid in ("111_1", "222_1", "333_1"):
        _image(root / "images" / f"{sid}.jpg")
        for c in range(11):  # soft maps: the true class 200, the others below
            soft = np.where(truth == c, 200, (c * 7) % 150).astype(np.uint8)
            _png(root / "labels" / sid / f"{sid}_lbl{c:02d}.png", soft)
    (root / "exemplars.txt").write_text("1 , 111_1\n2 , 222_1\n")
    (root / "tuning.txt").write_text("1 , 333_1\n")
    (root / "testing.txt").write_text("1 , 333_1\n")
    train = open_parsing_set(root, "train")
    assert train.ids == ["111_1", "222_1"] and train.name == "helen_train"
    assert np.array_equal(train.sample(0).label, truth)
    assert open_parsing_set(root, "test").ids == ["333_1"]
    (root / "labels" / "222_1" / "222_1_lbl07.png").unlink()
    with pytest.raises(DatasetError, match="222_1_lbl07.png: label map missing"):
        train.sample(1)
    # the single-map variant
    single = tmp_path / "helen_single"
    _image(single / "images" / "a.jpg")
    _png(single / "labels" / "a.png", truth)
    assert np.array_equal(open_parsing_set(single).sample(0).label, truth)
    _png(single / "labels" / "a.png", np.full((20, 24), 11, np.uint8))
    with pytest.raises(DatasetError, match=r"a.png: class ids \[11\] out of range for helen11"):
        open_parsing_set(single).sample(0)


def _lapa(root: Path, n_points: int = 106):
    pts = np.random.default_rng(2).uniform(2, 18, (n_points, 2))
    for split in ("train", "val", "test"):
        _image(root / split / "images" / "x1.jpg")
        _png(root / split / "labels" / "x1.png", np.full((20, 24), 10, np.uint8))
        (root / split / "landmarks").mkdir(parents=True, exist_ok=True)
        (root / split / "landmarks" / "x1.txt").write_text(f"{n_points}\n" + "".join(f"{x} {y}\n" for x, y in pts))
    return pts


def test_lapa_splits_landmarks_and_errors(tmp_path, capsys):
    from datamodules.readers.parsing_sets import open_parsing_set
    from facebench.check import main as check_main

    pts = _lapa(tmp_path / "LaPa")
    ds = open_parsing_set(tmp_path / "LaPa", "val")
    s = ds.sample(0)
    assert ds.name == "LaPa_val" and ds.classes.name == "lapa11"
    assert np.allclose(s.points, pts, atol=1e-5) and (s.label == 10).all()
    assert open_parsing_set(tmp_path / "LaPa" / "test").name == "LaPa_test"  # a split folder on its own
    with pytest.raises(DatasetError, match="LaPa root: choose a split"):
        open_parsing_set(tmp_path / "LaPa")
    _png(tmp_path / "LaPa" / "test" / "labels" / "x1.png", np.zeros((10, 24), np.uint8))
    (tmp_path / "LaPa" / "val" / "landmarks" / "x1.txt").write_text("98\n1 2\n")
    assert check_main([str(tmp_path / "LaPa")]) == 1
    out = capsys.readouterr().out
    assert "format parsing_set" in out and "layout: lapa" in out
    assert "test/labels/x1.png: label map 24x10 differs from its image 24x20" in out
    assert "val/landmarks/x1.txt: expected 106 points" in out


def test_celebamask_release_parts_overlap_order_and_split(tmp_path):
    from datamodules.readers.parsing_sets import open_parsing_set

    root = tmp_path / "CelebAMask-HQ"
    for n in (0, 1, 2):
        _image(root / "CelebA-HQ-img" / f"{n}.jpg", 16, 16)
    anno = root / "CelebAMask-HQ-mask-anno" / "0"
    skin = np.zeros((8, 8), np.uint8)
    skin[2:6, 2:6] = 255
    nose = np.zeros((8, 8), np.uint8)
    nose[3:5, 3:8] = 255  # overlaps skin; nose comes later in the painting order and wins
    for n in (0, 1):
        _png(anno / f"{n:05d}_skin.png", skin)
        _png(anno / f"{n:05d}_nose.png", np.dstack([nose] * 3))  # part masks may be stored as RGB
    (root / "CelebA-HQ-to-CelebA-mapping.txt").write_text(
        "idx         orig_idx    orig_file\n0 1000 001001.jpg\n1 170000 170001.jpg\n2 190000 190001.jpg\n")
    train = open_parsing_set(root, "train")
    assert train.ids == ["0"]
    s = train.sample(0)
    expected = np.zeros((8, 8), np.uint8)
    expected[2:6, 2:6] = 1
    expected[3:5, 3:8] = 2
    assert np.array_equal(s.label, expected) and s.image.shape == (8, 8, 3)
    assert open_parsing_set(root, "val").ids == ["1"]
    with pytest.raises(DatasetError, match="no part masks 00002_<part>.png"):
        open_parsing_set(root, "test").sample(0)


def test_parsing_sets_are_not_identity_or_other_kinds(tmp_path, fixtures_dir):
    from datamodules.readers.formats import detect_format

    _lapa(tmp_path / "LaPa")
    assert detect_format(tmp_path / "LaPa").name == "parsing_set"
    assert detect_format(fixtures_dir / "celebamask_hq" / "official").name == "parsing_set"
    assert detect_format(fixtures_dir / "facesynthetics").name == "facesynthetics"


# --- crops, flips, mapping back ----------------------------------------------------------------------------------------
def _sample():
    from datamodules.readers.parsing_sets import ParsingSample

    h, w = 60, 80
    lab = np.zeros((h, w), np.uint8)
    lab[10:50, 15:65] = 1  # skin
    lab[20:28, 20:35] = 4  # CelebAMask-HQ l_eye (4) on the image's left
    lab[20:28, 45:60] = 5  # r_eye (5) on the right
    img = np.dstack([lab * 40] * 3).astype(np.uint8)
    return ParsingSample(img, lab, None, "t")


def test_crop_labels_follow_the_image_and_flip_swaps_sides():
    from datamodules.datasets.parsing_crops import crop_parsing
    from facebench.landmarks_ops import apply_affine
    from facebench.parsing_classes import CELEBAMASK19

    s = _sample()
    plain = crop_parsing(s, CELEBAMASK19, 64, 1.5)
    lab = plain.label.numpy()
    # every crop pixel's label is the image label at the pixel crop_to_img sends it to
    ys, xs = np.nonzero(lab != 255)
    src = np.rint(apply_affine(plain.crop_to_img.numpy(), np.stack([xs, ys], 1).astype(np.float64))).astype(int)
    agree = (s.label[src[:, 1].clip(0, 59), src[:, 0].clip(0, 79)] == lab[ys, xs]).mean()
    assert agree > 0.97
    assert np.nonzero(lab == 4)[1].mean() < np.nonzero(lab == 5)[1].mean()
    flip_only = {"scale": 0.0, "shift": 0.0, "rotation": 0.0, "flip": True}
    for seed in range(20):  # the first generator that draws a flip
        rng = np.random.default_rng(seed)
        probe = np.random.default_rng(seed)
        probe.uniform(0, 0), probe.uniform(0, 0, 2), probe.uniform(0, 0)
        if probe.uniform() < 0.5:
            break
    flipped = crop_parsing(s, CELEBAMASK19, 64, 1.5, rng, flip_only)
    fl = flipped.label.numpy()
    # mirrored geometry; the eye that was the left one (4) is, mirrored, the mirror face's right one (5)
    mirrored = lab[:, ::-1]
    assert np.array_equal(fl != 255, mirrored != 255) and np.array_equal(fl == 1, mirrored == 1)
    assert np.array_equal(fl == 5, mirrored == 4) and np.array_equal(fl == 4, mirrored == 5)


def test_predictions_warp_back_to_the_original_image():
    """A crop's exact one-hot labels, warped back as eval does, reproduce the image's labels inside the crop."""
    from datamodules.datasets.device_ops import warp_batch
    from datamodules.datasets.parsing_crops import crop_parsing
    from facebench.landmarks_ops import invert_affine
    from facebench.parsing_classes import CELEBAMASK19

    s = _sample()
    item = crop_parsing(s, CELEBAMASK19, 128, 1.2)
    onehot = torch.nn.functional.one_hot(item.label.clamp(max=18), 19).permute(2, 0, 1).float()[None]
    M = torch.from_numpy(invert_affine(item.crop_to_img.numpy())).float()[None]
    back = warp_batch(onehot, M, s.label.shape).argmax(1)[0].numpy()
    inside = warp_batch(torch.ones(1, 1, 128, 128), M, s.label.shape)[0, 0].numpy() > 0.99
    assert inside.mean() > 0.5 and (back[inside] == s.label[inside]).mean() > 0.97


def test_render_crops_on_device_match_the_workers(procedural_head):
    from datamodules.datasets.parsing_crops import RenderParsingDataset
    from facebench.render.settings import RenderSettings
    from facebench.render.spec import DatasetSpec

    rs = RenderSettings(head="procedural", ict_path=None, supersample=1)
    aug = {"scale": 0.15, "shift": 0.08, "rotation": 15.0, "flip": True}
    cpu = RenderParsingDataset(DatasetSpec(width=4, depth=1, seed=3), 64, 64, rs, aug).__getitems__([0, 1, 2, 3])
    dev = RenderParsingDataset(DatasetSpec(width=4, depth=1, seed=3), 64, 64, rs, aug).render_batch(torch.arange(4))
    assert torch.equal(dev.label, torch.stack([c.label for c in cpu]))
    assert torch.allclose(dev.crop_to_img, torch.stack([c.crop_to_img for c in cpu]), atol=1e-5)
    assert (dev.label == 255).float().mean() < 0.2 and len(dev.label.unique()) > 6


# --- models and the module ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["unet", "bisenet"])
def test_parsers_give_logits_at_input_resolution(name):
    from facebench.models.bisenet import BiSeNet
    from facebench.models.unet_resnet import UNetResNet

    net = (UNetResNet if name == "unet" else BiSeNet)(num_classes=11, width=8, depths=(1, 1, 1, 1))
    x = torch.randn(2, 3, 64, 64)
    assert net.eval()(x).shape == (2, 11, 64, 64)
    train_out = net.train()(x)
    assert (len(train_out) == 3 and all(t.shape == (2, 11, 64, 64) for t in train_out)) if name == "bisenet" \
        else train_out.shape == (2, 11, 64, 64)


def test_flip_test_swaps_left_and_right_channels():
    from facebench.tasks.parsing import ParsingModule

    class Fixed(torch.nn.Module):
        """Ignores the image: class 3 (viewer's right eye) on the image's left half, class 4 on the right."""

        def __init__(self, num_classes):
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            out = torch.zeros(x.shape[0], 19, *x.shape[-2:])
            out[:, 3, :, : x.shape[-1] // 2] = 5
            out[:, 4, :, x.shape[-1] // 2:] = 5
            return out

    m = ParsingModule(Fixed, "facesynthetics19")
    x = torch.randn(1, 3, 8, 8)
    plain, flipped = m.predict_probs(x, flip_test=False), m.predict_probs(x, flip_test=True)
    # a mirrored image's output, flipped back with the left/right channels swapped, agrees with the plain one
    assert torch.equal(plain.argmax(1), flipped.argmax(1)) and torch.allclose(plain, flipped)


# --- the eval command, end to end -------------------------------------------------------------------------------------
def _train(tmp, name, extra):
    return train_smoke(tmp, [f"experiment={name}", "data.batch_size=2", "data.n_train=4", "data.standin_size=2",
                             "data.size=64", "data.render_size=64", *extra])


def test_eval_parsing_with_and_without_adaptation(tmp_path, fixtures_dir, capsys):
    from facebench.eval import ParsingEvalConfig, parsing

    parser = _train(tmp_path / "parser", "fakeit/parsing_render",
                    ["data.val_render=2", "model.net.width=8", "model.net.depths=[1,1,1,1]"])
    adapter = _train(tmp_path / "adapter", "fakeit/label_adaptation", [f"parser_from={parser}", "data.val_render=0"])
    sheet = tmp_path / "sheet.png"
    common = dict(checkpoint=str(parser), workers=0, batch=2, render_faces=3, head="procedural")
    out = parsing(ParsingEvalConfig(data="standin", adapter=str(adapter), sheet=str(sheet), **common))
    text = capsys.readouterr().out
    assert "standin_helen11: 3 images, helen11 labels" in text and "through the table facesynthetics19->helen11" in text
    assert "| class | without adaptation (table) | with adaptation |" in text and "| overall F1" in text
    assert cv2.imread(str(sheet)).shape[0] > 3 * 100
    # the parser's column does not depend on the adapter being there
    alone = parsing(ParsingEvalConfig(data="standin", sheet=str(sheet), **common))
    assert alone["parser"]["f1"] == pytest.approx(out["parser"]["f1"], nan_ok=True)
    # a real-format set in another class set goes through its table too
    cel = parsing(ParsingEvalConfig(data=str(fixtures_dir / "celebamask_hq" / "palette"), sheet=str(sheet), **common))
    assert cel["classes"] == "celebamask19" and cel["images"] == 3 and "ear_r" not in cel["parser"]["mean_classes"]


def test_label_adapter_starts_at_the_class_table():
    from functools import partial

    from facebench.models.unet_resnet import UNetResNet
    from facebench.parsing_classes import mapping
    from facebench.tasks.parsing import ParsingAdapterModule, ParsingModule, map_probs

    torch.manual_seed(0)
    parser = ParsingModule(partial(UNetResNet, width=8, depths=(1, 1, 1, 1)), "facesynthetics19").eval()
    adapter = ParsingAdapterModule(parser, partial(UNetResNet, width=8, depths=(1, 1, 1)), "helen11").eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        table = map_probs(parser.predict_probs(x), mapping("facesynthetics19", "helen11"))
        adapted = adapter.predict_probs(x)
    assert torch.allclose(adapted, table / table.sum(1, keepdim=True), atol=1e-4)  # before any training
    assert all(not p.requires_grad for p in adapter.parser.parameters())
