"""The on-device landmark training path (render_on=device) against the DataLoader-worker path: the same
crop geometry and labels, the same image up to interpolation, and a working Lightning step. Runs on the
CPU here (the "device" is the CPU); on a GPU the same code renders and crops there."""
import torch

from datamodules.datasets.landmark_crops import RenderLandmarkDataset
from facebench.render.settings import RenderSettings
from facebench.render.spec import DatasetSpec

AUG = {"box_noise": 0.2, "rotation": 30.0, "scale": 0.3, "flip": True}


def _pair(colour: bool, depth: bool = False):
    spec = DatasetSpec(width=50, depth=1, seed=3)
    kw = RenderSettings("procedural")
    aug = dict(AUG, colour=colour)
    worker = RenderLandmarkDataset(spec, 128, kw, aug, depth=depth)
    device = RenderLandmarkDataset(spec, 128, kw, aug, depth=depth, indices_only=True)
    return worker, device


def test_device_crops_match_the_worker_path():
    worker, device = _pair(colour=False, depth=True)
    idx = [0, 5, 7, 11, 23, 42]
    items = worker.__getitems__(idx)
    assert device.__getitems__(idx) == [(i,) for i in idx]  # IndexBatch items  # workers pass indices only
    batch = device.render_batch(torch.tensor(idx))
    ref = [torch.stack(col) for col in list(zip(*items))[:5]] + [torch.tensor([it.index for it in items])]
    assert len(batch) == len(ref) == 6
    assert torch.equal(torch.as_tensor(batch.index), ref[5])
    for got, want in zip(batch[1:5], ref[1:5]):  # heatmap points, image points, affine, depths: same draws
        assert torch.allclose(got, want, atol=1e-5)
    d = (batch[0] - ref[0]).abs()
    # The worker path warps a uint8 image with OpenCV's fixed-point bilinear weights; the device path warps
    # floats with grid_sample: equal up to rounding (measured: mean 0.0013, max 0.008 in [-1, 1] units; a
    # crop one pixel off gives a mean of 0.015).
    assert d.mean() < 0.004 and d.max() < 0.05


def test_device_colour_jitter_is_deterministic_and_changes_the_crop():
    _, plain = _pair(colour=False)
    _, jitter = _pair(colour=True)
    idx = torch.tensor([1, 2, 3, 4])
    a, b = jitter.render_batch(idx), jitter.render_batch(idx)
    c = plain.render_batch(idx)
    assert torch.equal(a[0], b[0])
    assert a[0].min() >= -1 and a[0].max() <= 1
    assert (a[0] - c[0]).abs().mean() > 0.01  # jitter applied
    assert torch.equal(a[1], c[1])  # geometry untouched by colour


def test_landmark_datamodule_trains_a_step_rendering_in_the_hook(tmp_path):
    import pytorch_lightning as pl

    from datamodules.landmarks import LandmarkDataModule
    from facebench.tasks.landmarks import LandmarkModule

    dm = LandmarkDataModule(n_train=8, render_size=96, batch_size=4, num_workers=0, val_render=0,
                            head="procedural", render_on="device")
    seen = []
    orig = dm.on_after_batch_transfer

    def spy(batch, i):
        out = orig(batch, i)
        seen.append((len(batch), tuple(out[0].shape)))
        return out

    dm.on_after_batch_transfer = spy
    from facebench.models.fan import FAN

    model = LandmarkModule(FAN(1, 32))
    trainer = pl.Trainer(max_steps=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                         default_root_dir=tmp_path)
    trainer.fit(model, dm)
    assert seen and seen[0] == (1, (4, 3, 256, 256))  # indices in, crops out

