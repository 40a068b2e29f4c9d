"""Stories: the same news retold by several outlets, grouped into one (pure, no I/O).

An item's fingerprint is the set of word stems of its title and lead, the names in them
(capitalised words: places, organisations, people), their numbers (amounts in one canonical
form: "14 M€", "14 millions d'euros" and "14 000 000 €" are one number) and the item's regions
(the tagger's, so "Région Sud", "PACA" and "Nice" all say Provence-Alpes-Côte d'Azur). Candidate stories come
from MinHash LSH band keys over that set (datasketch); the decision is a weighted overlap score
against the fingerprints a story keeps of its first members, within a window counted from the
story's first item (so a story cannot grow for weeks). Thresholds were measured on the
labelled set in classifiers/data/stories/ (`veille evaluate --stories`).

The store keeps stories and their band keys in the database (bot/store/stories.py); the
in-memory `Clusterer` below is the same decision over bounded state, for evaluation and tests.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from classifiers.text import fold_lower

# Written for the project: id, story, source, published, title, lead per line.
LABELLED_SET = Path(__file__).parents[1] / "classifiers" / "data" / "stories" / "labelled.jsonl"
WINDOW = timedelta(days=3)  # an item joins a story first seen at most this long before or after
KEPT_FINGERPRINTS = 4  # member fingerprints a story compares against (its first ones)
MAX_CANDIDATES = 8  # stories scored per item, those sharing the most band keys
LEAD_WORDS = 60  # words of the summary/content read after the title (the lede)
NUM_PERM = 48
BAND_ROWS = 2  # 24 bands of 2: measured on the labelled set (see evaluate --stories)
JOIN_THRESHOLD = 0.33
MERGE_THRESHOLD = 0.40  # an item links two stories when it matches each at least this well
MERGED_FINGERPRINTS = 2 * KEPT_FINGERPRINTS  # a merged story keeps both halves' first ones
SURE = 0.60  # a score this high is taken at once (the later candidates are not scored)
NUMBER_WEIGHT = 2
ENTITY_FACTOR = 0.6  # weight of the names-and-amounts overlap against the word overlap
MIN_ENTITIES = 4  # shared names + weighted amounts before that overlap counts
SURE_ENTITIES = 5  # shared names + weighted amounts that outweigh different regions
REGION_MISMATCH = 0.5  # score factor when both items have regions and share none

# French (and a few English) function words, and words every item of this domain carries:
# sharing them says nothing about being the same news.
STOPWORDS = frozenset(
    """
    a au aux avec ce ces cet cette dans de des du elle en et est il ils je la le les leur
    leurs lui ma mais me meme mes moi mon ne nos notre nous on ou par pas pour qu que qui sa
    se ses son sur ta te tes toi ton tu un une vos votre vous y ete etre avoir ont sont fait
    plus moins tres tout tous toute toutes autre autres aussi ainsi alors apres avant chez
    comme depuis dont donc entre encore hors lors pendant sans selon sous vers via deja
    si sera seront etait avait avaient peut doit doivent cela celle celui ceux leur quand
    the of and to in for on with by from at is are as an its this that be or new
    ia ai intelligence artificielle numerique numeriques innovation innovations innovant
    innovante projet projets region regional regionale regions annonce annoncent annoncee
    nouveau nouvelle nouveaux nouvelles premier premiere cadre niveau lance lancent lancement
    an ans annee annees mois jour jours semaine euros euro millions million milliard
    milliards france francais francaise national nationale entreprises entreprise acteurs
    acteur territoire territoires dispositif programme programmes plan objectif ete
    emmanuel macron president presidente republique gouvernement ministre
    """.split()  # noqa: SIM905 - prose reads better than 150 quoted words
)
_WORD = re.compile(r"[0-9a-z]+")
_NAME = re.compile(r"(?<![\w'’])([A-ZÀ-Þ][\w’'-]*[\w]|[A-ZÀ-Þ]{2,})")
_SENTENCE_END = re.compile(r"(^\s*|[.!?:;«»\"“”(]\s*)$")
_YEAR = re.compile(r"^(19|20)\d\d$")
_DIGIT = re.compile(r"\d")
# On folded text: a number (digit groups "14 000 000", a decimal "1,5") and what may follow it.
_NUMBER = re.compile(r"(?<![0-9a-z.,])(\d{1,3}(?:[ .]\d{3})+(?!\d)|\d+)(?:,(\d+))?")
_UNIT = re.compile(
    r"\s*(?:(milliards?|millions?|mille)\b|(mds?|md|m|k)\s*(?=€|euros?\b|eur\b))\s*"
    r"(€|(?:d )?euros?\b|eur\b)?"
)
_MONTHS = "janvier fevrier mars avril mai juin juillet aout septembre octobre novembre decembre"
_DATE = re.compile(rf"\s*({'|'.join(_MONTHS.split())})\b")
_MONTH_NUMBER = {m: i for i, m in enumerate(_MONTHS.split(), 1)}
_SCALE = {"milliard": 10**9, "md": 10**9, "million": 10**6, "m": 10**6, "mille": 1000, "k": 1000}
# Small numbers written out ("sur cinq ans"): "un" and "neuf" (new) say too little.
_NUMBER_WORDS = {
    w: str(n)
    for n, w in enumerate(
        [
            "_",
            "_",
            "deux",
            "trois",
            "quatre",
            "cinq",
            "six",
            "sept",
            "huit",
            "_",
            "dix",
            "onze",
            "douze",
        ]
    )
    if w != "_"
}
REGION_MARK = "r:"  # region names among a fingerprint's names


@dataclass(frozen=True)
class Fingerprint:
    """What an item is compared on: word stems, names and numbers of its title and lead."""

    words: frozenset[str]
    names: frozenset[str]
    numbers: frozenset[str]
    title: frozenset[str]
    years: frozenset[str] = field(init=False, compare=False)
    has_amounts: bool = field(init=False, compare=False)  # numbers other than years
    weight: int = field(init=False, compare=False)

    regions: frozenset[str] = field(init=False, compare=False)
    entity_weight: int = field(init=False, compare=False)  # names + amounts, weighted

    def __post_init__(self) -> None:
        # Derived once: similarity() runs for every candidate of every new item.
        regions = frozenset(n for n in self.names if n.startswith(REGION_MARK))
        object.__setattr__(self, "regions", regions)
        years = frozenset(n for n in self.numbers if _YEAR.match(n))
        object.__setattr__(self, "years", years)
        object.__setattr__(self, "has_amounts", len(self.numbers) > len(years))
        amounts = len(self.numbers) - len(years)
        object.__setattr__(self, "entity_weight", len(self.names) + amounts)  # see similarity
        weight = len(self.words) + len(self.names) + NUMBER_WEIGHT * len(self.numbers)
        object.__setattr__(self, "weight", weight)

    @property
    def tokens(self) -> frozenset[str]:
        """Everything hashed into the LSH band keys."""
        return self.words | {"@" + n for n in self.names} | {"#" + n for n in self.numbers}

    def to_json(self) -> dict[str, list[str]]:
        """A JSON-able form (stored with the story)."""
        return {
            "w": sorted(self.words),
            "n": sorted(self.names),
            "d": sorted(self.numbers),
            "t": sorted(self.title),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fingerprint:
        """The inverse of to_json."""
        return cls(
            words=frozenset(data.get("w", ())),
            names=frozenset(data.get("n", ())),
            numbers=frozenset(data.get("d", ())),
            title=frozenset(data.get("t", ())),
        )


def _stem(word: str) -> str:
    # Six letters conflate French inflections (region/regional, finance/financement) cheaply.
    return word if word.isdigit() else word[:6]


def _names(text: str) -> set[str]:
    """Capitalised words that do not open a sentence: proper nouns, acronyms."""
    found: set[str] = set()
    for m in _NAME.finditer(text):
        before = text[max(0, m.start() - 4) : m.start()]
        opens_sentence = m.start() == 0 or _SENTENCE_END.search(before)
        if opens_sentence and not m.group(1).isupper():  # an acronym is a name even there
            continue
        found.update(_name_stems(m.group(1)))
    return found


@lru_cache(maxsize=65536)
def _name_stems(name: str) -> tuple[str, ...]:
    """The stems a capitalised word gives (names recur: cached)."""
    return tuple(
        _stem(part)
        for part in _WORD.findall(fold_lower(name))
        if len(part) > 1 and part not in STOPWORDS
    )


@lru_cache(maxsize=64)
def _region_stems(region: str) -> frozenset[str]:
    """The stems of a region's own name."""
    return frozenset(_stem(w) for w in _WORD.findall(fold_lower(region)))


