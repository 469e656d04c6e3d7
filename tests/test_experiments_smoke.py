"""Every experiment config composes and trains in smoke mode (a few CPU batches, CSV logger)."""
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from facebench.run import train

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "facebench" / "conf"
EXPERIMENTS = sorted(p.relative_to(ROOT / "experiments").with_suffix("").as_posix()
                     for p in (ROOT / "experiments").rglob("*.yaml"))
# supersample=1: a smoke run checks wiring, not anti-aliasing (renders are a quarter of the work)
COMMON = ["trainer=smoke", "trainer.max_epochs=1", "logger=csv", "data.num_workers=0", "data.head=procedural",
          "data.supersample=1"]
SMOKE = {  # per experiment family: tiny data and models
    "synface": ["data.batch_size=8", "data.width=8", "data.depth=4", "data.val_pairs=20", "data.val_identities=10",
                "data.real_width=4", "data.real_depth=4"],
    "fan": ["data.batch_size=2", "data.n_train=8", "data.val_render=4", "data.render_size=96", "model.net.width=32",
            "model.net.stacks=1"],
    "expression": ["data.batch_size=2", "data.n_train=4", "data.val_render=2", "data.standin_size=2", "data.size=48",
                   "data.render_size=64", "model=expression_tiny"],
    # GAN modules step two optimisers per batch and Lightning counts both: 4 steps = the smoke's 2 batches
    "derl": ["trainer.max_steps=4", "data.batch_size=2", "data.n_train=4", "data.val_render=2", "data.standin_size=2", "data.size=32",
             "data.render_size=64"],
    "vec2face": ["data.batch_size=8", "data.width=4", "data.depth=2", "data.val_pairs=20", "data.val_identities=10"],
    "gan": ["data.batch_size=8", "data.width=4", "data.depth=2", "data.val_pairs=20", "data.val_identities=10",
            "data.real_width=4", "data.real_depth=2"],
    "fakeit": ["data.batch_size=2", "data.n_train=4", "data.val_render=2", "data.standin_size=2", "data.size=64",
               "data.render_size=64"],
}


# The generator's training: its CPU size, and 4 steps (two optimisers, both counted) to reach validation.
VEC2FACE_TINY = ["model=vec2face_tiny", "trainer.max_steps=4"]
GAN_TINY = ["model=identity_gan_tiny", "trainer.max_steps=4"]


def _run(name, out, extra=()):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=[f"experiment={name}", *COMMON, *SMOKE[name.split("/")[0]], *extra])
    cfg.output_dir = str(out)
    return train(cfg)


@pytest.fixture(scope="module")
def baseline_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("baseline")
    _run("synface/render_baseline", out)
    return out / "checkpoints" / "last.ckpt"


def test_there_are_experiments():
    assert {"synface/render_baseline", "synface/identity_mixup", "synface/domain_mixup"} <= set(EXPERIMENTS)


@pytest.fixture(scope="module")
def parser_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("parser")
    _run("fakeit/parsing_render", out, ["model.net.width=8", "model.net.depths=[1,1,1,1]"])
    return out / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="module")
def expression_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("expression")
    _run("expression/render_classifier", out)
    return out / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="module")
def derl_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("derl")
    _run("derl/gan_render", out)
    return out / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="module")
def vec2face_checkpoint(tmp_path_factory, baseline_checkpoint):
    out = tmp_path_factory.mktemp("vec2face")
    _run("vec2face/train_render", out, [f"recognizer_from={baseline_checkpoint}", *VEC2FACE_TINY])
    return out / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="module")
def gan_checkpoint(tmp_path_factory, baseline_checkpoint):
    out = tmp_path_factory.mktemp("gan")
    _run("gan/train_render", out, [f"recognizer_from={baseline_checkpoint}", *GAN_TINY])
    return out / "checkpoints" / "last.ckpt"


def _extra(name, request) -> list[str]:
    """Paths an experiment requires: a trained model to start from, a dataset on disk."""
    if name == "synface/finetune_real":
        return [f"init_from={request.getfixturevalue('baseline_checkpoint')}"]
    if name == "fakeit/label_adaptation":
        return [f"parser_from={request.getfixturevalue('parser_checkpoint')}", "data.val_render=0"]
    if name == "expression/finetune_real":
        return [f"init_from={request.getfixturevalue('expression_checkpoint')}"]
    if name == "derl/residue_render":
        return [f"generator_from={request.getfixturevalue('derl_checkpoint')}"]
    if name == "vec2face/train_render":
        return [f"recognizer_from={request.getfixturevalue('baseline_checkpoint')}", *VEC2FACE_TINY]
    if name.startswith("vec2face/"):  # recognition on faces of a Vec2Face generator trained in the suite
        return [f"data.generator_path={request.getfixturevalue('vec2face_checkpoint')}", "trainer.max_steps=2"]
    if name.startswith("gan/"):
        return [f"recognizer_from={request.getfixturevalue('baseline_checkpoint')}", *GAN_TINY]
    if name.startswith("synface/gan_"):  # recognition on faces of the GAN trained in the suite; the smoke
        # recognizer's features hardly separate identities, so the minimum-distance rule is relaxed
        return [f"data.generator_path={request.getfixturevalue('gan_checkpoint')}", "trainer.max_steps=2",
                "data.generator_threshold=1.0"]
    if name == "fakeit/facesynthetics_release":
        return [f"data.train_path={request.getfixturevalue('fixtures_dir') / 'facesynthetics'}"]
    return []


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_smoke(name, tmp_path, request):
    metrics = _run(name, tmp_path, _extra(name, request))
    assert (tmp_path / "csv" / "metrics.csv").is_file()
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    # every experiment validated (its metric names by task)
    assert any(k.startswith("val/") and (k.endswith(("/acc", "/mean_f1", "/l1", "/id_cos")) or "nme_" in k)
               for k in metrics), sorted(metrics)
    if name == "fakeit/label_adaptation":  # both sides of the comparison, and the epoch selected on validation
        assert {"val/standin_helen11/mean_f1", "val/standin_helen11/mean_f1_table"} <= set(metrics)
        assert (tmp_path / "checkpoints" / "best.ckpt").is_file()
    if name.endswith("domain_mixup"):
        assert "train/dm_lambda" in (tmp_path / "csv" / "metrics.csv").read_text()


