"""VOC07 11-point and all-point AP."""

import numpy as np
import pytest

from rsdet.evaluation.voc_ap import voc07_ap, voc12_ap


def test_voc07_recall_exactly_three_tenths_misses_the_point():
    # np.arange(0, 1.1, 0.1)[3] == 0.30000000000000004 > 3 / 10.
    rec, prec = np.array([0.1, 0.2, 3 / 10]), np.ones(3)
    assert voc07_ap(rec, prec) == pytest.approx(3 / 11)
    # A recall one ulp above reaches it.
    assert voc07_ap(np.array([np.nextafter(0.30000000000000004, 1)]), np.ones(1)) == pytest.approx(
        4 / 11
    )


def test_voc07_empty_and_nan_recall_give_zero():
    assert voc07_ap(np.zeros(0), np.zeros(0)) == 0.0
    assert voc07_ap(np.array([np.nan]), np.array([0.0])) == 0.0


def test_voc07_full_recall_half_precision():
    assert voc07_ap(np.array([1.0]), np.array([0.5])) == pytest.approx(0.5)


def test_voc12_area_under_envelope():
    # rec [.5, .5, 1], prec [1, .5, 2/3] -> .5 * 1 + .5 * 2/3 = 5/6.
    rec, prec = np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3])
    assert voc12_ap(rec, prec) == pytest.approx(5 / 6)
    assert voc12_ap(np.zeros(0), np.zeros(0)) == 0.0