def _amount(m: re.Match[str], text: str) -> tuple[str, int]:
    """A number in canonical form ("14 M€" -> 14000000) and where its unit ends."""
    whole, decimals = m.group(1).replace(" ", "").replace(".", ""), m.group(2)
    date = _DATE.match(text, m.end())
    if date and not decimals and 1 <= int(whole) <= 31:  # "24 juin": a day, not an amount
        return f"{int(whole)}{_MONTH_NUMBER[date.group(1)]:02d}00", date.end()
    unit = _UNIT.match(text, m.end())
    scale = 1
    if unit and (unit.group(1) or unit.group(2)):
        scale = _SCALE[(unit.group(1) or unit.group(2)).rstrip("s")]
    if scale == 1 or not decimals:
        value = int(whole) * scale
    else:  # "1,5 million": exact in integers
        value = (int(whole) * 10 ** len(decimals) + int(decimals)) * scale // 10 ** len(decimals)
    if scale == 1 and decimals:
        return f"{whole}{decimals}", m.end()  # "3,7 %": kept as one number, not two
    return str(value), unit.end() if unit and unit.group(0) else m.end()


def _words(text: str) -> list[str]:
    """Folded words of a text, stopwords out, numbers (amounts, written-out) in canonical form."""
    folded = fold_lower(text)
    if _DIGIT.search(folded):
        parts: list[str] = []
        end = 0
        for m in _NUMBER.finditer(folded):
            if m.start() < end:
                continue
            number, after = _amount(m, folded)
            if after == m.end() and folded[after : after + 1].isalpha():
                continue  # inside a word ("web2day", "3ia"): not a number of its own
            parts += [folded[end : m.start()], f" {number} "]
            end = after
        folded = "".join(parts) + folded[end:]
    return [_NUMBER_WORDS.get(w, w) for w in _WORD.findall(folded) if w not in STOPWORDS]


