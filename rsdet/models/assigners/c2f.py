"""DCFL's coarse-to-fine label assigner, vectorised per image.

Xu et al., "Dynamic Coarse-to-Fine Learning for Oriented Tiny Object Detection", CVPR 2023.
Given N priors of one image (all pyramid levels together) and M ground-truth boxes:

1. **Coarse prior matching.** ``S[m, a] = 1 / (1 + GJSD(N(g_m), N(a~)))`` between each gt's
   Gaussian and each *moved* prior's (the dynamic prior: centres shifted by the mean DCN
   offset). Priors whose best ``S`` is below ``neg_sim_thr`` (0.8) are negatives, the rest
   ignored; the top-``k`` priors of each gt across all levels become its candidates.
2. **Medium step.** Each candidate gets the posterior quality ``Q = IoU(pred, gt) + max_c
   sigmoid(logit_c)``; each gt keeps its top-``q`` candidates, the others become negative.
3. **Fine step (DGMM constraint).** A kept prior of gt ``m`` stays positive iff
   ``0.7 exp(-d1' S_m^-1 d1 / 2) + 0.3 exp(-d2' S_m^-1 d2 / 2) >= exp(-gauss_thr)``, with
   ``d1``/``d2`` its centre minus the gt centre / the mean centre of the gt's top-``q`` priors,
   and ``S_m`` the gt's covariance.

The official code has quirks (``docs/dcfl.md``, "Quirks"); they are reproduced by default and
each fix is a named flag of :class:`AssignerFlags`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

from rsdet.models.assigners.assignment import Assignment
from rsdet.models.rbox_coder import DCFL_CODER, RBoxCoder
from rsdet.structures import RBoxes, rboxes_to_gaussian, rotated_iou

__all__ = ["AssignerFlags", "C2FAssigner", "gaussian_similarity", "ignore_inside"]

# Gt rows per chunk of the (M, N) similarity: bounds the (rows, N, 2, 2) temporaries.
_SIM_CHUNK_ELEMENTS = 1 << 22
# Side clamps of the Gaussian of a box, as rsdet.structures.gaussian (degenerate boxes).
_MIN_SIDE, _MAX_SIDE = 1e-7, 1e7
# mmdet-style internal codes of ``assigned``: -1 ignored, 0 negative, m + 1 positive of gt m.
_IGNORED, _NEGATIVE = -1, 0
# Quality given to another gt's candidates when a gt ranks its own (official constant).
_FOREIGN_QUALITY = -100.0
# The coder the official assigner builds by default (mmrotate defaults: no pi, no proj_xy).
_ASSIGNER_CODER = RBoxCoder(angle_factor=None, proj_xy=False)


@dataclass(frozen=True)
class AssignerFlags:
    """Fixes of the official assigner's quirks; all False reproduces the paper's code.

    Attributes:
        fix_topk_ties: exactly ``topk`` candidates per gt (the official code takes every
            prior whose similarity *equals* one of the top-k values), and a prior wanted by
            several gts goes to the most similar one (officially: the highest gt index).
        fix_posterior_decode: measure the posterior IoU on the box the head really predicts
            (static prior, ``pi`` angle scale) instead of re-decoding the deltas with
            mmrotate's default coder (no ``pi``) against the moved prior.
        fix_foreign_candidates: a gt with fewer than ``topq`` candidates keeps only its own;
            officially its top-q list is filled with other gts' candidates, which are then
            kept for their own gt and pull its DGMM mean.
        fix_ignored_flip: ignored priors stay ignored; officially they are tested against
            gt 0's DGMM and can turn negative.
        min_one_positive: a gt whose DGMM removes every candidate keeps the one closest
            to it under the DGMM (officially it is left without positives).
    """

    fix_topk_ties: bool = False
    fix_posterior_decode: bool = False
    fix_foreign_candidates: bool = False
    fix_ignored_flip: bool = False
    min_one_positive: bool = False


@dataclass(frozen=True)
class C2FAssigner:
    """Coarse-to-fine assigner (module docstring). Constants are the paper's DOTA values.

    Attributes:
        topk: candidates per gt from the coarse step (16).
        topq: candidates per gt kept by the medium step (12).
        gauss_thr: DGMM threshold ``tau``: positive iff DGMM >= exp(-tau) (0.6; 0.8 AI-TOD).
        neg_sim_thr: priors with best coarse similarity below this are negatives (0.8).
        dgmm_weights: weights of the gt-centred and the prior-mean-centred components.
        flags: quirk fixes.
    """

    topk: int = 16
    topq: int = 12
    gauss_thr: float = 0.6
    neg_sim_thr: float = 0.8
    dgmm_weights: tuple[float, float] = (0.7, 0.3)
    flags: AssignerFlags = field(default_factory=AssignerFlags)

    def __call__(
        self, priors: Tensor, moved: Tensor, gts: RBoxes, logits: Tensor, deltas: Tensor
    ) -> Assignment:
        """Assign the priors of one image.

        Args:
            priors: (N, 5) static priors, le135, input pixels.
            moved: (N, 5) the same priors with centres moved by the dynamic prior (equal to
                ``priors`` when the dynamic prior is off).
            gts: M ground-truth boxes (any angle spelling), input pixels.
            logits: (N, C) detached class logits.
            deltas: (N, 5) detached regression outputs.

        Returns:
            The assignment; with M = 0 every prior is negative.
        """
        n = priors.shape[0]
        if len(gts) == 0 or n == 0:
            return _from_codes(priors.new_zeros(n, dtype=torch.long))
        gts = RBoxes(gts.tensor.to(priors.dtype))
        sim = gaussian_similarity(gts, moved)  # (M, N)
        assigned = torch.where(sim.max(dim=0).values < self.neg_sim_thr, _NEGATIVE, _IGNORED)
        cand_gt = self.coarse_candidates(sim)  # (N,) gt index or -1
        assigned = torch.where(cand_gt >= 0, cand_gt + 1, assigned)
        cand = torch.nonzero(cand_gt >= 0).squeeze(1)  # (P,)
        quality = self.posterior_quality(priors, moved, gts, logits, deltas, cand, cand_gt[cand])
        kept, prior_mean = self.medium_step(quality, cand_gt[cand], moved[cand, :2], len(gts))
        assigned[cand[~kept]] = _NEGATIVE
        return _from_codes(self.fine_step(assigned, moved[:, :2], gts, prior_mean))

    def coarse_candidates(self, sim: Tensor) -> Tensor:
        """(M, N) similarities -> (N,) the gt each prior is a candidate of, or -1."""
        m, n = sim.shape
        top = sim.topk(min(self.topk, n), dim=1)
        if self.flags.fix_topk_ties:
            member = torch.zeros_like(sim, dtype=torch.bool).scatter_(1, top.indices, True)
            best = torch.where(member, sim, -1.0).argmax(dim=0)  # most similar claimant
            return torch.where(member.any(dim=0), best, -1)
        # Official: a prior is in gt m's list when S[m, a] equals one of the top-k values,
        # i.e. S[m, a] >= the k-th value; gts are visited in order, so the last one wins.
        member = sim >= top.values[:, -1:]
        last = m - 1 - member.to(torch.uint8).flip(0).argmax(dim=0)  # uint8: a quarter of int64
        return torch.where(member.any(dim=0), last, -1)

    def posterior_quality(
        self,
        priors: Tensor,
        moved: Tensor,
        gts: RBoxes,
        logits: Tensor,
        deltas: Tensor,
        cand: Tensor,
        cand_gt: Tensor,
    ) -> Tensor:
        """(P,) IoU of each candidate's prediction with its gt plus its best class score."""
        if self.flags.fix_posterior_decode:
            boxes = DCFL_CODER.decode(priors[cand], deltas[cand])
        else:  # mmrotate's default coder: dtheta in radians, centres from the moved prior
            boxes = _ASSIGNER_CODER.decode(moved[cand], deltas[cand])
        gt_t = gts.tensor[cand_gt]
        sides = torch.tensor([0, 0, 1, 1, 0], dtype=torch.bool, device=boxes.device)
        boxes = torch.where(sides, boxes.clamp(min=1e-3), boxes)
        gt_t = torch.where(sides, gt_t.clamp(min=1e-3), gt_t)
        iou = rotated_iou(RBoxes(boxes), RBoxes(gt_t))
        return iou + logits[cand].max(dim=1).values.sigmoid()

    def medium_step(
        self, quality: Tensor, cand_gt: Tensor, centres: Tensor, num_gts: int
    ) -> tuple[Tensor, Tensor]:
        """Top-q per gt.

        Args:
            quality: (P,) posterior quality of the candidates.
            cand_gt: (P,) their gt.
            centres: (P, 2) their moved centres.
            num_gts: M.

        Returns:
            ``kept`` (P,) bool and ``prior_mean`` (M, 2), the mean centre of each gt's top-q.
        """
        p = quality.numel()
        own = cand_gt[None, :] == torch.arange(num_gts, device=quality.device)[:, None]  # (M, P)
        if p == 0:
            return own.any(dim=0), centres.new_zeros(num_gts, 2)
        ranked = torch.where(own, quality[None, :], _FOREIGN_QUALITY)
        top = ranked.topk(min(self.topq, p), dim=1).indices  # (M, q)
        chosen = torch.zeros_like(own).scatter_(1, top, True)  # (M, P)
        if self.flags.fix_foreign_candidates:
            chosen &= own
        kept = chosen.any(dim=0)
        weights = chosen.to(centres.dtype)
        prior_mean = (weights @ centres) / weights.sum(dim=1, keepdim=True).clamp(min=1)
        return kept, prior_mean

    def fine_step(
        self, assigned: Tensor, centres: Tensor, gts: RBoxes, prior_mean: Tensor
    ) -> Tensor:
        """Apply the DGMM constraint to the codes ``assigned`` (N,); returns new codes."""
        if self.flags.fix_ignored_flip:
            tested = torch.nonzero(assigned > 0).squeeze(1)
        else:  # official: ignored priors (-1) are checked against gt 0 too
            tested = torch.nonzero(assigned != _NEGATIVE).squeeze(1)
        gt = (assigned[tested] - 1).clamp(min=0)
        score = self.dgmm(centres[tested], gts, prior_mean, gt)
        fails = score < math.exp(-self.gauss_thr)
        out = assigned.clone()
        out[tested[fails]] = _NEGATIVE
        if self.flags.min_one_positive:
            out = _restore_best(out, assigned, tested, gt, score, len(gts))
        return out

    def dgmm(self, points: Tensor, gts: RBoxes, prior_mean: Tensor, gt: Tensor) -> Tensor:
        """Unnormalised two-component Gaussian mixture of gt ``gt[i]`` at ``points[i]``.

        Args:
            points: (K, 2) centres in pixels.
            gts: M gts; their covariances ``Sigma_m`` shape both components.
            prior_mean: (M, 2) second component's mean per gt.
            gt: (K,) gt index of each point.

        Returns:
            (K,) values in [0, 1] (each component peaks at its weight).
        """
        w1, w2 = self.dgmm_weights
        box = gts.tensor[gt]  # (K, 5)
        return w1 * _gauss(points - box[:, :2], box) + w2 * _gauss(points - prior_mean[gt], box)


