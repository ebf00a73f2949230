"""Geocoding: first load, then 10,000 mixed queries; median and p95 per query and per kind.

Goals (issue 3): p95 under 1 ms once loaded; first load under 1.5 s.
"""

from __future__ import annotations

import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._support import percentile

LOAD = """
import sys, time
sys.path.insert(0, {root!r})
from rallyhub.places import gazetteer
gazetteer.configure({cache!r})
started = time.perf_counter()
gazetteer.get_gazetteer()
print(time.perf_counter() - started)
"""

QUERIES = {
    "exact": [
        "Stockholm",
        "Berlin",
        "Yerevan",
        "Milan",
        "London",
        "Istanbul",
        "Moscow",
        "Mexico City",
        "São Paulo",
        "Tbilisi",
        "Rome",
        "Paris",
        "Madrid",
        "Toronto",
    ],
    "accent-free": [
        "goteborg",
        "sao paulo",
        "malmo",
        "krakow",
        "zurich",
        "bogota",
        "medellin",
        "reykjavik",
        "brasilia",
        "cordoba",
    ],
    "other script": [
        "Москва",
        "Երևան",
        "東京",
        "Стокгольм",
        "Ciudad de México",
        "Milano",
        "Moskva",
        "Göteborg",
        "Αθήνα",
        "दिल्ली",
        "서울",
        "القاهرة",
    ],
    "city, country": [
        "Valencia, VE",
        "Valencia, Spain",
        "London, CA",
        "Moscow, Russia",
        "Santiago, Chile",
        "Córdoba, Argentina",
    ],
    "misspelt": [
        "Stockholn",
        "Berln",
        "Yerevn",
        "Londn",
        "Istambul",
        "Moskow",
        "Barcelna",
        "Amsterdm",
        "Lisbn",
        "Warszaw",
    ],
    "unknown": ["Xqzzyville", "Notaplace", "Qwertyuiop", "Zzzzz", "Blorptown"],
}


def first_load(cache: str) -> float:
    root = str(Path(__file__).resolve().parent.parent)
    output = subprocess.run(
        [sys.executable, "-c", LOAD.format(root=root, cache=cache)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(output.strip())


def main() -> None:
    with tempfile.TemporaryDirectory() as cache:
        cold = first_load(cache)
        warm = first_load(cache)
    print(
        f"first load: {cold:.2f} s building the index, {warm:.2f} s from the instance cache "
        "(goal < 1.5 s)"
    )
    from rallyhub.places.gazetteer import get_gazetteer

    gazetteer = get_gazetteer()
    rng = random.Random(2017)
    kinds = list(QUERIES)
    plan = [
        (kind, rng.choice(QUERIES[kind]))
        for kind in rng.choices(kinds, weights=[30, 15, 20, 10, 15, 10], k=10_000)
    ]
    timings: dict[str, list[float]] = {kind: [] for kind in kinds}
    for kind, query in plan:
        started = time.perf_counter()
        gazetteer.search(query)
        timings[kind].append(time.perf_counter() - started)
    every = [t for values in timings.values() for t in values]
    print(
        f"10,000 queries: median {percentile(every, 0.5) * 1e6:.0f} µs, "
        f"p95 {percentile(every, 0.95) * 1e6:.0f} µs (goal p95 < 1000 µs)"
    )
    for kind, values in timings.items():
        print(
            f"  {kind:14} n={len(values):5}  median {percentile(values, 0.5) * 1e6:7.0f} µs  "
            f"p95 {percentile(values, 0.95) * 1e6:7.0f} µs"
        )


if __name__ == "__main__":
    main()