def fingerprint(
    title: str, lead: str, regions: Iterable[str] = (), published: datetime | None = None
) -> Fingerprint:
    """The fingerprint of an item from its title, the start of its summary or text and its
    regions (taxonomy names, as the tagger gives them). With its publication date, years far
    from it are left out: a horizon ("France 2030") or a past step, not what the news is."""
    lead = " ".join(lead.split()[:LEAD_WORDS])
    title_words = _words(title)
    lead_words = _words(lead)
    regions = list(regions)
    # A region's own name is said by its mark: "Provence-Alpes-Côte d'Azur" is four words that
    # another outlet's "Région Sud" does not share, though it tells the same place.
    region_stems = frozenset().union(*map(_region_stems, regions))
    every = title_words + lead_words
    # Comprehensions, not a loop with _stem: this runs for every new item of a poll.
    numbers = {
        w.lstrip("0") or "0"
        for w in every
        if w.isdigit() and not (published and _YEAR.match(w) and abs(int(w) - published.year) > 1)
    }
    names = (_names(title) | _names(lead)) - region_stems
    names.update(REGION_MARK + fold_lower(r) for r in regions)
    return Fingerprint(
        words=frozenset({w[:6] for w in every if len(w) > 2 and not w.isdigit()} - region_stems),
        names=frozenset(names),
        numbers=frozenset(numbers),
        title=frozenset({w[:6] for w in title_words if len(w) > 2 and not w.isdigit()}),
    )


