"""Where the public may see a protected rally: the centre of its ~1 km grid cell."""

from __future__ import annotations

import math

# 0.01° of latitude is 1.11 km; rows of cells are that tall everywhere.
CELL_DEGREES = 0.01
_ROWS = round(180 / CELL_DEGREES)


def snap_to_grid(latitude: float, longitude: float) -> tuple[float, float]:
    """The centre of the fixed grid cell that holds the point (the same for every call).

    Each row is cut into a whole number of cells about as wide as they are tall, so the cells
    meet exactly at the antimeridian and never shrink to nothing near the poles.
    """
    row = min(math.floor((latitude + 90.0) / CELL_DEGREES), _ROWS - 1)
    centre_latitude = -90.0 + (row + 0.5) * CELL_DEGREES
    width_km_per_degree = math.cos(math.radians(centre_latitude))
    columns = max(1, math.floor(360.0 * width_km_per_degree / CELL_DEGREES))
    step = 360.0 / columns
    column = min(math.floor((longitude + 180.0) / step), columns - 1)
    centre_longitude = -180.0 + (column + 0.5) * step
    return round(centre_latitude, 6), round(centre_longitude, 6)


def public_position(latitude: float, longitude: float, protected: bool) -> tuple[float, float]:
    """The position a public page, map or feed may show."""
    return snap_to_grid(latitude, longitude) if protected else (latitude, longitude)
