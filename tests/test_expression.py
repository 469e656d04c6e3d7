"""Expression: metrics by hand, readers on the published files (fixtures and files written here in the
published layouts), label tables, folds, render factor edits, and the eval command end to end."""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from conftest import train_smoke
from facebench.errors import DatasetError
from facebench.expression_classes import SUITE


def test_metrics_by_hand():
    from facebench.metrics.expression import (ExpressionConfusion, accuracy, mean_class_accuracy, mean_std,
                                              per_class_accuracy)

    m = ExpressionConfusion(3)
    m.update(torch.tensor([0, 0, 1, 2, 2, 2]), torch.tensor([0, 1, 1, 2, 2, 0]))
    conf = m.compute()
    assert conf.tolist() == [[1, 0, 1], [1, 1, 0], [0, 0, 2]]
    assert accuracy(conf) == pytest.approx(4 / 6)
    assert per_class_accuracy(conf).tolist() == pytest.approx([0.5, 0.5, 1.0])
    assert mean_class_accuracy(conf) == pytest.approx(2 / 3)
    # a class absent from the ground truth does not enter the mean
    m.update(torch.tensor([1]), torch.tensor([2]))
    assert mean_class_accuracy(torch.tensor([[2, 0, 0], [0, 0, 0], [0, 1, 1]])) == pytest.approx((1 + 0.5) / 2)
    assert mean_std([0.8, 0.9, 1.0]) == pytest.approx((0.9, np.sqrt(2 / 300)))


def test_fer2013_csv_fixture_and_bad_rows(fixtures_dir, tmp_path):
    from datamodules.readers.expression_sets import open_expression_set

    path = fixtures_dir / "fer2013" / "csv" / "fer2013.csv"
    ds = open_expression_set(path)
    # rows: emotion 0 (Angry), 0, 2 (Fear), 4 (Sad) -> the suite's ids
    assert ds.labels == [SUITE["anger"], SUITE["anger"], SUITE["fear"], SUITE["sad"]]
    s = ds.sample(0)
    first = [int(v) for v in path.read_text().splitlines()[1].split(",")[1].split()[:3]]
    assert s.image.shape == (48, 48, 3) and s.image[0, :3, 0].tolist() == first
    assert len(open_expression_set(path, "train")) == 4 and len(open_expression_set(path, "test")) == 0
    lines = path.read_text().splitlines()
    bad = tmp_path / "fer2013.csv"
    bad.write_text("\n".join([lines[0], lines[1], "3," + " ".join(["1"] * 2303) + ",Training"]) + "\n")
    with pytest.raises(DatasetError, match=r"fer2013.csv:3: 2303 pixel values, expected 2304"):
        open_expression_set(bad)
    bad.write_text("\n".join([lines[0], "7" + lines[1][1:]]) + "\n")
    with pytest.raises(DatasetError, match=r"fer2013.csv:2: emotion 7 outside 0-6"):
        open_expression_set(bad)


def test_folder_layouts_ckplus48_subjects_and_folds(fixtures_dir, tmp_path):
    from datamodules.readers.expression_sets import open_expression_set, subject_folds

    fer = open_expression_set(fixtures_dir / "fer2013" / "folders", "test")
    assert fer.name == "folders_test" and len(fer) == 15
    with pytest.raises(DatasetError, match="choose a split"):
        open_expression_set(fixtures_dir / "fer2013" / "folders")
    ck = open_expression_set(fixtures_dir / "ckplus48")
    assert len(ck) == 18 and ck.excluded == {"contempt": 3}
    assert sorted(set(ck.subjects)) == ["S005", "S010", "S011"]
    assert ck.labels.count(SUITE["sad"]) == 3 and SUITE["neutral"] not in ck.labels
    folds = subject_folds(ck.subjects, 3)  # subjects sorted: S005 -> 0, S010 -> 1, S011 -> 2
    assert {s: f for s, f in zip(ck.subjects, folds)} == {"S005": 0, "S010": 1, "S011": 2}
    with pytest.raises(DatasetError, match="3 subjects cannot fill 10"):
        subject_folds(ck.subjects, 10)
    odd = tmp_path / "odd"
    for c in ("happy", "sad", "bored"):
        (odd / c).mkdir(parents=True)
        cv2.imwrite(str(odd / c / "a.png"), np.zeros((8, 8), np.uint8))
    with pytest.raises(DatasetError, match=r"odd: unknown class folder\(s\) \['bored'\]"):
        open_expression_set(odd)