def _from_codes(assigned: Tensor) -> Assignment:
    """Hard assignment from (N,) codes: -1 ignored, 0 negative, ``m + 1`` positive of gt ``m``."""
    return Assignment.hard(torch.where(assigned > 0, assigned - 1, -1), assigned == _IGNORED)


def _gauss(d: Tensor, boxes: Tensor) -> Tensor:
    """``exp(-d' Sigma^-1 d / 2)`` with ``Sigma`` of (K, 5) boxes, for (K, 2) offsets ``d``.

    Evaluated in each box's own frame, ``d' Sigma^-1 d = (2u / w)^2 + (2v / h)^2``, so a thin
    box (h -> 0) gives a large finite value instead of inverting a singular matrix.
    """
    w, h = boxes[:, 2].clamp(_MIN_SIDE, _MAX_SIDE), boxes[:, 3].clamp(_MIN_SIDE, _MAX_SIDE)
    cos, sin = torch.cos(boxes[:, 4]), torch.sin(boxes[:, 4])
    u = d[:, 0] * cos + d[:, 1] * sin  # along w
    v = -d[:, 0] * sin + d[:, 1] * cos  # along h
    return torch.exp(-0.5 * ((2 * u / w) ** 2 + (2 * v / h) ** 2))


def _restore_best(
    out: Tensor, before: Tensor, tested: Tensor, gt: Tensor, score: Tensor, num_gts: int
) -> Tensor:
    """Give every gt left without positives back its best-scoring own prior."""
    own = before[tested] > 0
    orphan = torch.ones(num_gts, dtype=torch.bool, device=out.device)
    orphan[(out[out > 0] - 1)] = False
    best = torch.full((num_gts,), -1.0, dtype=score.dtype, device=score.device)
    best = best.scatter_reduce(0, gt[own], score[own], reduce="amax")
    pick = own & orphan[gt] & (score == best[gt]) & (best[gt] >= 0)
    out = out.clone()
    out[tested[pick]] = gt[pick] + 1
    return out