def test_typo_in_override_fails_clearly():
    from hydra.errors import ConfigCompositionException

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        with pytest.raises(ConfigCompositionException, match="datta"):
            compose("config", overrides=["datta.width=3"])


def test_sweep_experiments_define_their_grid():
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=["experiment=synface/width_depth"], return_hydra_config=True)
    assert cfg.hydra.sweeper.params["data.width"] == "50,100,200"


def test_eval_vec2face_on_the_smoke_generator(vec2face_checkpoint, tmp_path, capsys):
    """facebench.eval vec2face on the generator the vec2face smoke run trained (recognizer: its frozen one)."""
    import cv2

    from facebench.eval import Vec2FaceEvalConfig, vec2face

    sheet = tmp_path / "sheet.png"
    out = vec2face(Vec2FaceEvalConfig(checkpoint=str(vec2face_checkpoint), data="generated", identities=3, depth=2,
                                      sheet=str(sheet), batch=4))
    text = capsys.readouterr().out
    assert "6 faces (3 x 2)" in text and -1 <= out["identity_cosine"] <= 1 and out["identities"] == 3
    assert cv2.imread(str(sheet)).shape == (3 * 112, 2 * 112, 3)


def test_eval_gan_on_the_smoke_generator(gan_checkpoint, tmp_path, capsys):
    """facebench.eval gan on the generator the gan smoke run trained: identity cosine, separability, leakage
    against the training identities in its bank (the smoke run saw 4 identities), a sheet of 3 x 2 faces."""
    import cv2

    from facebench.eval import GanEvalConfig, gan

    sheet = tmp_path / "sheet.png"
    out = gan(GanEvalConfig(checkpoint=str(gan_checkpoint), data="generated", identities=3, depth=2,
                            sheet=str(sheet), batch=4, threshold=1.0))
    text = capsys.readouterr().out
    assert "6 faces (3 x 2)" in text and "against 4 training identities" in text
    assert -1 <= out["identity_cosine"] <= 1 and 0 <= out["leakage"] <= 1 and out["identities"] == 3
    assert cv2.imread(str(sheet)).shape == (3 * 112, 2 * 112, 3)


@pytest.fixture()
def tiny_identity_folders(tmp_path):
    """3 identities x 2 random 112x112 PNG images in identity folders."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(0)
    for k in range(3):
        (tmp_path / "ids" / f"{k:06d}").mkdir(parents=True)
        for j in range(2):
            cv2.imwrite(str(tmp_path / "ids" / f"{k:06d}" / f"{j:04d}.png"),
                        rng.integers(0, 256, (112, 112, 3), np.uint8))
    return tmp_path / "ids"


def test_gan_attributes_from_an_encoded_pool(gan_checkpoint, tiny_identity_folders):
    """Attributes encoded from a pool of faces on disk (identity folders) instead of prior draws: every face's
    attribute code is one of the pool's encoder means."""
    import numpy as np
    import torch

    from facebench.render.spec import DatasetSpec
    from facebench.sources.gan import GanSource

    src = GanSource(gan_checkpoint, DatasetSpec(width=2, depth=3, seed=0), threshold=1.0,
                    attribute_pool=tiny_identity_folders)
    assert src.pool.shape[0] == 6 and "attributes from a pool of 6 encoded faces" in src.describe()
    codes = src.factors(np.arange(6))[0]["attribute"]
    assert all(any(torch.equal(c, p) for p in src.pool) for c in codes)


def test_identity_centres_feed_the_pca_samplers(baseline_checkpoint, gan_checkpoint, tiny_identity_folders,
                                                 tmp_path):
    """eval centres: the mean raw backbone feature per identity (checked against the backbone run by hand);
    the GAN source fits its identity sampler to the file."""
    import cv2
    import numpy as np
    import torch

    from facebench.eval import CentresConfig, centres, load_model
    from facebench.render.spec import DatasetSpec
    from facebench.sources.gan import GanSource

    out = centres(CentresConfig(checkpoint=str(baseline_checkpoint), data=str(tiny_identity_folders),
                                out=str(tmp_path / "c.npy"), workers=0, device="cpu"))
    c = np.load(out)
    model = load_model(baseline_checkpoint)
    img = [cv2.cvtColor(cv2.imread(str(tiny_identity_folders / "000001" / f"000{j}.png")), cv2.COLOR_BGR2RGB)
           for j in range(2)]
    x = torch.from_numpy(np.stack(img)).permute(0, 3, 1, 2).float() / 127.5 - 1
    with torch.no_grad():
        want = model.backbone(x).mean(0).numpy()
    assert c.shape == (3, 128) and np.allclose(c[1], want, atol=1e-4)
    src = GanSource(gan_checkpoint, DatasetSpec(width=2, depth=1), threshold=1.0, reference_features=out)
    assert "a PCA Gaussian of c.npy's features" in src.describe()
