"""Where the public may see a protected rally: the centre of its ~1 km grid cell."""

from __future__ import annotations

import math

# 0.01° of latitude is 1.11 km; rows of cells are that tall everywhere.
CELL_DEGREES = 0.01


def snap_to_grid(
    latitude: float, longitude: float, cell_degrees: float = CELL_DEGREES
) -> tuple[float, float]:
    """The centre of the fixed grid cell that holds the point (the same for every call).

    Each row is cut into a whole number of cells about as wide as they are tall, so the cells
    meet exactly at the antimeridian and never shrink to nothing near the poles.
    """
    rows = round(180 / cell_degrees)
    row = min(math.floor((latitude + 90.0) / cell_degrees), rows - 1)
    centre_latitude = -90.0 + (row + 0.5) * cell_degrees
    width_km_per_degree = math.cos(math.radians(centre_latitude))
    columns = max(1, math.floor(360.0 * width_km_per_degree / cell_degrees))
    step = 360.0 / columns
    column = min(math.floor((longitude + 180.0) / step), columns - 1)
    centre_longitude = -180.0 + (column + 0.5) * step
    return round(centre_latitude, 6), round(centre_longitude, 6)


# A degree of latitude is 111 km.
KM_PER_DEGREE = 111.0


def public_position(
    latitude: float, longitude: float, protected: bool, cell_km: float | None = None
) -> tuple[float, float]:
    """The position a public page, map or feed may show: a protected rally's is the centre of
    its grid cell (~1 km, or ``cell_km`` for a country at risk)."""
    if not protected:
        return latitude, longitude
    return snap_to_grid(latitude, longitude, cell_km / KM_PER_DEGREE if cell_km else CELL_DEGREES)
