import math

import pytest
import torch

from rsdet.models.assigners.assignment import Assignment
from rsdet.models.assigners.c2f import (
    AssignerFlags,
    C2FAssigner,
    gaussian_similarity,
    ignore_inside,
)
from rsdet.structures import RBoxes, bhattacharyya_distance, rboxes_to_gaussian

# Only the coarse step acts: every candidate is kept and passes the DGMM.
COARSE_ONLY = {"topq": 1000, "gauss_thr": 1e6}


def _priors(rows):
    """Square priors (cx, cy, side), theta 0, float64."""
    t = torch.tensor(rows, dtype=torch.float64)
    return torch.cat(
        [t[:, :2], t[:, 2:3], t[:, 2:3], torch.zeros(len(t), 1, dtype=torch.float64)], 1
    )


def _run(assigner, priors, gts, logits=None, deltas=None, moved=None):
    n = priors.shape[0]
    logits = torch.full((n, 1), -20.0, dtype=torch.float64) if logits is None else logits
    deltas = torch.zeros(n, 5, dtype=torch.float64) if deltas is None else deltas
    return assigner(priors, priors if moved is None else moved, RBoxes(gts), logits, deltas)


def _gt(*rows):
    return torch.tensor(rows, dtype=torch.float64)


def test_similarity_reference_values():
    # An 8x8 gt vs theta-0 priors (the brief's reference values, 1 / (1 + Bhattacharyya)).
    gt = RBoxes(_gt([100, 100, 8, 8, 0]))
    sim = gaussian_similarity(
        gt,
        _priors([[100, 100, 32], [108, 100, 32], [116, 100, 32], [100, 100, 64], [116, 100, 64]]),
    )
    assert sim[0].tolist() == pytest.approx([0.570, 0.552, 0.503, 0.416, 0.406], abs=1e-3)
    # By hand for equal covariances (64x64 vs 64-px prior, d = 40): D = d^2 / (8 sigma^2).
    big = gaussian_similarity(RBoxes(_gt([0, 0, 64, 64, 0])), _priors([[40, 0, 64]]))
    assert big.item() == pytest.approx(1 / (1 + 1600 / (8 * 1024)))
    # The angle spelling does not matter: (w, h, t) == (h, w, t + pi/2).
    a = gaussian_similarity(RBoxes(_gt([0, 0, 20, 4, 0.3])), _priors([[5, 3, 32]]))
    b = gaussian_similarity(RBoxes(_gt([0, 0, 4, 20, 0.3 + math.pi / 2])), _priors([[5, 3, 32]]))
    assert a.item() == pytest.approx(b.item())


def test_similarity_matches_rsdet_bhattacharyya_and_survives_thin_boxes():
    gen = torch.Generator().manual_seed(0)
    boxes = torch.cat(
        [
            torch.rand(20, 2, generator=gen) * 1000,
            2 + torch.rand(20, 2, generator=gen) * 60,
            torch.rand(20, 1, generator=gen) * 3,
        ],
        1,
    ).double()
    priors = _priors([[500, 500, 32], [10, 900, 64], [700, 80, 128]])
    mu_g, s_g = rboxes_to_gaussian(RBoxes(boxes))
    mu_p, s_p = rboxes_to_gaussian(RBoxes(priors))
    ref = 1 / (1 + bhattacharyya_distance(mu_g[:, None], s_g[:, None], mu_p[None], s_p[None]))
    torch.testing.assert_close(gaussian_similarity(RBoxes(boxes), priors), ref)
    # A zero-height gt at an angle: rounding makes its covariance singular, not the result.
    thin = gaussian_similarity(RBoxes(torch.tensor([[500.0, 500, 12, 0, 0.5]])), priors.float())
    assert torch.isfinite(thin).all() and (thin >= 0).all()


def test_no_gts_means_all_negative():
    a = _run(
        C2FAssigner(), _priors([[0, 0, 32], [8, 0, 32]]), torch.zeros(0, 5, dtype=torch.float64)
    )
    assert a.gt_index.tolist() == [-1, -1] and not a.ignored.any()


def test_topk_is_taken_across_levels_and_prefers_p3_for_tiny_objects():
    # An 8x8 gt: P3 priors (32 px) 8 px away beat a P4 prior (64 px) exactly on the centre.
    priors = _priors(
        [[100, 100, 64], [108, 100, 32], [92, 100, 32], [100, 116, 32], [160, 160, 32]]
    )
    a = _run(C2FAssigner(topk=3, **COARSE_ONLY), priors, _gt([100, 100, 8, 8, 0]))
    assert a.gt_index.tolist() == [-1, 0, 0, 0, -1]
    assert not a.ignored.any()  # every similarity < 0.8: the rest are negatives


