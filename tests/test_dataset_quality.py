import math

import torch

from facebench.metrics.dataset_quality import dataset_quality, identity_centres


def _unit(deg):
    a = math.radians(deg)
    return [math.cos(a), math.sin(a)]


def test_hand_computed_quality():
    # Identity 0: images at 0 and 20 degrees -> centre at 10; identity 1: 60 (single image);
    # identity 2: 100 and 120 -> centre at 110.
    emb = torch.tensor([_unit(0), _unit(20), _unit(60), _unit(100), _unit(120)], dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 2, 2])
    c, ids = identity_centres(emb, labels)
    assert torch.allclose(c[0], torch.tensor(_unit(10), dtype=torch.float64))
    q = dataset_quality(emb, labels, threshold=0.4)
    # Centre angles 10, 60, 110: nearest-other cosines cos(50) = 0.643 for all -> none separable at 0.4.
    assert q["separability"] == 0.0
    q = dataset_quality(emb, labels, threshold=0.7)
    assert q["separability"] == 1.0
    inter = (2 * math.cos(math.radians(50)) + math.cos(math.radians(100))) / 3
    assert abs(q["mean_inter_identity_similarity"] - inter) < 1e-9
    spread = (4 * (1 - math.cos(math.radians(10))) + 0) / 5
    assert abs(q["intra_class_spread"] - spread) < 1e-9


def test_leakage_against_reference_centres():
    emb = torch.tensor([_unit(0), _unit(90)], dtype=torch.float64)
    ref = torch.tensor([_unit(5), _unit(200)], dtype=torch.float64)  # near identity 0 only
    q = dataset_quality(emb, torch.tensor([0, 1]), reference_centres=ref, leak_threshold=0.9)
    assert q["leakage"] == 0.5