def test_rafdb_and_affectnet_label_lists(fixtures_dir):
    from datamodules.readers.expression_sets import open_expression_set

    raf = open_expression_set(fixtures_dir / "rafdb")
    first = (fixtures_dir / "rafdb" / "EmoLabel" / "list_patition_label.txt").read_text().split()
    assert first[:2] == ["train_00001.jpg", "5"] and raf.labels[0] == SUITE["sad"]  # RAF-DB 5 = Sadness
    assert raf.items[0].where.endswith("Image/aligned/train_00001_aligned.jpg")
    assert len(open_expression_set(fixtures_dir / "rafdb", "train")) + len(
        open_expression_set(fixtures_dir / "rafdb", "test")) == len(raf)
    with pytest.raises(DatasetError, match="no validation split"):
        open_expression_set(fixtures_dir / "rafdb", "val")
    csv = fixtures_dir / "affectnet" / "test.csv"
    a7 = open_expression_set(csv)
    a8 = open_expression_set(csv, num_classes=8)
    # the fixture's rows: expression 7 (Contempt) -> excluded in the 7-class setting, class 7 in the 8-class one
    assert a7.excluded.get("contempt", 0) >= 1 and 7 in a8.labels and a8.classes[7] == "contempt"
    assert a8.items[a8.labels.index(7)].box == (147.0, 147.0, 147.0 + 981, 147.0 + 981)


def _png(path: Path, value: int, size=(40, 40)):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full(size, value, np.uint8))


def test_ckplus_sequences_pairs_and_jaffe(tmp_path):
    from datamodules.readers.expression_sets import open_expression_set

    ck = tmp_path / "CK+"
    for subj, seq, code in (("S005", "001", 3), ("S010", "002", 2), ("S011", "004", 7)):
        for f in (1, 2, 3):
            _png(ck / "cohn-kanade-images" / subj / seq / f"{subj}_{seq}_{f:08d}.png", 10 * f)
        e = ck / "Emotion" / subj / seq / f"{subj}_{seq}_00000003_emotion.txt"
        e.parent.mkdir(parents=True)
        e.write_text(f"   {code:.7e}\n")
    ds = open_expression_set(ck)
    # disgust (3) and surprise (7) peaks with their first frames as neutral; contempt (2) excluded
    assert ds.labels == [SUITE["disgust"], SUITE["neutral"], SUITE["surprise"], SUITE["neutral"]]
    assert ds.excluded == {"contempt": 1} and ds.pairs == [(0, 1), (2, 3)]
    assert ds.items[1].where.endswith("S005_001_00000001.png") and ds.subjects == ["S005", "S005", "S011", "S011"]
    (ck / "Emotion" / "S011" / "004" / "S011_004_00000003_emotion.txt").write_text("9\n")
    with pytest.raises(DatasetError, match="S011_004_00000003_emotion.txt: emotion code 9 outside 0-7"):
        open_expression_set(ck)

    jaffe = tmp_path / "jaffe"
    for name in ("KA.AN1.39", "KA.NE1.26", "KM.HA2.5", "KM.NE3.1"):
        _png(jaffe / f"{name}.tiff", 100)
    js = open_expression_set(jaffe)
    assert js.labels == [SUITE["anger"], SUITE["neutral"], SUITE["happy"], SUITE["neutral"]]
    assert js.subjects == ["KA", "KA", "KM", "KM"] and js.pairs == [(0, 1), (2, 3)]
    _png(jaffe / "KA.XX1.40.tiff", 100)
    with pytest.raises(DatasetError, match="KA.XX1.40.tiff: unknown expression code XX"):
        open_expression_set(jaffe)


def test_expression_set_dataset_pairs_and_fold_roles(tmp_path, fixtures_dir):
    from datamodules.datasets.expression_faces import ExpressionSetDataset

    val = ExpressionSetDataset(str(fixtures_dir / "ckplus48"), "all", 32, grey=True, folds=3, fold=1)
    train = ExpressionSetDataset(str(fixtures_dir / "ckplus48"), "all", 32, grey=True, folds=3, fold=1,
                                 fold_role="train")
    assert set(val.subjects()) == {"S010"} and set(train.subjects()) == {"S005", "S011"}
    item = val[0]
    assert item.image.shape == (1, 32, 32) and -1 <= item.image.min() and item.image.max() <= 1
    from facebench.errors import ConfigError

    with pytest.raises(ConfigError, match="no \\(expressive, neutral\\) pairs"):
        ExpressionSetDataset(str(fixtures_dir / "ckplus48"), "all", 32, pairs=True)