def test_topk_ties_official_vs_fixed():
    # Centre prior first, then four priors tied at 8 px: with k = 2 the official equality test
    # takes all five; the fix takes exactly two.
    priors = _priors([[100, 100, 32], [108, 100, 32], [92, 100, 32], [100, 108, 32], [100, 92, 32]])
    gt = _gt([100, 100, 8, 8, 0])
    official = _run(C2FAssigner(topk=2, **COARSE_ONLY), priors, gt)
    assert official.positive.sum().item() == 5
    fixed = _run(
        C2FAssigner(topk=2, flags=AssignerFlags(fix_topk_ties=True), **COARSE_ONLY), priors, gt
    )
    assert fixed.positive.sum().item() == 2 and fixed.positive[0]


def test_shared_candidate_goes_to_last_gt_officially_and_to_closest_when_fixed():
    # The prior at x=104 is in both gts' top-1; it is closer to gt 0 (at 103) than gt 1 (at 112).
    priors = _priors([[104, 100, 32], [200, 200, 32]])
    gts = _gt([103, 100, 8, 8, 0], [112, 100, 8, 8, 0])
    official = _run(C2FAssigner(topk=1, **COARSE_ONLY), priors, gts)
    assert official.gt_index.tolist() == [1, -1]
    fixed = _run(
        C2FAssigner(topk=1, flags=AssignerFlags(fix_topk_ties=True), **COARSE_ONLY), priors, gts
    )
    assert fixed.gt_index.tolist() == [0, -1]


def test_medium_step_keeps_top_q_by_iou_plus_score():
    # Four candidates of one gt with the same IoU (the gt lies inside every prior); the class
    # score orders them, and q = 2 keeps the two best.
    priors = _priors([[100, 100, 32], [104, 100, 32], [96, 100, 32], [100, 104, 32]])
    logits = torch.tensor([[-3.0], [2.0], [-1.0], [1.0]], dtype=torch.float64)
    a = _run(C2FAssigner(topk=4, topq=2, gauss_thr=1e6), priors, _gt([100, 100, 8, 8, 0]), logits)
    assert a.gt_index.tolist() == [-1, 0, -1, 0]


def test_posterior_quality_official_decode_vs_fixed():
    # The head's coder turns dtheta = 0.25 into pi / 4 and reproduces the gt exactly; the
    # official assigner re-decodes with dtheta in radians (0.25 rad), a worse box.
    priors = _priors([[50, 50, 32]])
    gts = RBoxes(_gt([50, 50, 16, 4, math.pi / 4]))
    deltas = torch.tensor([[0, 0, math.log(0.5), math.log(0.125), 0.25]], dtype=torch.float64)
    logits = torch.full((1, 3), -30.0, dtype=torch.float64)
    cand, cand_gt = torch.tensor([0]), torch.tensor([0])
    official = C2FAssigner().posterior_quality(priors, priors, gts, logits, deltas, cand, cand_gt)
    fixed = C2FAssigner(flags=AssignerFlags(fix_posterior_decode=True)).posterior_quality(
        priors, priors, gts, logits, deltas, cand, cand_gt
    )
    assert fixed.item() == pytest.approx(1.0, abs=1e-6)
    assert official.item() < 0.8


def test_medium_step_foreign_candidates():
    # Three candidates, q = 3 >= P: officially each gt's top-q is every candidate, so gt 0's
    # DGMM mean is the mean of all three centres; with the fix only its own.
    quality = torch.tensor([1.0, 0.5, 0.2], dtype=torch.float64)
    cand_gt = torch.tensor([0, 1, 1])
    centres = torch.tensor([[0.0, 0.0], [6.0, 0.0], [12.0, 3.0]], dtype=torch.float64)
    kept, mean = C2FAssigner(topq=3).medium_step(quality, cand_gt, centres, 2)
    assert kept.all() and mean[0].tolist() == [6.0, 1.0]
    kept, mean = C2FAssigner(topq=3, flags=AssignerFlags(fix_foreign_candidates=True)).medium_step(
        quality, cand_gt, centres, 2
    )
    assert kept.all() and mean.tolist() == [[0.0, 0.0], [9.0, 1.5]]
    # q = 1: gt 1 keeps only its best; its other candidate becomes negative.
    kept, _ = C2FAssigner(topq=1).medium_step(quality, cand_gt, centres, 2)
    assert kept.tolist() == [True, True, False]