def similarity(a: Fingerprint, b: Fingerprint) -> float:
    """How likely two items tell the same news, in [0, 1].

    Word overlap relative to the shorter item (outlets retell at different lengths) mixed with
    Jaccard, numbers counting double (amounts and dates are what retellings keep), or the
    overlap of names, regions and amounts alone when that is higher (outlets retell in their
    own words but keep who, where and how much). Counting against: different years (a yearly
    event), amounts with none in common (the same organisation's other news), no shared name
    when both have names, different regions (the same national news about another laureate,
    another council's plan).
    """
    # Each intersection once: this runs for every kept fingerprint of every candidate story.
    size_a, size_b = a.weight, b.weight
    smaller = min(size_a, size_b)
    if smaller == 0:
        return 0.0
    names = len(a.names & b.names)
    numbers = a.numbers & b.numbers
    shared = len(a.words & b.words) + names + NUMBER_WEIGHT * len(numbers)
    if shared == 0:
        return 0.0
    # Mix overlap (lengths differ) and Jaccard (a short item inside a long one is not enough).
    union = size_a + size_b - shared
    score = 0.5 * shared / smaller + 0.5 * shared / union
    # Names, regions and amounts shared (at least MIN_ENTITIES, amounts counting double) against
    # the item with fewer of them (amounts counting once: an outlet picks its own figures).
    amounts = len(numbers - a.years)
    # A name one outlet capitalises ("le Cluster ENACT") another may not ("le cluster");
    # words hold every stem, names among them; regions are names only.
    named = len((a.names & b.words) | (b.names & a.words)) + len(a.regions & b.regions)
    entities = named + NUMBER_WEIGHT * amounts
    if entities >= MIN_ENTITIES and score < ENTITY_FACTOR:
        fewer = min(a.entity_weight, b.entity_weight)
        score = max(score, ENTITY_FACTOR * min(1.0, entities / fewer))
    if a.years and b.years and not a.years & b.years:
        score *= 0.5
    # A shared number is a year in both or in neither: the amounts shared are numbers - years.
    if a.has_amounts and b.has_amounts and numbers <= a.years:
        score *= 0.7
    if names == 0 and a.names and b.names:
        score *= 0.6
    # Different regions, unless enough else is shared: a national story's outlets each place
    # it where their readers are ("le sommet de Paris", "le data center de Cambrai").
    if a.regions and b.regions and not a.regions & b.regions and entities < SURE_ENTITIES:
        score *= REGION_MISMATCH
    return score


# Each token's permuted hashes, computed once by datasketch: a set's MinHash is the column-wise
# minimum of its tokens' (min is associative), so a batch is one numpy reduction. Bounded: at
# most MAX_CACHED_TOKENS rows (48 values of 8 bytes: 38 MB), grown by doubling, not by copying
# the whole matrix for every batch's new words.
MAX_CACHED_TOKENS = 100_000
_BAND_MIX = np.uint64(0x9E3779B97F4A7C15)
_ENTITY_MIX = np.uint64(0x5BD1E9955BD1E995)
MAX_ENTITY_KEYS = 12


class _TokenHashes:
    """token -> row of a matrix of datasketch permuted hashes."""

    def __init__(self) -> None:
        self.rows: dict[str, int] = {}
        self._buffer = np.zeros((0, NUM_PERM), dtype=np.uint64)

    @property
    def matrix(self) -> np.ndarray:
        """The rows filled so far."""
        return self._buffer[: len(self.rows)]

    def indices(self, tokens: Sequence[str]) -> np.ndarray:
        # datasketch's package imports SciPy (for its LSH parameters): only the processes that
        # hash (the poll's workers, `veille evaluate`) load it, not the poller, which decides.
        from datasketch import MinHash

        rows = self.rows
        missing = list({t for t in tokens if t not in rows})
        if missing:
            if len(rows) + len(missing) > MAX_CACHED_TOKENS:
                rows.clear()
                missing = list(set(tokens))
            hashes = MinHash.bulk([[t.encode()] for t in missing], num_perm=NUM_PERM, seed=7)
            block = np.stack([np.asarray(mh.hashvalues, dtype=np.uint64) for mh in hashes])
            base = len(rows)
            if base + len(block) > len(self._buffer):
                grown = np.zeros((max(4096, 2 * (base + len(block))), NUM_PERM), np.uint64)
                grown[:base] = self._buffer[:base]
                self._buffer = grown
            self._buffer[base : base + len(block)] = block
            rows.update({t: base + i for i, t in enumerate(missing)})
        return np.fromiter((rows[t] for t in tokens), dtype=np.int64, count=len(tokens))


_HASHES = _TokenHashes()