def gaussian_similarity(gts: RBoxes, priors: Tensor) -> Tensor:
    """``1 / (1 + GJSD)`` with alpha 1/2, which is the Bhattacharyya distance, gts vs priors.

    ``D = 1/8 d' S^-1 d + 1/2 ln(|S| / sqrt(|S_g| |S_p|))`` with ``S = (S_g + S_p) / 2``. The
    boxes' own log-determinants are taken exactly, ``ln |S| = 2 ln(w/2) + 2 ln(h/2)``: from
    the matrix entries, a thin gt's small eigenvalue drowns in float rounding (a negative
    determinant, NaN). ``S`` itself is well conditioned since the priors are large.

    Args:
        gts: M boxes.
        priors: (N, 5) boxes (any angle spelling; Gaussians ignore it).

    Returns:
        (M, N) similarities in (0, 1], computed in at least float32.
    """
    dtype = torch.promote_types(priors.dtype, torch.float32)
    g, p = gts.tensor.to(dtype), priors.to(dtype)
    mu_g, s_g = rboxes_to_gaussian(RBoxes(g))
    mu_p, s_p = rboxes_to_gaussian(RBoxes(p))
    logdet_g, logdet_p = _logdet(g), _logdet(p)
    rows = max(1, _SIM_CHUNK_ELEMENTS // max(p.shape[0], 1))
    out = []
    for i in range(0, len(g), rows):
        s = (s_g[i : i + rows, None] + s_p[None]) / 2  # (m, N, 2, 2)
        det = s[..., 0, 0] * s[..., 1, 1] - s[..., 0, 1] ** 2  # (m, N)
        dx, dy = (mu_g[i : i + rows, None] - mu_p[None]).unbind(-1)  # (m, N) each
        maha = (s[..., 1, 1] * dx**2 - 2 * s[..., 0, 1] * dx * dy + s[..., 0, 0] * dy**2) / det
        half = 0.5 * (logdet_g[i : i + rows, None] + logdet_p[None])  # (m, N)
        out.append(1 / (1 + maha / 8 + 0.5 * (torch.log(det) - half)))
    return torch.cat(out, dim=0)  # (M, N)


def _logdet(boxes: Tensor) -> Tensor:
    """(N,) ``ln |Sigma|`` of (N, 5) boxes: ``ln(w^2 h^2 / 16)`` with clamped sides."""
    w, h = boxes[:, 2].clamp(_MIN_SIDE, _MAX_SIDE), boxes[:, 3].clamp(_MIN_SIDE, _MAX_SIDE)
    return 2 * torch.log(w / 2) + 2 * torch.log(h / 2)


def ignore_inside(assignment: Assignment, points: Tensor, regions: RBoxes) -> Assignment:
    """Mark negatives whose point lies inside an ignore region as ignored.

    Args:
        assignment: labels of N priors.
        points: (N, 2) prior centres in pixels.
        regions: K boxes whose area neither teaches positives nor punishes detections.

    Returns:
        A new assignment; positives are untouched.
    """
    if len(regions) == 0:
        return assignment
    cx, cy, w, h, t = regions.tensor.to(points.dtype).unbind(-1)
    dx = points[None, :, 0] - cx[:, None]  # (K, N)
    dy = points[None, :, 1] - cy[:, None]
    cos, sin = torch.cos(t)[:, None], torch.sin(t)[:, None]
    u, v = dx * cos + dy * sin, -dx * sin + dy * cos  # the point in each box's own frame
    inside = ((u.abs() <= w[:, None] / 2) & (v.abs() <= h[:, None] / 2)).any(dim=0)
    return replace(assignment, ignored=assignment.ignored | (inside & ~assignment.positive))
