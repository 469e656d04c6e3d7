import numpy as np
import torch

from facebench.metrics.verification import VerificationAccuracy, kfold_accuracy


def _reference(dist, same, n_folds=10):
    """Straightforward re-implementation of insightface's calculate_roc accuracy (numpy, loops)."""
    th = np.arange(0, 4, 0.01)
    n = len(dist)
    idx = np.arange(n)
    folds = np.array_split(idx, n_folds)  # contiguous, first folds one larger
    accs = []
    for test in folds:
        train = np.setdiff1d(idx, test)
        best_acc, best_t = -1, None
        for t in th:
            a = np.mean((dist[train] < t) == same[train])
            if a > best_acc:
                best_acc, best_t = a, t
        accs.append(np.mean((dist[test] < best_t) == same[test]))
    return np.mean(accs), np.std(accs)


def test_kfold_matches_reference_on_fixed_embeddings():
    rng = np.random.default_rng(0)
    n = 605  # not divisible by 10: exercises the uneven folds
    same = rng.uniform(size=n) < 0.5
    dist = np.where(same, rng.normal(0.9, 0.35, n), rng.normal(1.6, 0.35, n)).clip(0, 4)
    mean, std, _ = kfold_accuracy(torch.tensor(dist), torch.tensor(same))
    rm, rs = _reference(dist, same)
    assert abs(mean - rm) < 1e-12 and abs(std - rs) < 1e-12


def test_perfectly_separable_pairs_give_full_accuracy():
    same = torch.tensor([True, False] * 50)
    dist = torch.where(same, torch.tensor(0.5), torch.tensor(2.5))
    assert kfold_accuracy(dist, same)[0] == 1.0


def test_metric_uses_pair_order_and_drops_padding_repeats():
    rng = np.random.default_rng(1)
    e1 = torch.tensor(rng.normal(size=(40, 8)), dtype=torch.float32)
    same = torch.tensor([True, False] * 20)
    e2 = torch.where(same[:, None], e1 + 0.3 * torch.randn(40, 8), torch.randn(40, 8))
    m = VerificationAccuracy()
    perm = torch.randperm(40)
    m.update(e1[perm], e2[perm], same[perm], perm)
    m.update(e1[:3], e2[:3], same[:3], torch.arange(3))  # DistributedSampler-style repeats
    got = m.compute()["acc"].item()
    d = ((torch.nn.functional.normalize(e1) - torch.nn.functional.normalize(e2)) ** 2).sum(1)
    assert abs(got - kfold_accuracy(d, same)[0]) < 1e-6  # metric returns float32 tensors


def test_tar_at_far_hand_computed():
    from facebench.metrics.verification import tar_at_far

    # 10 negatives at distances 0.5, 1.0, ..., 5.0 (sorted), positives at 0.2, 0.7, 1.2, 3.0.
    neg = torch.arange(1, 11, dtype=torch.float64) * 0.5
    pos = torch.tensor([0.2, 0.7, 1.2, 3.0], dtype=torch.float64)
    dist = torch.cat([pos, neg])
    same = torch.tensor([True] * 4 + [False] * 10)
    # FAR 0.1 allows 1 accepted negative: threshold at the 2nd negative (1.0): positives < 1.0 -> 2 of 4.
    assert tar_at_far(dist, same, 0.1) == 0.5
    # FAR 0.01 allows none: threshold at the first negative (0.5): 1 of 4.
    assert tar_at_far(dist, same, 0.01) == 0.25
    # FAR 0.3 allows 3: threshold 2.0 -> 3 of 4.
    assert tar_at_far(dist, same, 0.3) == 0.75


def test_auc_and_eer_on_separable_and_random_scores():
    from facebench.metrics.verification import roc_metrics

    same = torch.tensor([True, False] * 50)
    r = roc_metrics(torch.where(same, torch.tensor(0.5), torch.tensor(2.0)), same)
    assert r["auc"] == 1.0 and r["eer"] == 0.0 and r["tar@far=1e-3"] == 1.0
    # Reversed scores: the worst possible ordering.
    r = roc_metrics(torch.where(same, torch.tensor(2.0), torch.tensor(0.5)), same)
    assert r["auc"] == 0.0 and r["eer"] == 1.0
