"""Place gazetteer: find French regions and foreign countries named in an article.

``Gazetteer.load()`` reads the file compiled by ``gazetteer_build`` (a dict from normalised
n-grams to candidates). ``find`` tokenises once and finds every n-gram of 1-6 tokens in one
Aho-Corasick pass over the normalised tokens, keeping the longest match at each token; each match is then checked against its surroundings (capitalisation,
"à X", a first name or a street word before it) and homonyms are resolved by the other
evidence in the same article. ``locate`` weighs the accepted hits into regions, countries and
a France-wide flag.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from itertools import accumulate, repeat
from pathlib import Path
from string import ascii_lowercase, digits
from typing import Any

import ahocorasick
import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein
from unidecode import unidecode

from classifiers import places_data as pd
from classifiers.gazetteer_build import (
    DEFAULT_PATH,
    F_ALL,
    F_CAP,
    F_CORR,
    F_EN_WEAK,
    F_PAREN,
    F_UPPER,
    F_WEAK,
    KINDS,
    normalize,
    write,
)
from classifiers.taxonomy import REGIONS
from classifiers.text import LATIN_FOLD, Fold, strip_accents

assert tuple(pd.REGION_CODES.values()) == REGIONS, "places_data and taxonomy disagree"

MAX_TEXT_CHARS = 20_000
MAX_NGRAM = 6

# Tuned on the seeds and the labelled corpus (see classifiers/gazetteer_eval.py).
KIND_WEIGHT = {
    "region": 3.0,
    "alias": 3.0,
    "former_region": 2.0,
    "department": 2.0,
    "institution": 2.5,
    "demonym": 1.2,
    "commune": 1.0,
    "country": 2.5,
    "foreign_city": 2.0,
}
TITLE_FACTOR = 3.0
LEAD_CHARS = 400
LEAD_FACTOR = 1.5
TAIL_CHARS = 3000
TAIL_FACTOR = 0.7
COMPARISON_FACTOR = 0.3
REGION_MIN = 2.0
REGION_REL = 0.3
COUNTRY_MIN = 2.6
COOP_FACTOR = 1.3
COUNTRY_REL = 0.3
COUNTRY_DEMONYM_WEIGHT = 0.8
HINT_PRIOR = 1.0
NATIONAL_MIN = 1.5

_SPLIT = re.compile(r"([^\W_]+)")
_ASCII_SPLIT = re.compile(r"([a-z0-9]+)")
_TAG = re.compile(r"<[^<>]{0,400}>")
_SCRIPT = re.compile(r"<(script|style)\b.*?</\1\s*>", re.S | re.I)
_EN_WORDS = frozenset("the and of to with for is on are was by from this that".split())  # noqa: SIM905
_FR_WORDS = frozenset("le la les et des du pour avec est une dans sur qui aux".split())  # noqa: SIM905
_LANGUAGE = dict.fromkeys(_EN_WORDS, 1) | dict.fromkeys(_FR_WORDS, -1)
_PARTICLES = frozenset("de la le les du des d l en et sur sous au aux".split())  # noqa: SIM905
_SENTENCE_END = frozenset('.!?:;»"“”•|\n')
_HOMONYM_DEFAULT = {k: pd.REGION_CODES[v] for k, v in pd.HOMONYM_DEFAULT.items()}
_DEPT_CONTEXT = frozenset({"le", "la", "l", "les"})
# Words just before a foreign place that make it a partner rather than a passing mention.
_COOP_WORDS = frozenset(
    {
        "avec",
        "with",
        "partenariat",
        "partenaire",
        "partenaires",
        "partner",
        "partners",
        "partnership",
        "cooperation",
        "coopere",
        "cooperent",
        "accord",
        "accords",
        "alliance",
        "allient",
        "jumelage",
        "jumelee",
        "delegation",
        "delegations",
        "entente",
        "convention",
        "conventions",
        "memorandum",
        "protocole",
        "signe",
        "signent",
        "signed",
        "sign",
        "homologues",
        "homologue",
        "counterpart",
        "counterparts",
    }
)
# An organisation a foreign place or nationality qualifies ("la start-up suédoise", "a Swedish
# company", "originaire de Madagascar", "Evroc (Suède)"): the country of an actor of the news,
# not a passing mention.
_ACTOR_NOUNS = frozenset(
    {
        "startup",
        "startups",
        "entreprise",
        "entreprises",
        "societe",
        "groupe",
        "firme",
        "pme",
        "editeur",
        "company",
        "companies",
        "firm",
        "firms",
        "group",
        "university",
        "universite",
        "laboratoire",
        "lab",
    }
)
_ORIGIN_WORDS = frozenset(
    {"originaire", "originaires", "basee", "basees", "based", "headquartered", "issue", "issues"}
)
_STREET_KINDS = frozenset({"commune", "department", "former_region", "region", "alias"})
_FOREIGN_CONTEXT = frozenset(
    {"a", "au", "aux", "en", "in", "at", "from", "near", "vers", "depuis", "ville", "city"}
)
# Paris is named in passing far more often than any other city (venues, the State).
_CITY_FACTOR = {"Paris": 0.65}
# Surfaces that place a national article in Paris only as its venue.
_CAPITAL = frozenset(
    {"paris", "vivatech", "viva technology", "elysee", "porte de versailles", "station f"}
)

# How user lookups rank the kinds of a name ("Lille" the commune, "Nord" the department...).
_LOOKUP_ORDER = {
    "region": 0,
    "alias": 1,
    "former_region": 2,
    "department": 3,
    "institution": 4,
    "commune": 5,
    "demonym": 6,
}
FUZZY_MIN_POPULATION = 5000


@dataclass(frozen=True)
class PlaceHit:
    """One accepted mention of a place in the title or the text."""

    surface: str
    kind: str
    region: str | None
    country: str | None
    start: int
    in_title: bool


@dataclass(frozen=True)
class Location:
    """Where an article happens: regions, foreign countries and France-wide scope."""

    regions: tuple[str, ...]
    region_scores: dict[str, float]
    countries: tuple[str, ...]
    country_scores: dict[str, float]
    national: bool
    national_score: float
    evidence: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class _Match:
    """A key matched in the text, before its candidates are resolved."""

    key: str
    cands: list[list[Any]]
    surface: str
    start: int
    in_title: bool
    context: bool
    comparison: bool
    english: bool
    coop: bool = False
    actor: bool = False
    # Offset where the token before ends when only "(" or "(ex-" sits between: an alias.
    aside: int = -1
    hits: list[PlaceHit] = field(default_factory=list)


# Typographic punctuation is a separator: folded here so that French text (apostrophes,
# guillemets, non-breaking spaces) never takes strip_accents' per-character path.
_FOLD_SIGNS = {c: "?" for c in map(ord, "’‘“”«»–—\u00a0\u202f\u2009•·")}
# Other signs of the press, folded here as strip_accents and the "?" for what is left would fold
# them one by one (the euro sign, superscript digits), so their text stays on the fast path.
_FOLD_SIGNS |= {
    ord(c): strip_accents(c).encode("ascii", "replace").decode("ascii") for c in "€°›‹©®²³¹"
}
_FOLD = Fold({**LATIN_FOLD, **_FOLD_SIGNS, 0x2026: "."})
# In folded text, every character but [a-z0-9] separates tokens.
_SEPARATE = {c: " " for c in range(128) if chr(c) not in ascii_lowercase + digits}
_WORD_BYTE = np.zeros(256, dtype=bool)
_WORD_BYTE[np.frombuffer((ascii_lowercase + digits).encode("ascii"), dtype=np.uint8)] = True
_ENTRY, _CUE = 1, 2  # what a key of the automaton is: a place entry, a national cue, or both


def _fold(text: str) -> str:
    """Lowercase ASCII version of a text with the same word boundaries (in C, not per token).

    Accents are removed (classifiers.text); any other non-ASCII character becomes "?", a separator.
    """
    if text.isascii():
        return text.lower()
    folded = _FOLD(text)
    if not folded.isascii():
        folded = strip_accents(folded)
    return folded.encode("ascii", "replace").decode("ascii").lower()


def _bounds(folded: str) -> list[int]:
    """Start and end offsets of the [a-z0-9] runs of lowercase ASCII text, alternately, then
    its length (as the running sum of the parts of _ASCII_SPLIT.split would give them)."""
    word = np.zeros(len(folded) + 2, dtype=bool)
    word[1:-1] = _WORD_BYTE[np.frombuffer(folded.encode("ascii"), dtype=np.uint8)]
    edges: list[int] = np.flatnonzero(word[1:] != word[:-1]).tolist()
    edges.append(len(folded))
    return edges


class _Tokens:
    """Word tokens of a text: normalised forms and offsets, split once.

    When folding kept every character in place (the usual case) the folded text alone is split,
    in C: separators become spaces for str.split, and numpy finds the offsets. Otherwise
    ``re.split`` with a capturing group gives separators and words alternately, so offsets come
    from a running sum of lengths.
    """

    __slots__ = ("_bounds", "_folded", "norm", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        folded = _fold(text)
        self._bounds: list[int] | None = None
        self._folded = folded
        if len(folded) == len(text):
            self.norm: list[str] = folded.translate(_SEPARATE).split()
            return
        nparts = _ASCII_SPLIT.split(folded)
        parts = _SPLIT.split(text)
        if len(parts) != len(nparts):  # a character changed class: fold per token
            nparts = [p if k % 2 == 0 else _norm_token(p) for k, p in enumerate(parts)]
        self.norm = nparts[1::2]
        self._bounds = list(accumulate(map(len, parts)))

    @property
    def bounds(self) -> list[int]:
        """Start and end offset of each token in the text, alternately (then its length);
        found on first use: a title without any place never needs them."""
        if self._bounds is None:
            self._bounds = _bounds(self._folded)
        return self._bounds

    def __len__(self) -> int:
        return len(self.norm)


# The national cues of a title or a text: its tokens, (start, end, key) of each, text, weight.
_Cues = tuple[_Tokens, list[tuple[int, int, str]], str, float]


class _Keys:
    """Every key of a table of normalised n-grams (up to MAX_NGRAM words) found in the tokens
    of a text, by one Aho-Corasick pass over the tokens joined by single spaces."""

    def __init__(self, entries: Iterable[str], cues: Iterable[str]) -> None:
        kinds: dict[str, int] = {}
        for key in entries:
            kinds[key] = kinds.get(key, 0) | _ENTRY
        for key in cues:
            kinds[key] = kinds.get(key, 0) | _CUE
        self._automaton = ahocorasick.Automaton()
        for key, kind in kinds.items():
            words = key.count(" ") + 1
            if key and words <= MAX_NGRAM:
                # Spaces on both sides: a key matches whole tokens only.
                self._automaton.add_word(f" {key} ", (len(key) + 2, words, key, kind))
        self._automaton.make_automaton()

    def longest(
        self, norms: list[str]
    ) -> tuple[list[tuple[int, int, str]], list[tuple[int, int, str]]]:
        """([(start token, end token, key)] of the longest entry starting at each token,
        the same for the national cues), in reading order."""
        joined = f" {' '.join(norms)} "
        spaces = joined.count
        entries: dict[int, tuple[int, int, str]] = {}
        cues: dict[int, tuple[int, int, str]] = {}
        # Matches come by end offset: of the keys starting at one token, the longest comes last.
        for last, (size, words, key, kind) in self._automaton.iter(joined):
            start = spaces(" ", 0, last - size + 2) - 1  # the tokens before this one
            if kind & _ENTRY:
                entries[start] = (start, start + words, key)
            if kind & _CUE:
                cues[start] = (start, start + words, key)
        return sorted(entries.values()), sorted(cues.values())


@lru_cache(maxsize=65536)
def _norm_token(tok: str) -> str:
    """Normalise one token (accents stripped, lowercase)."""
    if tok.isascii():
        return tok.lower()
    return normalize(unidecode(tok)).replace(" ", "")


def _is_cap(tok: str) -> bool:
    return tok[:1].isupper() or tok[:1].isdigit()


class Gazetteer:
    """Compiled place tables plus the matching and scoring rules."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._regions: list[str] = list(data["regions"])
        kinds: list[str] = list(data.get("kinds", KINDS))
        self._entries: dict[str, list[list[Any]]] = {}
        for key, cands in data["entries"].items():
            self._entries[key] = [
                [kinds[c[0]], self._regions[c[1]] if c[1] >= 0 else None, c[2] or None, c[3], c[4]]
                for c in cands
            ]
        self._national: dict[str, float] = dict(pd.NATIONAL_CUES)
        self._keys = _Keys(self._entries, self._national)

    # The user-lookup tables are built on first use: a tagging worker never needs them, and
    # building them is most of the load time.

    @cached_property
    def _lookup(self) -> dict[str, tuple[str, str]]:
        return self._build_lookup()

    @cached_property
    def _fuzzy_names(self) -> dict[str, tuple[str, int, int]]:
        """Edit-distance suggestions: regions, departments and towns of some size, each as
        (region, rank of its kind, population)."""
        names: dict[str, tuple[str, int, int]] = {}
        for k, cands in self._entries.items():
            c = cands[0]
            if not c[1] or c[0] not in _LOOKUP_ORDER or len(k) < 3 or k.isdigit():
                continue
            if c[0] == "commune" and c[3] < FUZZY_MIN_POPULATION:
                continue
            if c[0] in ("institution", "demonym"):
                continue
            names[k] = (c[1], _LOOKUP_ORDER[c[0]], int(c[3] or 0))
        return names

    @cached_property
    def _suggest_names(self) -> dict[str, str]:
        # Suggestions come from region-level names only: a fuzzy hit on one of 15,000
        # communes says little about which region the user meant.
        return {
            k: c[1]
            for k, cands in self._entries.items()
            for c in cands[:1]
            if c[1]
            and c[0] in ("region", "alias", "former_region", "department")
            and len(k) > 2
            and not k.isdigit()
        }

    @classmethod
    def load(cls, path: Path | None = None) -> Gazetteer:
        """Load the compiled gazetteer, building it first when the file is missing."""
        path = path or DEFAULT_PATH
        if not path.exists():
            write(path)
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            return cls(json.load(fh))

    # ---- user lookups -------------------------------------------------------------------

    def _build_lookup(self) -> dict[str, tuple[str, str]]:
        lookup: dict[str, tuple[str, str]] = {}
        rank: dict[str, int] = {}
        for key, cands in self._entries.items():
            regional = [c for c in cands if c[1] and c[0] in _LOOKUP_ORDER]
            if not regional:
                continue
            best = min(_LOOKUP_ORDER[c[0]] for c in regional)
            region = _HOMONYM_DEFAULT.get(key) or next(
                c[1] for c in regional if _LOOKUP_ORDER[c[0]] == best
            )
            kind = next(c[0] for c in regional if _LOOKUP_ORDER[c[0]] == best)
            if key not in rank or best < rank[key]:
                lookup[key] = (region, kind)
                rank[key] = best
        for name in self._regions:
            lookup[normalize(name)] = (name, "region")
        return lookup

    def resolve_place(self, query: str) -> tuple[str, str] | None:
        """(region, kind of place) for a user query ("HDF", "lille", "59", "Alsace"), else None.

        kind is region, alias, former_region, department, institution, commune or demonym.
        """
        key = normalize(query)
        if not key:
            return None
        if key in self._lookup:
            return self._lookup[key]
        for prefix in ("region ", "la region ", "la ", "le ", "l ", "les ", "departement "):
            if key.startswith(prefix) and key[len(prefix) :] in self._lookup:
                return self._lookup[key[len(prefix) :]]
        if key.isdigit() and len(key) == 1:
            return self._lookup.get("0" + key)
        return None

    def resolve_region(self, query: str) -> str | None:
        """Exact region name for a user query ("HDF", "lille", "59", "Alsace"), else None."""
        found = self.resolve_place(query)
        return found[0] if found else None

    def suggest_places(self, query: str, limit: int = 3) -> list[tuple[str, str]]:
        """Nearest place names by edit distance, cities included: [("Lille", "Hauts-de-France")].

        Closer names first; at equal distance regions and departments before cities, bigger
        cities first. A region name comes back as (region, region).
        """
        key = normalize(query)
        if len(key) < 3:
            return []
        names = self._fuzzy_names
        cutoff = 1 if len(key) <= 4 else 2 if len(key) <= 8 else 3
        found = process.extract(
            key, list(names), scorer=Levenshtein.distance, limit=50, score_cutoff=cutoff
        )
        ranked = sorted(found, key=lambda f: (f[1], names[f[0]][1], -names[f[0]][2]))
        out: list[tuple[str, str]] = []
        for name, _, _ in ranked:
            region = names[name][0]
            shown = region if normalize(region) == name else name.title()
            if (shown, region) not in out:
                out.append((shown, region))
            if len(out) >= limit:
                break
        return out

    def suggest_regions(self, query: str, limit: int = 3) -> list[str]:
        """Closest region names for an unknown query, best first (through cities too)."""
        out: list[str] = []
        for _, region in self.suggest_places(query, limit=10):
            if region not in out:
                out.append(region)
        key = normalize(query)
        if len(out) < limit and key:
            names = self._suggest_names
            for k, _, _ in process.extract(
                key, list(names), scorer=fuzz.WRatio, limit=40, score_cutoff=60
            ):
                if names[k] not in out:
                    out.append(names[k])
                if len(out) >= limit:
                    break
        return out[:limit]

    # ---- matching -----------------------------------------------------------------------

    def find(self, text: str, title: str = "") -> list[PlaceHit]:
        """Accepted place mentions in a text (and an optional title), in reading order."""
        matches, _ = self._scan(title, text)
        return [h for m in matches for h in m.hits]

    def _scan(self, title: str, text: str) -> tuple[list[_Match], list[_Cues]]:
        """Match title and text; also return the national cues found in each."""
        title = title[:2000]
        body = text[:MAX_TEXT_CHARS]
        if "<" in body:
            blank = lambda m: " " * len(m.group())  # noqa: E731 - keeps offsets in place
            body = _TAG.sub(blank, _SCRIPT.sub(blank, body))
        ttoks = _Tokens(title)
        btoks = _Tokens(body)
        english = _is_english(ttoks, btoks)
        matches: list[_Match] = []
        sources: list[_Cues] = []
        for toks, src, in_title, factor in ((ttoks, title, True, 2.0), (btoks, body, False, 1.0)):
            found, cues = self._keys.longest(toks.norm)
            matches.extend(self._match(toks, found, src, in_title, english))
            sources.append((toks, cues, src, factor))
        self._resolve(matches)
        return matches, sources

    def _match(
        self,
        toks: _Tokens,
        found: list[tuple[int, int, str]],
        src: str,
        in_title: bool,
        english: bool,
    ) -> Iterator[_Match]:
        nxt = 0
        for i, end, key in found:
            if i < nxt:
                continue
            m = self._check(toks, i, end, key, src, in_title, english)
            if m is None:
                continue
            if m.cands:
                yield m
            nxt = end

    def _check(
        self, toks: _Tokens, i: int, end: int, key: str, src: str, in_title: bool, english: bool
    ) -> _Match | None:
        """Surface rules for a matched key; None when the surface does not qualify."""
        cands = self._entries[key]
        kind, flags = cands[0][0], cands[0][4]
        norms, bounds = toks.norm, toks.bounds
        start, stop = bounds[2 * i], bounds[2 * end - 1]
        if flags & F_CAP:
            k = end - 1
            while k > i and (norms[k] in _PARTICLES or len(norms[k]) < 2):
                k -= 1
            ch = src[bounds[2 * k]]
            if not (ch.isupper() or ch.isdigit()):
                return None
        if flags & F_UPPER and not all(
            src[bounds[2 * k] : bounds[2 * k + 1]].isupper() or norms[k].isdigit()
            for k in range(i, end)
        ):
            return None
        if flags & F_PAREN and not (src[start - 1 : start] == "(" and src[stop : stop + 1] == ")"):
            return None
        if kind == "stop":
            return _Match(key, [], "", start, in_title, False, False, english)
        if (
            kind == "commune"
            and src[stop : stop + 1] == "-"
            and src[stop + 1 : stop + 2].isupper()
            and cands[0][3] < 100_000
        ):
            # "Croix-Rousse", "Albert-Camus": the commune is the head of a longer name.
            return None
        prev_norm = norms[max(0, i - 3) : i]
        p_norm = prev_norm[-1] if prev_norm else ""
        if p_norm and kind != "institution":
            p_start, p_end = bounds[2 * i - 2], bounds[2 * i - 1]
            if (
                p_norm in pd.FIRST_NAMES
                and kind != "country"
                and src[p_start].isupper()
                and src[p_end:start].strip() in ("", "-")
            ):
                return None
            if p_norm in pd.TITLES and kind in ("commune", "demonym", "department"):
                return None
            if (
                kind in _STREET_KINDS
                and (p_norm in pd.STREET_WORDS or p_norm in _PARTICLES)
                and not pd.STREET_WORDS.isdisjoint(prev_norm)
            ):
                return None
        coop = actor = False
        aside = -1
        if kind in ("country", "foreign_city") or (kind == "demonym" and cands[0][2]):
            context = p_norm in _FOREIGN_CONTEXT or (kind == "country" and p_norm in _DEPT_CONTEXT)
            coop = not _COOP_WORDS.isdisjoint(norms[max(0, i - 12) : i])
            actor = _is_actor(norms, bounds, src, i, end, kind)
            k = i - 1 if p_norm == "ex" else i
            if k > 0 and src[bounds[2 * k - 1] : bounds[2 * k]].strip() == "(":
                aside = bounds[2 * k - 1]
        else:
            context = p_norm in pd.PLACE_CONTEXT or (
                kind == "department" and p_norm in _DEPT_CONTEXT
            )
        if not context:
            after = src[stop : stop + 3].lstrip()[:1]
            context = after == "(" or src[start - 1 : start] == "("
            if not context and not p_norm and in_title and kind in ("commune", "foreign_city"):
                # "Lille : la start-up ..." - a title that opens with a place is a dateline.
                context = after in (":", ",", "-", "–")
        comparison = not pd.COMPARISON_CONTEXT.isdisjoint(prev_norm)
        return _Match(
            key,
            cands,
            src[start:stop],
            start,
            in_title,
            context,
            comparison,
            english,
            coop,
            actor,
            aside,
        )

    def _resolve(self, matches: list[_Match]) -> None:
        """Choose a candidate per match and drop weak ones nothing corroborates."""
        support: dict[str, int] = {}
        for m in matches:
            if not m.cands:
                continue
            flags = m.cands[0][4]
            unique = len(m.cands) == 1 or flags & F_ALL
            strong = not flags & (F_WEAK | F_CORR) and not (m.english and flags & F_EN_WEAK)
            if unique and strong:
                for c in m.cands:
                    label = c[1] or c[2]
                    support[label] = support.get(label, 0) + 1
        # A weak country name (curated: not a GeoNames town) in the title that the text repeats
        # is what the article is about ("Boston et Lyon ..."), not a homonym.
        titled = {m.key for m in matches if m.in_title and m.cands and m.cands[0][0] == "country"}
        repeated = titled & {m.key for m in matches if not m.in_title} if titled else titled
        for m in matches:
            if not m.cands:
                continue
            flags = m.cands[0][4]
            if m.key in repeated:
                flags &= ~F_WEAK
            chosen = m.cands if flags & F_ALL else [self._choose(m, support)]
            c0 = chosen[0]
            label = c0[1] or c0[2]
            own = 1 if (len(m.cands) == 1 or flags & F_ALL) and not flags & (F_WEAK | F_CORR) else 0
            corroborated = support.get(label, 0) - own > 0
            if flags & F_CORR and not corroborated:
                continue
            if flags & F_WEAK and not (m.context or corroborated):
                continue
            if m.english and flags & F_EN_WEAK and not (m.context or corroborated):
                continue
            if (
                len(m.cands) > 1
                and not flags & F_ALL
                and not (m.context or corroborated)
                and (c0[0] == "commune" and c0[3] < 20000)
            ):
                continue
            m.hits = [PlaceHit(m.surface, c[0], c[1], c[2], m.start, m.in_title) for c in chosen]

    def _choose(self, m: _Match, support: dict[str, int]) -> list[Any]:
        """Pick the homonym that the rest of the article supports."""
        if len(m.cands) == 1:
            return m.cands[0]
        backed = [c for c in m.cands if support.get(c[1] or c[2], 0) > 0]
        if backed:
            return max(backed, key=lambda c: support.get(c[1] or c[2], 0))
        default = _HOMONYM_DEFAULT.get(m.key)
        if default:
            for c in m.cands:
                if c[1] == default:
                    return c
        for c in m.cands:
            if c[0] == "commune" and c[3] >= 20000:
                return c
        return m.cands[0]

    # ---- scoring ------------------------------------------------------------------------

    def locate(self, title: str, text: str, region_hint: str | None = None) -> Location:
        """Regions, foreign countries and national scope of one article."""
        matches, sources = self._scan(title, text)
        region_raw: dict[str, float] = {}
        country_raw: dict[str, float] = {}
        evidence: dict[str, list[str]] = {}
        region_kinds: dict[str, set[str]] = {}
        last: tuple[bool, int, str | None] = (False, -1, None)
        for m in matches:
            if m.hits and m.aside >= 0 and last == (m.in_title, m.aside, m.hits[0].country):
                # "Meta (ex-Facebook)", "Alphabet (Google)": one actor named twice.
                continue
            if m.hits:
                last = (m.in_title, m.start + len(m.surface), m.hits[0].country)
            for h in m.hits:
                w = _hit_weight(h, m)
                if h.region:
                    region_raw[h.region] = region_raw.get(h.region, 0.0) + w
                    region_kinds.setdefault(h.region, set()).add(m.key)
                    label = h.region
                elif h.country:
                    if m.actor:
                        w = max(w, COUNTRY_MIN)
                    elif h.kind == "demonym":
                        w *= COUNTRY_DEMONYM_WEIGHT / KIND_WEIGHT["demonym"]
                    country_raw[h.country] = country_raw.get(h.country, 0.0) + w
                    label = h.country
                else:
                    continue
                ev = evidence.setdefault(label, [])
                if h.surface not in ev:
                    ev.append(h.surface)
        hint = region_hint if region_hint in REGIONS else None
        if hint:
            region_raw[hint] = region_raw.get(hint, 0.0) + HINT_PRIOR

        national_raw, national_ev = self._national_cues(sources)
        best = max(region_raw.values(), default=0.0)
        regions = [
            r
            for r, s in sorted(region_raw.items(), key=lambda kv: -kv[1])
            if s >= REGION_MIN and s >= REGION_REL * best
        ]
        national_score = national_raw / (national_raw + 0.5 * best + 1.0)
        national = national_raw >= NATIONAL_MIN and national_score >= 0.5
        if national and "Île-de-France" in regions and region_kinds["Île-de-France"] <= _CAPITAL:
            # Ministries, national agencies and national shows sit in Paris: that is not
            # Île-de-France news.
            regions.remove("Île-de-France")
        if hint and not regions and not national:
            regions = [hint]
        if national:
            evidence["national"] = national_ev
        bestc = max(country_raw.values(), default=0.0)
        countries = [
            c
            for c, s in sorted(country_raw.items(), key=lambda kv: -kv[1])
            if s >= COUNTRY_MIN and s >= COUNTRY_REL * bestc
        ]
        scale_r = max(best, 4.0)
        scale_c = max(bestc, 4.0)
        return Location(
            regions=tuple(regions),
            region_scores={r: round(min(1.0, s / scale_r), 3) for r, s in region_raw.items()},
            countries=tuple(countries),
            country_scores={c: round(min(1.0, s / scale_c), 3) for c, s in country_raw.items()},
            national=national,
            national_score=round(national_score, 3),
            evidence={
                k: v
                for k, v in evidence.items()
                if k in regions or k in countries or k == "national"
            },
        )

    def _national_cues(self, sources: list[_Cues]) -> tuple[float, list[str]]:
        total = 0.0
        ev: list[str] = []
        cues = self._national
        for toks, found, src, factor in sources:
            nxt = 0
            for i, end, key in found:
                if i < nxt:
                    continue
                total += cues[key] * factor
                surface = src[toks.bounds[2 * i] : toks.bounds[2 * end - 1]]
                if surface not in ev:
                    ev.append(surface)
                nxt = end
        return total, ev


