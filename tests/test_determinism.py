from facebench.render.settings import RenderSettings
import numpy as np
import torch
from torch.utils.data import DataLoader

from datamodules.datasets.render_identity import RenderIdentityDataset
from facebench.render.source import RenderSource
from facebench.render.spec import DatasetSpec

SPEC = DatasetSpec(width=4, depth=3, seed=11)


def test_same_sample_regardless_of_batch_composition():
    src = RenderSource(SPEC, size=64, head="procedural")
    a = src.render([0, 1, 2, 3, 4, 5])
    b = src.render([5, 3, 1])
    assert torch.allclose(a.image[5], b.image[0], atol=1e-5)
    assert torch.allclose(a.image[1], b.image[2], atol=1e-5)
    assert torch.equal(a.seg[3], b.seg[1])
    assert torch.allclose(a.ldmk2d[5], b.ldmk2d[0], atol=1e-4)


def test_identity_factors_fixed_within_identity_only_when_not_varied():
    spec = DatasetSpec(width=3, depth=4, seed=2, vary="expression")
    src = RenderSource(spec, size=64, head="procedural")
    f = src.factors(np.arange(8))  # identities 0,0,0,0,1,1,1,1
    assert torch.equal(f.pose[0], f.pose[3]) and not torch.equal(f.pose[0], f.pose[4])
    assert not torch.equal(f.expr_weights[0], f.expr_weights[1])
    assert torch.equal(f.id_shape[0], f.id_shape[2])


def test_dataloader_workers_and_batch_size_do_not_change_samples():
    ds = RenderIdentityDataset(SPEC, 64, "aligned", RenderSettings("procedural"), indices_only=False)
    one = torch.cat([b[0] for b in DataLoader(ds, batch_size=4, num_workers=0)])
    two = torch.cat([b[0] for b in DataLoader(ds, batch_size=5, num_workers=2)])
    assert torch.equal(one, two)  # bitwise: a sample never depends on its batch or worker


def test_long_tail_spec_maps_indices_to_identities():
    spec = DatasetSpec(width=5, depth=8, long_tail_alpha=1.0, min_depth=2)
    assert spec.depths().tolist() == [8, 4, 3, 2, 2]  # round(8 / k), at least 2
    assert len(spec) == 19
    assert spec.identity_of([0, 7, 8, 11, 12, 18]).tolist() == [0, 0, 1, 1, 2, 4]


def test_standin_test_side_is_labelled_and_shifted():
    from datamodules.recognition import RecognitionDataModule

    dm = RecognitionDataModule(width=4, depth=2, head="procedural", num_workers=0, val_pairs=4,
                                     val_identities=4, val_standin=True, size=48)
    dm.setup("fit")
    assert dm.val_set_names == ["render_heldout", "standin"]
    heldout, standin = dm.val_datasets
    a = heldout.__getitems__([0])[0]
    b = standin.__getitems__([0])[0]
    assert a[0].shape == b[0].shape == (3, 48, 48) and b[2] is True
    # Disjoint identities from the training spec and from the synthetic held-out set.
    assert standin.spec.identity_offset != heldout.spec.identity_offset != dm.train_spec.identity_offset
