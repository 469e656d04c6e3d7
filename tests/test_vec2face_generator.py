"""The Vec2Face generator against the released structure and a reference made by the public code."""
import json

import pytest
import torch

from facebench.errors import DatasetError
from facebench.models.vec2face import MaskDraw, Vec2FaceGenerator, load_released


@pytest.fixture(scope="module")
def reference(fixtures_dir):
    return torch.load(fixtures_dir / "vec2face" / "reference.pt", weights_only=True)


def _small(ref) -> Vec2FaceGenerator:
    ca, dd = ref["constructor_args"], ref["im_decoder_ddconfig"]
    return Vec2FaceGenerator(
        rep_dim=ca["rep_dim"], embed_dim=ca["embed_dim"], depth=ca["depth"], num_heads=ca["num_heads"],
        decoder_embed_dim=ca["decoder_embed_dim"], decoder_depth=ca["decoder_depth"],
        decoder_num_heads=ca["decoder_num_heads"], mlp_ratio=ca["mlp_ratio"], patch_size=ca["patch_size"],
        decoder_ch=dd["ch"], decoder_ch_mult=tuple(dd["ch_mult"]), decoder_res_blocks=dd["num_res_blocks"],
        z_channels=dd["z_channels"], mask_ratio_min=ca["mask_ratio_min"], mask_ratio_max=ca["mask_ratio_max"],
        mask_ratio_mu=ca["mask_ratio_mu"], mask_ratio_std=ca["mask_ratio_std"])


def test_reference_outputs_reproduced(reference):
    model = _small(reference)
    model.load_state_dict(reference["state_dict"], strict=True)
    model.eval()
    with torch.no_grad():
        d = reference["decoder_only"]
        assert torch.allclose(model.im_decoder(d["input"]), d["output"], atol=1e-4)
        for case in reference["cases"]:
            out = model(case["rep"], MaskDraw(case["mask_rate"], case["noise"]))
            assert torch.equal(out.token_drop_mask, case["token_drop_mask"].float())
            assert torch.equal(out.token_all_mask, case["token_all_mask"].float())
            for ours, theirs in (("gt_tokens", "gt_indices"), ("encoder_out", "encoder_out"),
                                 ("logits", "decoder_logits"), ("decoder_proj", "decoder_proj")):
                assert torch.allclose(getattr(out, ours), case[theirs], atol=1e-5), ours
            assert torch.allclose(out.image, case["image"], atol=2e-4)


def test_released_configuration_has_the_released_keys_and_shapes(fixtures_dir):
    facts = json.loads((fixtures_dir / "vec2face" / "state_dict_shapes.json").read_text())
    with torch.device("meta"):  # 174M parameters: shapes only
        model = Vec2FaceGenerator()
    ours = {k: (list(v.shape), str(v.dtype).replace("torch.", "")) for k, v in model.state_dict().items()}
    theirs = {e["key"]: (e["shape"], e["dtype"]) for e in facts["entries"]}
    assert ours == theirs
    assert sum(p.numel() for p in model.parameters()) == facts["total_parameters"] == 174_126_998


def test_masks_follow_the_draws_and_generation_is_seeded():
    model = Vec2FaceGenerator.tiny().eval()
    noise = torch.arange(49, dtype=torch.float32).flip(0)[None] / 49  # position 48 has the lowest noise
    drop, mask = model.masks(MaskDraw(0.2, noise))
    assert drop[0].nonzero().flatten().tolist() == [44, 45, 46, 47, 48]  # ceil(49 * 0.1) = 5 lowest
    assert mask.sum() == 10 and (mask | ~drop).all()  # ceil(49 * 0.2) = 10, dropped ones included
    # tied noise (which the public code answers with an unbounded re-draw loop): ranks by position, exact counts
    drop, mask = model.masks(MaskDraw(0.2, torch.zeros(3, 49)))
    assert drop.sum(1).tolist() == [5, 5, 5] and mask.sum(1).tolist() == [10, 10, 10]
    assert drop[0].nonzero().flatten().tolist() == [0, 1, 2, 3, 4]
    rep = torch.randn(2, 512)
    a = model.generate(rep, torch.Generator().manual_seed(3))
    b = model.generate(rep, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.shape == (2, 3, 112, 112) and a.abs().max() <= 1
    rates = [model.draw_masks(1, torch.Generator().manual_seed(s)).mask_rate for s in range(200)]
    assert min(rates) >= 0.1 and max(rates) <= 1.0 and 0.2 < sum(rates) / len(rates) < 0.4  # truncated N(0.15, 0.25)


def test_load_released_strict_and_clear_errors(tmp_path):
    tiny = Vec2FaceGenerator.tiny()
    good = tmp_path / "vec2face_generator.pth"
    torch.save({"model_vec2face": tiny.state_dict()}, good)
    loaded = load_released(good, Vec2FaceGenerator.tiny())
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), tiny.state_dict().values()))
    wrong = tmp_path / "other.pth"
    torch.save({"state_dict": tiny.state_dict()}, wrong)
    with pytest.raises(DatasetError, match="other.pth: no 'model_vec2face' entry"):
        load_released(wrong, Vec2FaceGenerator.tiny())
    with pytest.raises(DatasetError, match="do not fit the Vec2Face generator"):
        load_released(good, Vec2FaceGenerator.tiny(embed_dim=64, decoder_embed_dim=64))
    (tmp_path / "torn.pth").write_bytes(good.read_bytes()[:1000])
    with pytest.raises(DatasetError, match="torn.pth: not a readable checkpoint"):
        load_released(tmp_path / "torn.pth")
