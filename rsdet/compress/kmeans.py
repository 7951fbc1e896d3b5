"""Weight sharing: per-tensor 1-D k-means, and fine-tuning the shared values.

Deep Compression (§3): the kept weights of a tensor are clustered into ``2**bits`` shared
values. Centroids start spread linearly between the smallest and the largest weight (which
beats density-based and random initialisation, Fig. 8, because the few large weights that
matter most keep their own clusters). During fine-tuning the gradient of a shared value is
the sum of the gradients of the weights that use it (Eq. 3).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor, nn

from rsdet.models.rsdz import SharedTensor

__all__ = ["SharedWeights", "linear_kmeans"]


def linear_kmeans(values: Tensor, k: int, iters: int = 30) -> tuple[Tensor, Tensor]:
    """Cluster 1-D ``values`` into at most ``k`` centroids (Lloyd, linear initialisation).

    Returns:
        The (k',) float32 centroids, increasing, k' <= k (clusters left empty are dropped),
        and the (n,) int64 centroid index of each value.
    """
    x = values.detach().float().flatten().cpu()
    if x.numel() == 0:
        return torch.zeros(0), torch.zeros(0, dtype=torch.int64)
    centroids = torch.linspace(float(x.min()), float(x.max()), k)
    for _ in range(iters):
        index = _nearest(x, centroids)
        counts = torch.bincount(index, minlength=len(centroids)).float()
        sums = torch.zeros(len(centroids)).index_add_(0, index, x)
        moved = torch.where(counts > 0, sums / counts.clamp(min=1), centroids)
        if torch.equal(moved, centroids):
            break
        centroids = moved
    used = torch.bincount(_nearest(x, centroids), minlength=len(centroids)) > 0
    centroids = centroids[used]
    return centroids, _nearest(x, centroids)


def _nearest(x: Tensor, sorted_centroids: Tensor) -> Tensor:
    """Index of the nearest centroid (1-D: a search among the midpoints)."""
    mids = (sorted_centroids[1:] + sorted_centroids[:-1]) / 2
    return torch.searchsorted(mids, x)


class SharedWeights:
    """Tensors whose kept weights take one of a few trainable shared values.

    The codebooks are the trainable parameters (give :attr:`codebooks` to the optimiser,
    and not the shared tensors); after ``backward``, :meth:`before_step` turns the weight
    gradients into codebook gradients, and :meth:`after_step` writes the updated shared
    values back into the network.
    """

    def __init__(
        self,
        params: Mapping[str, nn.Parameter],
        masks: Mapping[str, Tensor],
        bits: Mapping[str, int],
    ) -> None:
        self.params = dict(params)
        self.keep: dict[str, Tensor] = {}
        self.index: dict[str, Tensor] = {}
        self.codebooks: dict[str, nn.Parameter] = {}
        for name, p in self.params.items():
            keep = (
                masks[name].flatten().cpu()
                if name in masks
                else torch.ones(p.numel(), dtype=torch.bool)
            )
            centroids, index = linear_kmeans(p.detach().flatten().cpu()[keep], 2 ** bits[name])
            self.keep[name] = keep.nonzero().flatten().to(p.device)
            self.index[name] = index.to(p.device)
            self.codebooks[name] = nn.Parameter(centroids.to(p.device))
        self.after_step()

    def before_step(self) -> None:
        """Codebook gradient = sum of the gradients of each cluster's weights; weights get none."""
        for name, p in self.params.items():
            book = self.codebooks[name]
            if p.grad is None:
                book.grad = None
                continue
            grad = p.grad.flatten()[self.keep[name]]
            book.grad = torch.zeros_like(book).index_add_(0, self.index[name], grad)
            p.grad = None

    @torch.no_grad()
    def after_step(self) -> None:
        """Rewrite every shared tensor from its codebook (pruned positions stay zero)."""
        for name, p in self.params.items():
            flat = torch.zeros(p.numel(), dtype=p.dtype, device=p.device)
            flat[self.keep[name]] = self.codebooks[name][self.index[name]].to(p.dtype)
            p.copy_(flat.view_as(p))

    def export(self) -> dict[str, SharedTensor]:
        """The tensors in the form the ``.rsdz`` writer codes."""
        return {
            name: SharedTensor(
                tuple(p.shape),
                self.codebooks[name].detach().cpu().float().numpy().astype(np.float32),
                self.keep[name].cpu().numpy().astype(np.int64),
                self.index[name].cpu().numpy().astype(np.int64),
            )
            for name, p in self.params.items()
        }