def _hit_weight(h: PlaceHit, m: _Match) -> float:
    w = KIND_WEIGHT.get(h.kind, 1.0)
    if h.kind == "commune":
        pop = next((c[3] for c in m.cands if c[1] == h.region), 0)
        w = 1.0 + min(1.0, max(0.0, math.log10(max(pop, 1)) - 4.0) / 1.3)
        w *= _CITY_FACTOR.get(h.surface, 1.0)
    if h.in_title:
        w *= TITLE_FACTOR
    elif h.start < LEAD_CHARS:
        w *= LEAD_FACTOR
    elif h.start > TAIL_CHARS:
        w *= TAIL_FACTOR
    if m.comparison:
        w *= COMPARISON_FACTOR
    if m.coop and h.country:
        w *= COOP_FACTOR
    return w


def _is_actor(norms: list[str], bounds: list[int], src: str, i: int, end: int, kind: str) -> bool:
    """Whether a foreign place or nationality names where an organisation comes from."""
    before = norms[max(0, i - 3) : i]
    if not _ORIGIN_WORDS.isdisjoint(before):
        return True
    if kind == "country":
        # "Evroc (Suède)": a country in parentheses right after a name.
        start, stop = bounds[2 * i], bounds[2 * end - 1]
        return (
            i > 0
            and src[start - 1 : start] == "("
            and src[stop : stop + 1] == ")"
            and _is_cap(src[bounds[2 * i - 2] : bounds[2 * i - 1]])
        )
    if kind != "demonym":
        return False
    prev = before[-1] if before else ""
    if prev == "up" and len(before) > 1 and before[-2] == "start":
        prev = "startup"
    nxt = norms[end : end + 2]
    after = "startup" if nxt == ["start", "up"] else nxt[0] if nxt else ""
    # The organisation is named right after: "la start-up suédoise Evroc", "Swedish firm Evroc".
    if prev in _ACTOR_NOUNS:
        name = end
    elif after in _ACTOR_NOUNS:
        name = end + (2 if after == "startup" and nxt == ["start", "up"] else 1)
    else:
        return False
    return name < len(norms) and _is_cap(src[bounds[2 * name] : bounds[2 * name + 1]])


def _is_english(*token_lists: _Tokens) -> bool:
    # English words count +1, French ones -1 (the lists share no word): one pass, in C.
    return sum(sum(map(_LANGUAGE.get, toks.norm[:400], repeat(0))) for toks in token_lists) > 0
