"""One distance formula for the whole application, and what the radius-search index stores.

Distances go through the unit vectors of the two points: the squared chord between them
grows strictly with the great-circle distance, and it takes only subtraction, multiplication
and addition. The database computes it exactly as Python does (IEEE doubles, same order of
operations), so SQL can sort rallies by distance on SQLite and PostgreSQL alike, without
trigonometric functions, and every distance shown agrees with the order found.
"""

from __future__ import annotations

import math

EARTH_RADIUS_KM = 6371.0088  # the mean radius (IUGG)
# The index groups rallies in bands of latitude this many to a degree (0.25° ≈ 28 km tall):
# a box reads one short run of longitudes per band instead of every longitude of its latitudes.
BANDS_PER_DEGREE = 4

Box = tuple[float, float, float, float]  # min_lat, max_lat, min_lon, max_lon
Vector = tuple[float, float, float]


def unit_vector(latitude: float, longitude: float) -> Vector:
    """The point on the unit sphere (x towards 0°E, z towards the North Pole).

    Rounded to 1e-15 (6 µm on the Earth): two points then differ by 0 or by enough that its
    square is no underflow, which PostgreSQL would refuse with an error.
    """
    phi, lam = math.radians(latitude), math.radians(longitude)
    return (
        round(math.cos(phi) * math.cos(lam), 15),
        round(math.cos(phi) * math.sin(lam), 15),
        round(math.sin(phi), 15),
    )


def chord_squared(a: Vector, b: Vector) -> float:
    """The squared straight-line distance between two unit vectors, summed as SQL sums it."""
    dx, dy, dz = a[0] - b[0], a[1] - b[1], a[2] - b[2]
    return dx * dx + dy * dy + dz * dz


def chord_squared_to_km(value: float) -> float:
    """The great-circle distance in km that a squared chord stands for."""
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(max(value, 0.0)) / 2))


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km on the mean sphere; within 0.6 % of the geodesic one."""
    return chord_squared_to_km(chord_squared(unit_vector(lat1, lon1), unit_vector(lat2, lon2)))


def latitude_band(latitude: float) -> int:
    """The band of the radius-search index a latitude falls in (0 at the South Pole)."""
    return math.floor((latitude + 90) * BANDS_PER_DEGREE)


def bands(min_lat: float, max_lat: float) -> list[int]:
    """Every band a range of latitudes touches."""
    return list(range(latitude_band(min_lat), latitude_band(max_lat) + 1))


def bounding_box(latitude: float, longitude: float, radius_km: float) -> list[Box]:
    """Boxes that together hold every point within ``radius_km`` of the centre.

    One box, or two where the circle crosses the antimeridian; a circle that reaches a pole
    spans every longitude.
    """
    angle = radius_km / EARTH_RADIUS_KM
    delta_lat = math.degrees(angle)
    min_lat, max_lat = latitude - delta_lat, latitude + delta_lat
    if min_lat <= -90 or max_lat >= 90 or angle >= math.pi / 2:
        return [(max(min_lat, -90.0), min(max_lat, 90.0), -180.0, 180.0)]
    # The widest longitude the circle reaches (at the tangent, not at the centre's latitude).
    ratio = math.sin(angle) / math.cos(math.radians(latitude))
    if ratio >= 1:
        return [(min_lat, max_lat, -180.0, 180.0)]
    delta_lon = math.degrees(math.asin(ratio))
    min_lon, max_lon = longitude - delta_lon, longitude + delta_lon
    if min_lon < -180:
        return [(min_lat, max_lat, min_lon + 360, 180.0), (min_lat, max_lat, -180.0, max_lon)]
    if max_lon > 180:
        return [(min_lat, max_lat, min_lon, 180.0), (min_lat, max_lat, -180.0, max_lon - 360)]
    return [(min_lat, max_lat, min_lon, max_lon)]