def minhash_signatures(fps: Sequence[Fingerprint]) -> np.ndarray:
    """datasketch MinHash signatures (NUM_PERM values) of many fingerprints, one row each;
    an empty fingerprint gets a row of zeros."""
    token_lists = [list(fp.tokens) for fp in fps]
    out = np.zeros((len(fps), NUM_PERM), dtype=np.uint64)
    flat = [t for tokens in token_lists for t in tokens]
    if not flat:
        return out
    index = _HASHES.indices(flat)
    matrix = _HASHES.matrix[index]
    sizes = np.array([len(tokens) for tokens in token_lists])
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    filled = sizes > 0
    out[filled] = np.minimum.reduceat(matrix, starts[filled], axis=0)
    return out


def band_keys(fp: Fingerprint) -> list[int]:
    """LSH band keys of a fingerprint: signed 64-bit integers (they fit a BIGINT column)."""
    return band_keys_batch([fp])[0]


def band_keys_batch(fps: Sequence[Fingerprint]) -> list[list[int]]:
    """band_keys for many fingerprints at once."""
    if not fps:
        return []
    signatures = minhash_signatures(fps)
    bands = NUM_PERM // BAND_ROWS
    combined = np.zeros((len(fps), bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for row in range(BAND_ROWS):
            combined = (combined ^ signatures[:, row::BAND_ROWS]) * _BAND_MIX
        combined ^= np.arange(1, bands + 1, dtype=np.uint64) * _BAND_MIX
    keys = combined.view(np.int64)
    # Entity keys: retellings in other words may share no band, but they share a name or an
    # amount. A token's first permuted hash (already computed above) is its key.
    entity_tokens = [entity_key_tokens(fp) for fp in fps]
    flat = [t for tokens in entity_tokens for t in tokens]
    entity: list[int] = []
    if flat:
        entity = (_HASHES.matrix[_HASHES.indices(flat), 0] ^ _ENTITY_MIX).view(np.int64).tolist()
    out: list[list[int]] = []
    start = 0
    for fp, bands_of, tokens in zip(fps, keys, entity_tokens, strict=True):
        mine = entity[start : start + len(tokens)]
        start += len(tokens)
        out.append([] if not fp.tokens else bands_of.tolist() + mine)
    return out


def entity_key_tokens(fp: Fingerprint) -> list[str]:
    """The names (not regions: too broad) and amounts an item is also found by, longest first."""
    names = ["@" + n for n in fp.names if not n.startswith(REGION_MARK)]
    amounts = ["#" + n for n in fp.numbers - fp.years]
    return sorted(names + amounts, key=lambda t: (-len(t), t))[:MAX_ENTITY_KEYS]


def prepare_batch(
    texts: Sequence[tuple[str, str, Sequence[str], datetime]],
) -> list[tuple[Fingerprint, list[int]]]:
    """Fingerprints and band keys of (title, lead, regions, published): the CPU part, run in
    a worker."""
    fps = [fingerprint(*text) for text in texts]
    return list(zip(fps, band_keys_batch(fps), strict=True))


@dataclass
class StoryState:
    """What the decision needs of a story: when it started and its first members' fingerprints."""

    id: int
    first_seen: datetime
    fingerprints: list[Fingerprint] = field(default_factory=list)


def matches(
    fp: Fingerprint,
    published: datetime,
    candidates: Iterable[StoryState],
    *,
    threshold: float = JOIN_THRESHOLD,
) -> list[tuple[int, float]]:
    """Every story the item could join (score at or above threshold, within the window), best
    first. Every candidate is scored: an item matching two stories links them (see merge_plan)."""
    found: list[tuple[int, float]] = []
    for story in candidates:
        if abs(published - story.first_seen) > WINDOW:
            continue
        score = 0.0
        for other in story.fingerprints:
            score = max(score, similarity(fp, other))
            if score >= SURE:  # sure enough for this story: its other fingerprints are not read
                break
        if score >= threshold:
            found.append((story.id, score))
    found.sort(key=lambda f: -f[1])
    return found


def created_order(story_id: int) -> tuple[bool, int]:
    """Stories in the order they were made: stored ids ascending, then this batch's temporary
    (negative: -1, -2, ...) ones."""
    return (story_id < 0, abs(story_id))


def merge_plan(
    found: Sequence[tuple[int, float]], stories: Mapping[int, StoryState]
) -> tuple[int, list[int]]:
    """The story an item joins (found: `matches`, best first), and the stories it merges into
    that one.

    A first poll reads feeds in whatever order they arrive: two retellings too different to
    join may each start a story before the item that tells both arrives. That item matches
    both, so they are one story: the oldest (first made, so its alerts are the first sent)
    keeps its id and takes the others' members. Only the stories the item matches at
    MERGE_THRESHOLD are linked (a round-up naming several news is not a link), and only those
    that started within WINDOW of the survivor's start merge, so a merged story still spans
    one window. Otherwise the item joins its best match.
    """
    linked = [s for s, score in found if score >= MERGE_THRESHOLD]
    if len(linked) < 2:
        return found[0][0], []
    survivor = min(linked, key=created_order)
    start = stories[survivor].first_seen
    absorbed = [s for s in linked if s != survivor and abs(stories[s].first_seen - start) <= WINDOW]
    return survivor, sorted(absorbed, key=created_order)


def survivor_of(merged: Mapping[int, int], story_id: int) -> int:
    """The story a story id now is: itself, or where merges (absorbed -> survivor) led it."""
    while story_id in merged:
        story_id = merged[story_id]
    return story_id


def absorb(into: StoryState, other: StoryState) -> None:
    """Fold a merged story's decision state into the survivor's: the earlier start, and both
    halves' fingerprints (up to MERGED_FINGERPRINTS, so either half still finds the story)."""
    into.first_seen = min(into.first_seen, other.first_seen)
    room = MERGED_FINGERPRINTS - len(into.fingerprints)
    into.fingerprints.extend(other.fingerprints[: max(0, room)])


def remember(story: StoryState, fp: Fingerprint) -> bool:
    """Keep a member's fingerprint while the story has room; True when kept."""
    if len(story.fingerprints) >= KEPT_FINGERPRINTS:
        return False
    story.fingerprints.append(fp)
    return True


@dataclass(frozen=True)
class Member:
    """A member item as the representative choice sees it."""

    id: int
    published: datetime
    text_length: int


def representative(members: Iterable[Member]) -> int:
    """The best member to show: the earliest among those with nearly the fullest text."""
    pool = list(members)
    longest = max(m.text_length for m in pool)
    full = [m for m in pool if m.text_length >= 0.8 * longest]
    return min(full, key=lambda m: (m.published, m.id)).id


class Clusterer:
    """Stories in memory with the same decision as the store, for evaluation and tests.

    State is bounded: stories whose window has passed (behind the newest item seen) are dropped
    with their band keys.
    """

    def __init__(self, threshold: float = JOIN_THRESHOLD) -> None:
        self.threshold = threshold
        self.stories: dict[int, StoryState] = {}
        self._by_key: dict[int, set[int]] = {}
        self._keys: dict[int, list[int]] = {}
        self._newest: datetime | None = None
        self._next_id = 1
        self.merged_into: dict[int, int] = {}  # absorbed story -> the one it was merged into

    def add(self, fp: Fingerprint, published: datetime, keys: Sequence[int] | None = None) -> int:
        """The story id the item joins (a new one when none fits)."""
        keys = list(band_keys(fp) if keys is None else keys)
        if self._newest is None or published > self._newest:
            self._newest = published
            self._forget_before(published - 2 * WINDOW)
        found = matches(fp, published, self.candidates(keys), threshold=self.threshold)
        if not found:
            story_id, self._next_id = self._next_id, self._next_id + 1
            self.stories[story_id] = StoryState(story_id, published)
            self._keys[story_id] = []
        else:
            story_id, absorbed = merge_plan(found, self.stories)
            for other in absorbed:
                self._merge(story_id, other)
        story = self.stories[story_id]
        if remember(story, fp):
            for key in keys:
                self._by_key.setdefault(key, set()).add(story_id)
            self._keys[story_id].extend(keys)
        return story_id

    def resolve(self, story_id: int) -> int:
        """The story a story id now is (itself, or the one it was merged into)."""
        return survivor_of(self.merged_into, story_id)

    def _merge(self, into: int, other: int) -> None:
        absorb(self.stories[into], self.stories.pop(other))
        self.merged_into[other] = into
        for key in self._keys.pop(other, ()):
            bucket = self._by_key.get(key)
            if bucket is not None:
                bucket.discard(other)
                bucket.add(into)
            self._keys[into].append(key)

    def candidates(self, keys: Sequence[int]) -> list[StoryState]:
        """The stories sharing the most band keys with an item, best first."""
        return [self.stories[i] for i in rank_candidates(keys, self._by_key)]

    def _forget_before(self, cutoff: datetime) -> None:
        for story_id in [s.id for s in self.stories.values() if s.first_seen < cutoff]:
            del self.stories[story_id]
            for key in self._keys.get(story_id, ()):
                bucket = self._by_key.get(key)
                if bucket is not None:
                    bucket.discard(story_id)
                    if not bucket:
                        del self._by_key[key]


def rank_candidates(keys: Sequence[int], index: Mapping[int, Iterable[int]]) -> list[int]:
    """Story ids found under any of the keys, those sharing the most keys first (capped)."""
    # Counter counts in C: a crowded window (many stories per key) stays cheap.
    hits = Counter(chain.from_iterable(index.get(key, ()) for key in set(keys)))
    if len(hits) <= MAX_CANDIDATES:
        return sorted(hits, key=lambda s: (-hits[s], s))
    return heapq.nsmallest(MAX_CANDIDATES, hits, key=lambda s: (-hits[s], s))


def pairwise_scores(
    predicted: Mapping[str, Any], truth: Mapping[str, Any]
) -> dict[str, float | int]:
    """Pairwise precision/recall of same-story decisions: predicted and truth map item -> group."""
    ids = sorted(truth)
    tp = fp = fn = 0
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            same_pred = predicted[a] == predicted[b]
            same_true = truth[a] == truth[b]
            tp += same_pred and same_true
            fp += same_pred and not same_true
            fn += same_true and not same_pred
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "pairs_true": tp + fn,
        "pairs_predicted": tp + fp,
        "true_positives": tp,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
    }


@dataclass(frozen=True)
class LabelledItem:
    """One item of a labelled clustering set."""

    id: str
    story: str
    source: str
    published: datetime
    title: str
    lead: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LabelledItem:
        """From a JSONL record: id, story, source, published (ISO 8601), title, lead."""
        return cls(
            id=str(data["id"]),
            story=str(data["story"]),
            source=str(data.get("source", "")),
            published=datetime.fromisoformat(str(data["published"])),
            title=str(data.get("title") or ""),
            lead=str(data.get("lead") or ""),
        )


# (title, lead) -> the item's regions: the tagger's gazetteer in `veille evaluate --stories`.
Locate = Callable[[str, str], Sequence[str]]


def cluster_labelled(
    records: Sequence[LabelledItem],
    threshold: float = JOIN_THRESHOLD,
    locate: Locate | None = None,
) -> dict[str, int]:
    """Run the Clusterer over a labelled set in publication order: item id -> story id."""
    clusterer = Clusterer(threshold)
    ordered = sorted(records, key=lambda r: (r.published, r.id))
    fps = [
        fingerprint(r.title, r.lead, locate(r.title, r.lead) if locate else (), r.published)
        for r in ordered
    ]
    keys = band_keys_batch(fps)
    added = {
        r.id: clusterer.add(fp, r.published, k) for r, fp, k in zip(ordered, fps, keys, strict=True)
    }
    return {item: clusterer.resolve(story) for item, story in added.items()}


def evaluate_labelled(
    records: Sequence[LabelledItem],
    threshold: float = JOIN_THRESHOLD,
    locate: Locate | None = None,
) -> dict[str, Any]:
    """Pairwise precision/recall of the clustering on a labelled set."""
    predicted = cluster_labelled(records, threshold, locate)
    truth = {r.id: r.story for r in records}
    return {
        "items": len(records),
        "stories": len(set(truth.values())),
        "predicted_stories": len(set(predicted.values())),
        "threshold": threshold,
        **pairwise_scores(predicted, truth),
    }
