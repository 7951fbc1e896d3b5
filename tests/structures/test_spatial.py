import numpy as np

from rsdet.structures import overlapping_pairs


def brute_pairs(env, labels):
    out = set()
    for i in range(len(env)):
        for j in range(i + 1, len(env)):
            a, b = env[i], env[j]
            if (
                labels[i] == labels[j]
                and a[0] < b[2]
                and b[0] < a[2]
                and a[1] < b[3]
                and b[1] < a[3]
            ):
                out.add((i, j))
    return out


def test_overlapping_pairs_match_brute_force_with_mixed_sizes():
    rng = np.random.default_rng(1)
    xy = rng.uniform(-50, 300, (300, 2))
    wh = rng.choice([0.0, 1.0, 5.0, 20.0, 400.0], size=(300, 2), p=[0.05, 0.3, 0.4, 0.2, 0.05])
    env = np.concatenate([xy, xy + wh], axis=1)
    labels = rng.integers(0, 2, 300)
    i, j = overlapping_pairs(env, labels)
    assert set(zip(i.tolist(), j.tolist(), strict=True)) == brute_pairs(env, labels)
    assert len(i) == len(set(zip(i.tolist(), j.tolist(), strict=True)))  # each pair once


def test_overlapping_pairs_edge_cases():
    i, j = overlapping_pairs(np.zeros((0, 4)))
    assert i.size == j.size == 0
    # touching edges have zero-area overlap: not a pair
    i, j = overlapping_pairs(np.array([[0, 0, 1, 1], [1, 0, 2, 1.0]]))
    assert i.size == 0
    i, j = overlapping_pairs(np.array([[0, 0, 2, 2], [1, 1, 3, 3.0], [np.nan, 0, 1, 1]]))
    assert list(zip(i.tolist(), j.tolist(), strict=True)) == [(0, 1)]
