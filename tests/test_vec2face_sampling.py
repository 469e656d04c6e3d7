"""Vec2Face's generation recipe: identity sampling (rejection, PCA), the per-image sigma mix, and bounded AttrOP."""
import numpy as np
import pytest
import torch

from facebench.errors import ConfigError
from facebench.methods.vec2face_sampling import (fit_pca_gaussian, image_sigmas, image_vectors, sample_identities_pca,
                                                 sample_identities_rejection, sigma_counts)


def _max_cos(v):
    u = torch.nn.functional.normalize(v.double(), dim=1)
    c = u @ u.T
    c.fill_diagonal_(-1)
    return float(c.max())


def test_rejection_sampling_threshold_seed_and_bound():
    a = sample_identities_rejection(200, seed=1, dim=16, threshold=0.5)
    assert a.vectors.shape == (200, 16) and _max_cos(a.vectors) <= 0.5 and a.rejected == a.draws - 200 > 0
    assert torch.equal(a.vectors, sample_identities_rejection(200, seed=1, dim=16, threshold=0.5).vectors)
    assert not torch.equal(a.vectors, sample_identities_rejection(200, seed=2, dim=16, threshold=0.5).vectors)
    # in 2-d at most two directions can be 100 degrees apart or more: the sampler gives up after max_draws
    with pytest.raises(ConfigError, match=r"only \d of 5 identity vectors found with cosine <= -0.2 in 3000 draws"):
        sample_identities_rejection(5, dim=2, threshold=-0.2, max_draws=3000)


def test_pca_gaussian_matches_the_centres():
    rng = np.random.default_rng(0)
    axes = np.diag([5.0, 2.0, 0.5, 0.1])
    centres = torch.from_numpy(rng.standard_normal((4000, 4)) @ axes + np.array([10.0, 0, 0, 0]))
    fit = fit_pca_gaussian(centres, components=4)
    assert np.allclose(fit["mean"], [10, 0, 0, 0], atol=0.3) and np.allclose(fit["std"], [5, 2, 0.5, 0.1], rtol=0.06)
    s = sample_identities_pca(500, fit, seed=3, threshold=0.999999)
    x = s.vectors.double().numpy()
    assert np.allclose(x.mean(0), [10, 0, 0, 0], atol=0.6) and np.allclose(x.std(0), [5, 2, 0.5, 0.1], rtol=0.15)


@pytest.mark.parametrize("depth", [1, 2, 3, 7, 10, 50])
def test_sigma_mix_adds_up_for_any_depth(depth):
    counts = sigma_counts(depth)
    assert sum(counts) == depth and all(abs(c - s * depth) < 1 for c, s in zip(counts, (0.4, 0.4, 0.2)))
    sig = image_sigmas(5, depth, seed=0)
    assert [int((sig == s).sum()) for s in (0.3, 0.5, 0.7)] == counts


def test_image_vectors_are_keyed_by_identity_and_image():
    base = torch.randn(4, 512) * 1.3  # raw ArcFace-like features: norm about 30
    batch = image_vectors(base, [0, 1, 3, 3], [0, 2, 4, 9], depth=10, seed=7)
    alone = image_vectors(base, [3], [4], depth=10, seed=7)
    assert torch.equal(batch[2], alone[0])  # the same sample in any batch
    assert torch.allclose(batch.norm(dim=1), base[[0, 1, 3, 3]].norm(dim=1), rtol=1e-5)
    cos = torch.nn.functional.cosine_similarity(batch, base[[0, 1, 3, 3]], dim=1)
    # sigma 0.3-0.7 against a per-dimension spread of 1.3: cosines about 0.88-0.98
    assert (cos < 0.99).all() and (cos > 0.8).all()
    with pytest.raises(ConfigError, match="image 10 outside"):
        image_vectors(base, [0], [10], depth=10)


