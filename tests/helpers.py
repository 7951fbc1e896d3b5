"""Helpers shared by tests of several packages."""

import numpy as np
import shapely
from affine import Affine


def pixel_boxes(geoms, transform: Affine) -> np.ndarray:
    """Box polygons in map coordinates -> (N, 4) xyxy in the scene's pixels (via ``~transform``)."""
    coords = shapely.get_coordinates(np.asarray(geoms))  # 5 points per closed ring
    cols, rows = ~transform @ (coords[:, 0], coords[:, 1])
    cols, rows = np.asarray(cols).reshape(-1, 5), np.asarray(rows).reshape(-1, 5)
    return np.stack([cols.min(1), rows.min(1), cols.max(1), rows.max(1)], axis=1)
