"""Weight sharing: linear-init k-means, and codebook gradients summed per cluster."""

import torch
from torch import nn

from rsdet.compress.kmeans import SharedWeights, linear_kmeans


def test_kmeans_finds_separated_clusters_and_assigns_the_nearest():
    g = torch.Generator().manual_seed(0)
    values = torch.cat([c + 0.01 * torch.randn(200, generator=g) for c in (-1.0, 0.2, 0.9)])
    centroids, index = linear_kmeans(values, 3)
    assert torch.allclose(centroids, torch.tensor([-1.0, 0.2, 0.9]), atol=0.01)
    nearest = (values[:, None] - centroids[None]).abs().argmin(dim=1)
    assert torch.equal(index, nearest)


def test_linear_init_keeps_a_lone_large_weight_in_its_own_cluster():
    values = torch.cat([torch.linspace(-0.01, 0.01, 999), torch.tensor([5.0])])
    centroids, index = linear_kmeans(values, 4)
    assert centroids[-1] == 5.0 and int((index == len(centroids) - 1).sum()) == 1


def test_codebook_gradient_is_the_sum_over_each_cluster():
    layer = nn.Linear(8, 4, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([-1.0, 1.0]).repeat(16).view(4, 8))
    mask = torch.ones(4, 8, dtype=torch.bool)
    mask[0, :2] = False
    shared = SharedWeights({"w": layer.weight}, {"w": mask}, {"w": 1})
    assert sorted(shared.codebooks["w"].tolist()) == [-1.0, 1.0]
    x = torch.randn(5, 8)
    layer(x).pow(2).sum().backward()
    grad = layer.weight.grad.clone()
    shared.before_step()
    book = shared.codebooks["w"]
    for k, value in enumerate(book.detach()):
        members = (layer.weight == value) & mask
        assert torch.allclose(book.grad[k], grad[members].sum())
    assert layer.weight.grad is None  # the shared tensor itself is not stepped
    with torch.no_grad():
        book -= 0.1 * book.grad
    shared.after_step()
    assert set(layer.weight[mask].tolist()) == set(book.tolist())
    assert torch.all(layer.weight[~mask] == 0)