@pytest.mark.parametrize(("dx", "positive"), [(5.7, True), (5.8, False)])
def test_dgmm_radius_by_hand(dx, positive):
    # One candidate: the DGMM's second mean is the candidate itself, so
    # G = 0.7 exp(-r^2 / 2) + 0.3 >= exp(-0.6)  <=>  r <= 1.438 sigma = 5.75 px for an 8x8 gt.
    a = _run(C2FAssigner(topk=1, topq=1), _priors([[100 + dx, 100, 32]]), _gt([100, 100, 8, 8, 0]))
    assert bool(a.positive[0]) is positive
    assert not a.ignored.any()


def test_dgmm_value_by_hand():
    gts = RBoxes(_gt([0, 0, 8, 8, 0]))  # Sigma = 16 I
    pts = torch.tensor([[4.0, 0.0]], dtype=torch.float64)
    mean = torch.tensor([[0.0, 2.0]], dtype=torch.float64)
    value = C2FAssigner().dgmm(pts, gts, mean, torch.tensor([0]))
    expected = 0.7 * math.exp(-16 / 32) + 0.3 * math.exp(-(16 + 4) / 32)
    assert value.item() == pytest.approx(expected)


def test_dgmm_follows_the_gt_orientation():
    # A 24x4 gt along x: a point 6 px along its long side passes, 6 px across it fails.
    gts = _gt([100, 100, 24, 4, 0])
    along = _run(C2FAssigner(topk=1, topq=1), _priors([[106, 100, 32]]), gts)
    across = _run(C2FAssigner(topk=1, topq=1), _priors([[100, 106, 32]]), gts)
    assert along.positive.tolist() == [True] and across.positive.tolist() == [False]


def test_min_one_positive_restores_the_closest():
    priors = _priors([[107, 100, 32], [100, 108, 32]])
    gts = _gt([100, 100, 8, 8, 0])
    official = _run(C2FAssigner(topk=2, topq=2), priors, gts)
    assert not official.positive.any()  # the constraint removed every candidate
    fixed = _run(
        C2FAssigner(topk=2, topq=2, flags=AssignerFlags(min_one_positive=True)), priors, gts
    )
    assert fixed.gt_index.tolist() == [0, -1]


def test_ignored_priors_flip_to_negative_officially():
    # 64x64 gt, 64-px priors at d = 0, 30, 40, 50 px. Similarity 1 / (1 + d^2 / 8192):
    # d = 30 and 40 are >= 0.8 but not in the top-1 -> ignored; d = 50 -> negative. The official
    # fine step then tests ignored priors against gt 0's DGMM, exp(-d^2 / 2048) >= exp(-0.6)
    # <=> d <= 35: d = 40 turns negative, d = 30 stays ignored.
    priors = _priors([[0, 0, 64], [30, 0, 64], [40, 0, 64], [50, 0, 64]])
    gts = _gt([0, 0, 64, 64, 0])
    official = _run(C2FAssigner(topk=1, topq=1), priors, gts)
    assert official.gt_index.tolist() == [0, -1, -1, -1]
    assert official.ignored.tolist() == [False, True, False, False]
    fixed = _run(
        C2FAssigner(topk=1, topq=1, flags=AssignerFlags(fix_ignored_flip=True)), priors, gts
    )
    assert fixed.ignored.tolist() == [False, True, True, False]


def test_moved_priors_drive_assignment():
    # The static prior is 12 px from the gt (too far for the DGMM); moved onto it, it passes.
    priors = _priors([[112, 100, 32]])
    moved = _priors([[101, 100, 32]])
    gts = _gt([100, 100, 8, 8, 0])
    assert not _run(C2FAssigner(topk=1, topq=1), priors, gts).positive.any()
    assert _run(C2FAssigner(topk=1, topq=1), priors, gts, moved=moved).positive.all()


def test_degenerate_gt_is_matched_only_exactly_on_it():
    # A point gt: its covariance is clamped to (1e-7 px)^2, so the DGMM is ~1 at the point
    # and 0 elsewhere; the prior centred on it stays positive, the other does not.
    priors = _priors([[100, 100, 32], [108, 100, 32]])
    a = _run(C2FAssigner(topk=2), priors, _gt([100, 100, 0.0, 0.0, 0]))
    assert a.gt_index.tolist() == [0, -1]


def test_ignore_inside_marks_negatives_only():
    a = Assignment.hard(torch.tensor([0, -1, -1]), torch.zeros(3, dtype=torch.bool))
    points = torch.tensor([[10.0, 10.0], [11.0, 10.0], [40.0, 40.0]])
    out = ignore_inside(a, points, RBoxes(torch.tensor([[10.0, 10.0, 6.0, 2.0, math.pi / 2]])))
    # The region is 6 px tall after rotation and 2 px wide: x = 11 lies on its edge.
    assert out.ignored.tolist() == [False, True, False]
    assert out.gt_index.tolist() == [0, -1, -1]
