"""The GAN source: external TorchScript generators by adapter (both call forms), keyed factor draws, the spec's
vary, Identity Mixup in the identity space, and facebench.generate source=gan."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from facebench.errors import ConfigError, DatasetError
from facebench.render.spec import DatasetSpec


class FactorExport(torch.nn.Module):
    """DiscoFaceGAN's call form; the image's first row spells out its inputs (x 0.01) so tests can read them."""

    def __init__(self):
        super().__init__()  # sizes as instance attributes: TorchScript keeps those
        self.identity_dim, self.expression_dim, self.pose_dim, self.light_dim, self.noise_dim = 6, 3, 2, 4, 5

    @torch.jit.export
    def generate(self, identity, expression, pose, light, noise):
        row = torch.cat([identity, expression, pose, light, noise], 1) * 0.01
        img = torch.zeros(identity.shape[0], 3, 112, 112)
        img[:, 0, 0, :row.shape[1]] = row
        return img


class FeatureExport(torch.nn.Module):
    """The identity-feature call form at 64x64 (the adapter resizes to 112): a constant image of the feature's
    first entry."""

    def __init__(self):
        super().__init__()
        self.identity_feature_dim, self.noise_dim = 8, 2

    @torch.jit.export
    def generate(self, identity_feature, noise):
        return identity_feature[:, :1, None, None].expand(-1, 3, 64, 64) * 0.5


class NoDims(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.identity_feature_dim = 8

    @torch.jit.export
    def generate(self, identity_feature, noise):
        return identity_feature[:, :1, None, None].expand(-1, 3, 112, 112)


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    d = tmp_path_factory.mktemp("exports")
    paths = {}
    for name, cls in (("factors", FactorExport), ("feature", FeatureExport), ("nodims", NoDims)):
        paths[name] = d / f"{name}.pt"
        torch.jit.script(cls()).save(str(paths[name]))
    return paths


def _inputs(img: torch.Tensor, n: int = 20) -> torch.Tensor:
    return img[:, 0, 0, :n] / 0.01


def test_torchscript_adapter_reads_the_call_form_and_factor_sizes(exports, tmp_path):
    from facebench.sources.external_generator import TorchScriptGenerator, is_torchscript

    g = TorchScriptGenerator(exports["factors"])
    assert g.factor_sizes == {"identity": 6, "expression": 3, "pose": 2, "light": 4, "noise": 5}
    assert g.identity_space == "coefficients"
    f = TorchScriptGenerator(exports["feature"])
    assert f.factor_sizes == {"identity_feature": 8, "noise": 2} and f.identity_space == "feature"
    img = f({"identity_feature": torch.full((2, 8), 0.4), "noise": torch.zeros(2, 2)})
    assert img.shape == (2, 3, 112, 112) and torch.allclose(img, torch.full_like(img, 0.2))  # resized 64 -> 112
    with pytest.raises(DatasetError, match="nodims.pt: the module needs a positive int attribute 'noise_dim'"):
        TorchScriptGenerator(exports["nodims"])
    plain = tmp_path / "plain.pt"
    torch.save({"state_dict": {}}, plain)
    assert is_torchscript(exports["factors"]) and not is_torchscript(plain)


def test_factor_draws_are_keyed_and_follow_vary(exports):
    from facebench.sources.gan import GanSource

    spec = DatasetSpec(width=4, depth=3, seed=5, vary="pose")
    src = GanSource(exports["factors"], spec, threshold=0.4)
    a = _inputs(src.render([1, 2, 4, 7]).image)
    b = _inputs(src.render([7, 4]).image)
    assert torch.allclose(a[[3, 2]], b, atol=1e-5)  # the same sample in any batch
    # samples 0-2 are identity 0: identity, expression and light fixed, pose and noise drawn per image
    x = _inputs(src.render([0, 1, 2]).image)
    ident, expr, pose, light, noise = x.split([6, 3, 2, 4, 5], 1)
    for fixed in (ident, expr, light):
        assert torch.allclose(fixed, fixed[:1].expand_as(fixed), atol=1e-5)
    for varying in (pose, noise):
        assert (varying[0] - varying[1]).abs().max() > 0.1
    # identities: pairwise cosine at most the threshold (the minimum-distance rule)
    c = torch.nn.functional.normalize(src.identities, dim=1)
    off = (c @ c.T)[~torch.eye(4, dtype=bool)]
    assert off.max() <= 0.4 + 1e-6
    assert "4 identities from N(0, I)" in src.describe() and "expression, light fixed per identity" in src.describe()


def test_identity_mixup_in_the_identity_space(exports):
    from facebench.sources.gan import GanSource

    spec = DatasetSpec(width=3, depth=2, seed=0)
    src = GanSource(exports["factors"], spec)
    partner, r = np.array([2, 1]), np.array([0.25, 1.0], np.float32)
    img = src.training_images([0, 3], partner, r, [0])
    ident = _inputs(img)[:, :6]
    want = 0.25 * src.identities[0] + 0.75 * src.identities[2]  # linear in DiscoFaceGAN's coefficients
    assert torch.allclose(ident[0], want, atol=1e-4) and torch.allclose(ident[1], src.identities[1], atol=1e-4)
    # identity features mix and renormalise to unit length
    fsrc = GanSource(exports["feature"], DatasetSpec(width=3, depth=2, seed=0))
    assert torch.allclose(fsrc.identities.norm(dim=1), torch.ones(3))
    img = fsrc.training_images([0], np.array([1]), np.array([0.5], np.float32), [0])
    mix = torch.nn.functional.normalize(0.5 * fsrc.identities[0] + 0.5 * fsrc.identities[1], dim=0)
    assert torch.allclose(img[0, 0, 5, 5], 0.5 * mix[0], atol=1e-4)


def test_entangled_attribute_refuses_a_partial_vary():
    from facebench.sources.gan import _varying

    assert _varying(["attribute"], ("expression", "pose", "illumination", "accessories", "camera")) == {"attribute": True}
    assert _varying(["attribute", "noise"], ()) == {"attribute": False, "noise": True}
    with pytest.raises(ConfigError, match="does not separate expression"):
        _varying(["attribute"], ("pose",))


def test_generate_source_gan_writes_identity_folders_and_resumes(exports, tmp_path, capsys):
    from datamodules.readers.identity_folders import IdentityFolder
    from facebench.generate import GenerateConfig, generate

    cfg = dict(source="gan", checkpoint=str(exports["factors"]), layout="identity_folders", n=6, depth=3, chunk=4,
               out=str(tmp_path / "out"))
    out = generate(GenerateConfig(**cfg))
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.jpg"))
    assert files == [f"{i:06d}/{j:04d}.jpg" for i in range(2) for j in range(3)]
    again = generate(GenerateConfig(**cfg))
    assert "2 chunks already done, 0 written" in capsys.readouterr().out and again == out
    assert IdentityFolder(out).num_classes == 2
    with pytest.raises(DatasetError, match="a gan generator, not a vec2face one"):
        generate(GenerateConfig(**{**cfg, "source": "vec2face", "out": str(tmp_path / "v")}))


def test_generator_step_stops_on_a_nan_loss_before_touching_the_weights():
    from types import SimpleNamespace

    from facebench.tasks.gan_steps import generator_step

    w = torch.nn.Parameter(torch.ones(2))
    opt = torch.optim.SGD([w], lr=1.0)
    module = SimpleNamespace(global_step=7, manual_backward=lambda loss: loss.backward())
    with pytest.raises(FloatingPointError, match="GAN loss became nan at step 7"):
        generator_step(module, opt, (w * float("nan")).sum(), "GAN")
    assert torch.equal(w.detach(), torch.ones(2)) and w.grad is None
    generator_step(module, opt, (w * 2).sum(), "GAN")
    assert torch.equal(w.detach(), -torch.ones(2))