def test_attr_op_is_bounded_per_sample_and_reports():
    from types import SimpleNamespace

    from facebench.methods.attr_op import attr_op

    class Generator(torch.nn.Module):
        """A stand-in with the generator's interface: vectors -> 112 px images (no mask randomness)."""

        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(512, 3 * 8 * 8)

        def draw_masks(self, n, generator=None, device=None):
            return None

        def forward(self, v, draw=None):
            img = torch.nn.functional.interpolate(self.lin(v).view(-1, 3, 8, 8), size=112)
            return SimpleNamespace(image=img)

    torch.manual_seed(0)
    gen = Generator()
    proj = torch.nn.Linear(3 * 8 * 8, 512)
    fr = lambda img: proj(torch.nn.functional.avg_pool2d(img, 14).flatten(1))  # noqa: E731 - a stand-in recognizer
    v = torch.randn(3, 512)
    easy = attr_op(gen, v, fr, id_tol=2.0, max_steps=5)  # every sample accepted at once: vectors unchanged
    assert easy.failed == [] and easy.steps.tolist() == [0, 0, 0] and torch.equal(easy.vectors, v)
    hard = attr_op(gen, v, fr, id_tol=-1.0, max_steps=3, on_fail="keep")  # never reachable: stops at the cap
    assert hard.failed == [0, 1, 2] and hard.steps.tolist() == [3, 3, 3] and len(hard.kept) == 3
    assert not torch.equal(hard.vectors, v) and "0 of 3 samples met the target" in hard.report()
    dropped = attr_op(gen, v, fr, id_tol=-1.0, max_steps=2, on_fail="drop")
    assert len(dropped.kept) == 0 and dropped.images.shape[0] == 0
    retried = attr_op(gen, v, fr, id_tol=-1.0, max_steps=2, on_fail="retry", retries=2)
    assert retried.failed == [0, 1, 2]
    with pytest.raises(ConfigError, match="on_fail"):
        attr_op(gen, v, fr, on_fail="loop")


def test_vec2face_source_is_keyed_per_sample_and_generate_writes_identity_folders(tmp_path, monkeypatch):
    from facebench.generate import GenerateConfig, generate
    from facebench.models.vec2face import Vec2FaceGenerator
    from facebench.render.spec import DatasetSpec
    from facebench.sources import vec2face as source_mod

    torch.manual_seed(0)
    tiny = Vec2FaceGenerator.tiny(rep_dim=64, depth=1, decoder_depth=1)
    monkeypatch.setattr(source_mod, "load_generator", lambda path, head=None: tiny)
    ckpt = tmp_path / "gen.pth"  # the released file's layout (so generate knows the kind); weights: the patched loader's
    torch.save({"model_vec2face": {}}, ckpt)
    src = source_mod.Vec2FaceSource(ckpt, DatasetSpec(width=3, depth=5, seed=2))
    assert _max_cos(src.identities) <= 0.4 and src.identities.shape == (3, 64)
    whole = src.render(np.arange(15), chunk=15).image
    parts = torch.cat([src.render([7, 3], chunk=2).image, src.render([12], chunk=1).image])
    assert torch.allclose(whole[[7, 3, 12]], parts, atol=1e-4)  # the same face in any batch (to float rounding)
    out = generate(GenerateConfig(source="vec2face", checkpoint=str(ckpt), layout="identity_folders", n=15, depth=5,
                                  out=str(tmp_path / "ids"), seed=2, chunk=8, batch=8))
    folders = sorted(p.name for p in out.iterdir() if p.is_dir() and p.name != "manifest")
    assert folders == ["000000", "000001", "000002"] and len(list((out / "000001").glob("*.jpg"))) == 5
    again = generate(GenerateConfig(source="vec2face", checkpoint=str(ckpt), layout="identity_folders", n=15,
                                    depth=5, out=str(tmp_path / "ids"), seed=2, chunk=8, batch=8))
    assert again == out  # resumed: both chunks already done


