import math

import numpy as np
import pytest
import torch

from rsdet.structures import HBoxes, RBoxes

PI = math.pi


def _same_rectangle(a: RBoxes, b: RBoxes, atol=1e-4):
    """Rectangles are equal when their corner sets are (in any order)."""
    ca, cb = a.corners(), b.corners()
    d = (ca[:, :, None, :] - cb[:, None, :, :]).norm(dim=-1)  # (N, 4, 4)
    return bool((d.min(dim=2).values < atol).all())


def test_canonical_form_is_le90():
    boxes = RBoxes([[0, 0, 2, 4, 0.3], [0, 0, 4, 2, 2.0], [0, 0, 4, 2, -PI / 2]]).regularized()
    w, h, t = boxes.widths, boxes.heights, boxes.angles
    assert (w >= h).all()
    assert ((t >= -PI / 2) & (t < PI / 2)).all()
    # (2, 4, 0.3) is the same rectangle as (4, 2, 0.3 + pi/2) -> wrapped to 0.3 - pi/2.
    assert boxes.tensor[0].tolist() == pytest.approx([0, 0, 4, 2, 0.3 - PI / 2])


def test_corner_order_is_clockwise_on_screen_from_top_left():
    corners = RBoxes([[5, 5, 4, 2, 0.0]]).corners()[0].tolist()
    assert corners == [[3, 4], [7, 4], [7, 6], [3, 6]]


def test_positive_angle_turns_the_width_axis_towards_plus_y():
    corners = RBoxes([[0, 0, 2, 0, PI / 2]]).corners()[0]
    # After +90 degrees the "right" end of the width axis points down the image (+y).
    assert corners[1].tolist() == pytest.approx([0, 1], abs=1e-6)


@pytest.mark.parametrize("order", [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1], [1, 3, 0, 2]])
def test_polygon_round_trip_any_corner_order(order):
    rng = np.random.default_rng(1)
    boxes = RBoxes(
        torch.tensor(
            np.stack(
                [
                    rng.uniform(0, 1000, 200),
                    rng.uniform(0, 1000, 200),
                    rng.uniform(1, 80, 200),
                    rng.uniform(1, 80, 200),
                    rng.uniform(-PI, PI, 200),
                ],
                1,
            ),
            dtype=torch.float64,
        )
    )
    corners = boxes.corners()[:, order]
    back = RBoxes.from_polygons(corners)
    assert _same_rectangle(back, boxes)
    assert torch.allclose(back.area(), boxes.area(), rtol=1e-9)


def test_degenerate_polygons_give_no_nan():
    polys = torch.tensor(
        [
            [3, 3, 3, 3, 3, 3, 3, 3],  # a point
            [0, 0, 10, 0, 10, 0, 0, 0],  # a segment
            [0, 0, 5, 5, 10, 10, 2, 2],  # collinear
        ],
        dtype=torch.float32,
    )
    boxes = RBoxes.from_polygons(polys)
    assert torch.isfinite(boxes.tensor).all()
    assert boxes.area().tolist() == pytest.approx([0, 0, 0], abs=1e-5)
    assert boxes.widths[1].item() == pytest.approx(10)


def test_from_polygons_fits_min_area_rectangle_of_a_non_rectangle():
    # A slightly skewed quadrilateral: the min-area rectangle must contain all 4 points.
    quad = torch.tensor([[0.0, 0, 10, 1, 10, 6, 0, 5]])
    box = RBoxes.from_polygons(quad)
    import shapely

    rect = shapely.Polygon(box.corners()[0].numpy())
    for x, y in quad.view(4, 2).tolist():
        assert rect.buffer(1e-4).contains(shapely.Point(x, y))
    assert box.area().item() <= 10 * 6 + 1e-4


@pytest.mark.parametrize("convention", ["le90", "le135", "oc"])
def test_convention_round_trips(convention):
    rng = np.random.default_rng(2)
    raw = RBoxes(
        torch.tensor(
            np.stack(
                [
                    rng.uniform(0, 100, 500),
                    rng.uniform(0, 100, 500),
                    rng.uniform(1, 50, 500),
                    rng.uniform(1, 50, 500),
                    rng.uniform(-7, 7, 500),
                ],
                1,
            )
        )
    )
    to = getattr(raw, f"to_{convention}")()
    back = getattr(RBoxes, f"from_{convention}")(to)
    assert _same_rectangle(back, raw)
    assert torch.allclose(back.tensor, raw.regularized().tensor, atol=1e-4)


def test_convention_ranges():
    raw = RBoxes(torch.tensor([[0, 0, 3, 5, a] for a in np.linspace(-7, 7, 301)]))
    le135 = raw.to_le135()
    assert ((le135[:, 4] >= -PI / 4) & (le135[:, 4] < 3 * PI / 4)).all()
    assert (le135[:, 2] >= le135[:, 3]).all()
    oc = raw.to_oc()
    assert ((oc[:, 4] > 0) & (oc[:, 4] <= PI / 2 + 1e-6)).all()


def test_oc_keeps_the_side_at_theta_as_width():
    # Axis-aligned 4 wide, 2 tall: in oc the angle is pi/2 and the width is the vertical side.
    oc = RBoxes([[0, 0, 4, 2, 0.0]]).to_oc()[0].tolist()
    assert oc == pytest.approx([0, 0, 2, 4, PI / 2])


def test_envelope_and_from_hboxes():
    h = HBoxes([[1, 2, 5, 4]])
    r = RBoxes.from_hboxes(h)
    assert r.tensor[0].tolist() == pytest.approx([3, 3, 4, 2, 0])
    assert r.envelope().tensor[0].tolist() == pytest.approx(h.tensor[0].tolist())
    rotated = RBoxes([[0, 0, 2, 2, PI / 4]]).envelope().tensor[0].tolist()
    assert rotated == pytest.approx([-math.sqrt(2), -math.sqrt(2), math.sqrt(2), math.sqrt(2)])
