from facebench.render.settings import RenderSettings
import numpy as np

from datamodules.datasets.render_identity import RenderIdentityDataset
from facebench.render.augment import augment_batch
from facebench.render.spec import DatasetSpec


def test_augmentation_is_seeded_per_sample():
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    a = augment_batch(imgs, [1, 2, 3, 4])
    b = augment_batch(imgs[::-1].copy(), [4, 3, 2, 1])[::-1]
    assert np.array_equal(a, b)  # same seed -> same result, whatever the order
    assert not np.array_equal(a[0], imgs[0])  # colour jitter is always applied
    c = augment_batch(imgs, [5, 6, 7, 8])
    assert not np.array_equal(a, c)


def test_render_dataset_with_digiface_augment_is_deterministic():
    spec = DatasetSpec(width=2, depth=2, seed=4)
    plain = RenderIdentityDataset(spec, 48, "aligned", RenderSettings("procedural"), False)
    aug = RenderIdentityDataset(spec, 48, "aligned", RenderSettings("procedural"), False, augment="digiface")
    x1 = aug.__getitems__([0, 3])
    x2 = aug.__getitems__([3])
    assert np.allclose(x1[1][0].numpy(), x2[0][0].numpy())
    assert not np.allclose(plain.__getitems__([3])[0][0].numpy(), x2[0][0].numpy())


def test_erasing_variant_blanks_a_rectangle_sometimes():
    from facebench.render.augment import digiface_augment

    imgs = np.full((40, 32, 32, 3), 200, np.uint8)
    out = augment_batch(imgs, range(40), digiface_augment(erasing=True))
    zero_rect = [(o == 0).all(-1).sum() for o in out]
    assert sum(z > 0 for z in zero_rect) >= 10  # p = 0.5 over 40 samples
    assert all(z <= 0.34 * 32 * 32 for z in zero_rect)