def test_generate_with_attr_op_drops_the_samples_that_miss(tmp_path, monkeypatch, capsys):
    from types import SimpleNamespace

    from facebench import eval as eval_mod
    from facebench.generate import GenerateConfig, generate
    from facebench.models.vec2face import Vec2FaceGenerator
    from facebench.sources import vec2face as source_mod

    torch.manual_seed(0)
    tiny = Vec2FaceGenerator.tiny(rep_dim=64, depth=1, decoder_depth=1)
    monkeypatch.setattr(source_mod, "load_generator", lambda path, head=None: tiny)
    proj = torch.nn.Linear(3 * 8 * 8, 64)
    backbone = lambda img: proj(torch.nn.functional.avg_pool2d(img, 14).flatten(1))  # noqa: E731
    monkeypatch.setattr(eval_mod, "load_model", lambda path: SimpleNamespace(
        backbone=backbone, to=lambda d: SimpleNamespace(eval=lambda: SimpleNamespace(
            requires_grad_=lambda f: SimpleNamespace(backbone=backbone)))))
    ckpt = tmp_path / "gen.pth"
    torch.save({"model_vec2face": {}}, ckpt)
    # a quality target no face reaches: every sample misses and is dropped; nothing is written, nothing hangs
    out = generate(GenerateConfig(source="vec2face", checkpoint=str(ckpt), layout="identity_folders", n=4, depth=2,
                                  out=str(tmp_path / "ids"), chunk=4, batch=4, attr_op="rec.ckpt", attr_steps=2,
                                  attr_on_fail="drop"))
    assert not list(out.glob("*/*.jpg")) and "AttrOP: 0 of 4 faces met the target, 4 drop" in capsys.readouterr().out


def test_yaw_from_points_recovers_a_known_rotation():
    """68 points on a template face rotated by a known yaw about the vertical axis: the eye and mouth corners'
    axis gives the angle back (the other points do not matter)."""
    import math

    from facebench.methods.landmark_yaw import yaw_from_points

    pts = torch.zeros(68, 3)
    pts[36], pts[45], pts[48], pts[54] = (torch.tensor([-30.0, 0, 0]), torch.tensor([30.0, 0, 0]),
                                          torch.tensor([-20.0, 40, 5]), torch.tensor([20.0, 40, 5]))
    out = []
    for deg in (0.0, 25.0, -60.0):
        a = math.radians(deg)
        rot = torch.tensor([[math.cos(a), 0, -math.sin(a)], [0, 1, 0], [math.sin(a), 0, math.cos(a)]])
        out.append(pts @ rot.T)
    assert torch.allclose(yaw_from_points(torch.stack(out)), torch.tensor([0.0, 25.0, -60.0]), atol=1e-4)


def test_attr_op_pose_term_through_the_landmark_models():
    """AttrOP with the landmark yaw as its pose model (tiny untrained FAN and depth nets): the yaw is
    differentiable in the face, and the pose term takes part in acceptance (an unreachable yaw tolerance makes
    every sample fail within the step cap)."""
    from facebench.methods.attr_op import attr_op
    from facebench.methods.landmark_yaw import LandmarkYaw
    from facebench.models.fan import FAN, DepthFAN
    from facebench.models.vec2face import Vec2FaceGenerator
    from facebench.tasks.landmark_depth import LandmarkDepthModule
    from facebench.tasks.landmarks import LandmarkModule

    torch.manual_seed(0)
    fan = LandmarkModule(FAN(stacks=1, width=16))
    depth = LandmarkDepthModule(DepthFAN(stacks=1, width=16))
    yaw = LandmarkYaw(fan, depth)
    faces = torch.zeros(2, 3, 112, 112, requires_grad=True)
    yaw(faces).abs().sum().backward()
    assert faces.grad is not None and faces.grad.abs().sum() > 0
    g = Vec2FaceGenerator.tiny().eval()
    fr = lambda x: x.mean((2, 3)).repeat(1, 171)[:, :512]  # noqa: E731 - a stand-in recognizer, 512-d
    res = attr_op(g, torch.randn(2, 512), fr, pose_model=yaw, target_yaw=30.0, yaw_tol=-1.0, id_tol=2.0,
                  max_steps=2)
    assert res.failed == [0, 1] and res.steps.tolist() == [2, 2]
