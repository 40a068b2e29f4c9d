"""The query language: one parser for /search, /region, /type, plain questions and alerts.

A query mixes regions (any gazetteer spelling: regions, departments, cities; several allowed;
``national``, ``France entière``), initiative types (French or English names and synonyms), a
period (``cette semaine``, ``7j``, ``depuis le 1er octobre``, ``entre ... et ...``), free words
and "quoted phrases" (matched on stems, accents ignored, by the store), ``OU``/``OR`` between
two of them, and exclusions (``-crypto``, ``-"mot composé"``). Greetings and the words of a
plain French or English question are dropped.

Pure: ``parse(text, gazetteer, now=..., tz=...)`` returns a ``Query``; nothing here reads the
clock, the database or the network, and no input makes it raise.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.query.model import NATIONAL, Query
from bot.query.period import Period, describe_period, period_at
from bot.query.stems import stem, term
from classifiers.gazetteer import Gazetteer
from classifiers.taxonomy import REGIONS, TYPE_ALIASES, TYPE_LABELS_EN, TYPE_LABELS_FR, TYPES
from classifiers.text import fold_key

MAX_QUERY_CHARS = 400  # the rest of a longer text is not read (and said so)
MAX_TERMS = 12
MAX_TERM_CHARS = 80
MAX_NGRAM = 6

# Words of a plain question or greeting, and French/English function words: never search terms.
STOP_WORDS = frozenset(
    """
    a au aux avec ce ces cet cette d de des du en et l la le les leur leurs un une ma mon
    mes ou par pour sur sous dans chez vers entre plus moins tres tout tous toute toutes qui
    que quoi quel quels quelle quelles dont se sa son ses y il ils elle elles on nous vous
    je j me m moi te toi s est sont etre ete ai as avez avons ont fait faire ne pas n qu c
    ca cela bonjour bonsoir salut hello coucou merci svp stp plait sil vous cherche
    cherchons cherchez chercher recherche voudrais voudrions veux voulons aimerais souhaite
    souhaiterais trouver trouve montre montrez montrer donne donnez donner affiche afficher
    liste lister voir peux pouvez pourriez dis dites connais existe existent ya quoi quelles
    news actu actus actualite actualites article articles info infos information
    informations nouvelles region regions departement ville the an of in on at to for from
    by with about and or is are was were be any some all me my i we you show find give list
    tell looking look want would like please hi hey thanks what which where there news
    latest mot mots motcle keyword keywords
    """.split()  # noqa: SIM905
)
# The bot only follows AI and digital innovation: these say nothing more about an item.
TOPIC_WORDS = ("intelligence artificielle", "artificial intelligence", "ia", "ai")
NATIONAL_WORDS = (
    "france entiere",
    "toute la france",
    "dans toute la france",
    "partout en france",
    "niveau national",
    "echelle nationale",
    "national",
    "nationale",
    "nationaux",
    "nationales",
    "nationwide",
    "france",
)
OR_WORDS = frozenset({"ou", "or", "|"})
_SUBJECTS = frozenset({"je", "j", "nous", "on", "i", "we"})
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
_QUOTES = str.maketrans({"«": '"', "»": '"', "“": '"', "”": '"', "„": '"', "‟": '"', "″": '"'})
_CHUNK = re.compile(r'(-?)"([^"]*)"?|(\S+)')
_PIECE = re.compile(r"[\W_]+")
_FOLDED_ALIASES: dict[str, str] = {fold_key(k): v for k, v in TYPE_ALIASES.items()}
_REGION_KEYS: dict[str, str] = {fold_key(r): r for r in REGIONS}
_ALIAS_STEMS: dict[str, str] = {
    stem(k): v for k, v in _FOLDED_ALIASES.items() if " " not in k and len(k) > 3
}


@dataclass
class _Builder:
    regions: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    period: Period | None = None
    groups: list[list[str]] = field(default_factory=list)
    excludes: list[str] = field(default_factory=list)
    places: list[tuple[str, str]] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    join_next: bool = False

    def add_region(self, region: str) -> None:
        self.join_next = False
        if region not in self.regions:
            self.regions.append(region)

    def add_type(self, kind: str) -> None:
        self.join_next = False
        if kind not in self.types:
            self.types.append(kind)

    def add_term(self, term: str, shown: str) -> None:
        term = term[:MAX_TERM_CHARS].strip()
        if not term or sum(map(len, self.groups)) >= MAX_TERMS:
            return
        if self.join_next and self.groups:
            if term not in self.groups[-1]:
                self.groups[-1].append(term)
        elif [term] not in self.groups:
            self.groups.append([term])
            if " " not in term:
                self.unknown.append(shown)
        self.join_next = False

    def add_exclude(self, term: str) -> None:
        term = term[:MAX_TERM_CHARS].strip()
        if term and term not in self.excludes and len(self.excludes) < MAX_TERMS:
            self.excludes.append(term)


def clean(text: str) -> str:
    """The text with control characters, bidi marks and null bytes removed, quotes unified."""
    text = unicodedata.normalize("NFC", _CONTROL.sub(" ", text or ""))
    return text.translate(_QUOTES)


@dataclass(frozen=True)
class _Word:
    fold: str
    shown: str


def _words(chunk: str) -> list[_Word]:
    """Folded words of a chunk, each with the form to show back."""
    out: list[_Word] = []
    for piece in _PIECE.split(chunk):
        folded = fold_key(piece).split()
        if len(folded) == 1:
            out.append(_Word(folded[0], piece))
        else:
            out.extend(_Word(f, f) for f in folded)
    return out


@dataclass(frozen=True)
class _Chunk:
    kind: str  # words | phrase | exclude | or
    words: tuple[_Word, ...] = ()
    text: str = ""


def _chunks(text: str) -> Iterator[_Chunk]:
    """The text as plain words, quoted phrases, exclusions and OR operators."""
    for m in _CHUNK.finditer(text):
        if m[3] is None:
            phrase = term(m[2])
            if phrase:
                yield _Chunk("exclude" if m[1] == "-" else "phrase", text=phrase)
            continue
        raw = m[3]
        if raw.lower() in OR_WORDS:
            yield _Chunk("or")
        elif raw.startswith("-") and len(raw) > 1 and term(raw):
            yield _Chunk("exclude", text=term(raw))
        else:
            yield _Chunk("words", words=tuple(_words(raw)))


def _national_at(folds: list[str], i: int) -> int:
    for phrase in NATIONAL_WORDS:
        parts = phrase.split()
        if folds[i : i + len(parts)] == parts:
            return len(parts)
    return 0


def _type_at(folds: list[str], i: int) -> tuple[str, int] | None:
    for n in (3, 2, 1):
        key = " ".join(folds[i : i + n])
        if len(folds) - i >= n and key in _FOLDED_ALIASES:
            return _FOLDED_ALIASES[key], n
    word = folds[i]
    if len(word) > 3 and (kind := _ALIAS_STEMS.get(stem(word))):
        return kind, 1
    return None


def _region_at(words: list[_Word], i: int, gazetteer: Gazetteer) -> tuple[str, int, str] | None:
    """The longest place name at words[i]: (region, words used, name as written)."""
    for n in range(min(MAX_NGRAM, len(words) - i), 0, -1):
        span = words[i : i + n]
        key = " ".join(w.fold for w in span)
        if key in _REGION_KEYS:  # a region's own name, even with a stop word in it ("Grand Est")
            return _REGION_KEYS[key], n, " ".join(w.shown for w in span)
        if span[0].fold in STOP_WORDS or (span[-1].fold in STOP_WORDS and n > 1):
            continue
        if n == 1 and (
            span[0].fold in STOP_WORDS or (span[0].fold.isdigit() and len(span[0].fold) != 2)
        ):
            continue
        shown = " ".join(w.shown for w in span)
        found = gazetteer.resolve_place(key)
        if found is None:
            continue
        region, kind = found
        # A lowercase common word that is also a small commune ("plan", "vie") stays a word.
        if kind == "commune" and not shown[:1].isupper() and n == 1:
            continue
        return region, n, shown
    return None


def parse(
    text: str,
    gazetteer: Gazetteer,
    *,
    now: datetime,
    tz: ZoneInfo | str = "Europe/Paris",
) -> Query:
    """Read a query; never raises. `now` and `tz` anchor the periods ('cette semaine')."""
    zone = tz if isinstance(tz, ZoneInfo) else _zone(tz)
    text = clean(text)
    truncated = len(text) > MAX_QUERY_CHARS
    b = _Builder()
    run: list[_Word] = []  # consecutive plain words, read together ("Pays de la Loire")
    for chunk in _chunks(text[:MAX_QUERY_CHARS]):
        if chunk.kind == "words":
            run.extend(chunk.words)
            continue
        _read_words(run, b, gazetteer, now, zone)
        run = []
        if chunk.kind == "or":
            b.join_next = bool(b.groups)
        elif chunk.kind == "phrase":
            b.add_term(chunk.text, chunk.text)
        else:
            b.add_exclude(chunk.text)
    _read_words(run, b, gazetteer, now, zone)
    return Query(
        regions=tuple(b.regions),
        types=tuple(b.types),
        period=b.period,
        terms=tuple(tuple(g) for g in b.groups),
        excludes=tuple(b.excludes),
        places=tuple(b.places),
        unknown=tuple(b.unknown),
        truncated=truncated,
    )


def _read_words(
    words: list[_Word], b: _Builder, gazetteer: Gazetteer, now: datetime, zone: ZoneInfo
) -> None:
    folds = [w.fold for w in words]
    i = 0
    while i < len(words):
        if (
            folds[i] in _SUBJECTS
            and folds[i + 1 : i + 2]
            and folds[i + 1] in STOP_WORDS | {"recherche", "recherchons"}
        ):
            i += 2  # "je recherche ...": a question, not the type 'recherche'
            continue
        if found_period := period_at(folds, i, now, zone):
            b.period, n = found_period
            i += n
            continue
        if n := _national_at(folds, i):
            b.add_region(NATIONAL)
            i += n
            continue
        topic = next((p for p in TOPIC_WORDS if folds[i : i + len(p.split())] == p.split()), None)
        if topic:
            i += len(topic.split())
            continue
        if found_type := _type_at(folds, i):
            b.add_type(found_type[0])
            i += found_type[1]
            continue
        if found_region := _region_at(words, i, gazetteer):
            region, n, shown = found_region
            b.add_region(region)
            if fold_key(shown) != fold_key(region):
                b.places.append((shown, region))
            i += n
            continue
        if folds[i] in OR_WORDS:
            b.join_next = bool(b.groups)
        elif folds[i] not in STOP_WORDS and (len(folds[i]) > 1 or folds[i].isdigit()):
            b.add_term(term(words[i].shown), words[i].shown)
        i += 1


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):  # an unknown or malformed name: Paris
        return ZoneInfo("Europe/Paris")


def resolve_type(text: str) -> str | None:
    """A type from one of its names ("financement", "Funding", "appel à projets"), else None."""
    folds = fold_key(text.replace("_", " ")).split()
    found = _type_at(folds, 0) if folds else None
    return found[0] if found and found[1] == len(folds) else None


def type_name(kind: str, lang: str) -> str:
    """The name of a type shown to users."""
    return (TYPE_LABELS_EN if lang == "en" else TYPE_LABELS_FR).get(kind, kind)


def explain(query: Query, lang: str, *, now: datetime, tz: ZoneInfo | str = "Europe/Paris") -> str:
    """What the parser understood, as plain text (to be escaped): 'Bretagne · financement · ...'."""
    zone = tz if isinstance(tz, ZoneInfo) else _zone(tz)
    en = lang == "en"
    parts: list[str] = []
    regions = [
        ("France entière" if not en else "France-wide") if r == NATIONAL else r
        for r in query.regions
    ]
    if regions:
        parts.append((" or " if en else " ou ").join(regions))
    if query.types:
        parts.append((" or " if en else " ou ").join(type_name(k, lang) for k in query.types))
    if query.period:
        parts.append(describe_period(query.period, lang, now, zone))
    for group in query.terms:
        shown = [(f"“{t}”" if en else f"« {t} »") if " " in t else t for t in group]
        parts.append((" or " if en else " ou ").join(shown))
    if query.excludes:
        parts.append(("without " if en else "sans ") + ", ".join(query.excludes))
    if not parts:
        return "all recent items" if en else "tous les articles récents"
    return " · ".join(parts)


def canonical(query: Query) -> str:
    """A query text that parses back to the same query (regions and types by name)."""
    parts: list[str] = []
    parts.extend("national" if r == NATIONAL else r for r in query.regions)
    parts.extend(TYPE_LABELS_FR[k] for k in query.types if k in TYPE_LABELS_FR)
    for group in query.terms:
        parts.append(" OU ".join(f'"{t}"' for t in group))
    parts.extend(f'-"{t}"' for t in query.excludes)
    return " ".join(parts)


# Every TYPES member has a name the parser reads back.
assert all(resolve_type(TYPE_LABELS_FR[k]) == k for k in TYPES)