def test_neutral_twin_keeps_everything_but_the_expression(procedural_head):
    from datamodules.datasets.expression_faces import ExpressionEdit
    from facebench.render.source import RenderSource
    from facebench.render.spec import DatasetSpec

    src = RenderSource(DatasetSpec(width=6, depth=1, seed=4), size=48, head="procedural")
    f = src.factors(np.arange(6))
    n = ExpressionEdit(neutral=True)(f)
    assert (n.expression == 0).all() and (n.expr_weights == 0).all() and (n.facewear == 0).all()
    assert torch.equal(n.pose, f.pose) and torch.equal(n.sh, f.sh) and torch.equal(n.id_shape, f.id_shape)
    fr = ExpressionEdit(pose_scale=0.0, intensity=0.5, fixed_light=True)(f)
    assert (fr.pose == 0).all() and torch.allclose(fr.expr_weights, (f.expr_weights * 0.5))
    assert torch.equal(fr.sh[0], fr.sh[5]) and torch.equal(fr.expression, f.expression)
    # rendered: the twin differs from the expressive face (where the expression is not neutral already)
    a = src.render(np.arange(6), factor_edit=ExpressionEdit()).image
    b = src.render(np.arange(6), factor_edit=ExpressionEdit(neutral=True)).image
    moved = (a - b).abs().flatten(1).amax(1) > 0.05
    assert torch.equal(moved, f.expression != 0) or moved[f.expression != 0].all()


def test_eval_expression_end_to_end(tmp_path, fixtures_dir, capsys):
    from facebench.eval import ExpressionEvalConfig, expression

    ckpt = train_smoke(tmp_path / "run", ["experiment=expression/render_fer48", "data.batch_size=2", "data.n_train=4",
                                          "data.val_render=2", "data.standin_size=2", "data.render_size=64",
                                          "model=expression_tiny"])
    plot = tmp_path / "conf.png"
    out = expression(ExpressionEvalConfig(checkpoint=str(ckpt), data=str(fixtures_dir / "ckplus48"), folds=3,
                                          confusion=str(plot), workers=0, batch=4))
    text = capsys.readouterr().out
    assert "ckplus48: 18 images, 7 classes (excluded: contempt 3)" in text and "3 subject-disjoint folds" in text
    conf_m = torch.tensor(out["confusion"])
    assert conf_m.sum() == 18 and out["acc"] == pytest.approx(float(conf_m.diag().sum()) / 18)
    # the fold accuracies are those of the fold's subjects (S005: 3 images, S010: 9, S011: 6), so they average back
    assert sum(a * n for a, n in zip(out["fold_acc"], (3, 9, 6))) / 18 == pytest.approx(out["acc"])
    assert cv2.imread(str(plot)) is not None and "| true (rows), predicted (columns) |" in text


def test_eval_derl_scores_generated_neutral_faces(tmp_path, capsys):
    from facebench.eval import DerlEvalConfig, derl

    train_smoke(tmp_path / "gan", ["experiment=derl/gan_render", "trainer.max_steps=2", "data.batch_size=2",
                                   "data.n_train=4", "data.val_render=2", "data.size=32", "data.render_size=64"])
    sheet = tmp_path / "derl.png"
    out = derl(DerlEvalConfig(checkpoint=str(tmp_path / "gan" / "checkpoints" / "last.ckpt"), data="render",
                              render_faces=3, sheet=str(sheet), workers=0, batch=2))
    text = capsys.readouterr().out
    assert out["pairs"] == 3 and "render_heldout: 3 (expressive, neutral) pairs, 32px" in text
    assert 0 < out["l1_generated"] < 2 and 0 <= out["l1_copy_input"] < 2
    img = cv2.imread(str(sheet))
    assert img.shape == (3 * 64, 3 * 64, 3)  # 3 rows of input | generated | true neutral, drawn at 2x
