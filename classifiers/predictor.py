"""Types, primary type and topic from the fitted parameters, with numpy alone: what the tagger runs.

The model is fitted with scikit-learn (classifiers/model.py, stored with skops for training and
evaluation); its plain parameters (vocabulary, IDF, every head's weights and bias, thresholds,
primary classes) are also stored as numpy arrays (`Predictor.save`). A tagging worker loads those:
it never imports scikit-learn or SciPy, which took seconds and about 110 MB per process.

The features are defined here, once: `prepare` and `analyze` are also the analyzer of the
scikit-learn vectorizer, so training and tagging read a text the same way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from itertools import chain, pairwise, repeat
from operator import is_not
from pathlib import Path
from typing import NamedTuple, Protocol

import numpy as np

from classifiers.taxonomy import TYPES
from classifiers.text import LATIN_FOLD, Fold

TEXT_CHARS = 3000
_CONSTANT_LOGIT = 40.0  # expit(40) is 1.0 in float64

# Typographic signs are not word characters: as spaces, they leave every token as it was and
# the prepared text of most articles is ASCII, which transform() splits in C.
_SIGNS = "«»\u00a0\u202f\u2009–—…‘“”•·€°×›‹©®"
_FOLD = Fold({**LATIN_FOLD, ord("’"): "'", **{ord(c): " " for c in _SIGNS}})
# In ASCII, every character but [a-z0-9_] ends a token (upper case never reaches it).
_RUNS = {c: " " for c in range(128) if not (chr(c).isalnum() or chr(c) == "_")}


def prepare(title: str, text: str, limit: int = TEXT_CHARS) -> str:
    """French-aware normal form: lowercase, no accents, title weighted twice.

    Spaces are left as they are: only the tokens of the text are read.
    """
    return _FOLD(f"{title}. {title}. {text[:limit]}".lower())


_TOKEN = re.compile(r"\b[a-z][a-z0-9]+\b")
STEM_PREFIX = "~"


# Evidence cues pooled into one feature per type: the press names events, agreements, courses
# and grants with many words the corpus sees only a few times each (a "sommet" teaches
# nothing about a "salon"). Pooling the cues of the other types measured worse. Cues are
# tokens or token pairs (tokens of two letters or more: "appel a projets" is "appel projets"),
# looked up in dicts rather than matched by regular expressions (a tenth of the cost).
_CUE_WORDS = {
    "event": "forum forums sommet sommets summit salon salons congres colloque colloques"
    " conference conferences hackathon hackathons afterwork meetup meetups rencontre rencontres"
    " journee journees semaine festival stand stands visite delegation trophee trophees"
    " webinaire webinaires keynote edition inauguration inaugure inaugurer inauguree inaugurera"
    # Awards, seminars and fairs (TAXONOMY: "conference, trade fair ... awards"): in the corpus
    # these words sit in event articles two to four times out of five.
    " symposium symposiums seminaire seminaires concours prix jury ceremonie exposition"
    " exposants visiteurs participants recompense recompenses"
    # Events that are the setting of the news (a plan announced at a show, a public debate):
    # these words and "rendez-vous" sit in the corpus's event articles 62-92% of the time (22%
    # of all articles); VivaTech is the trade show the French AI press names most.
    " evenement evenements intervenants debat debats vivatech",
    "partnership": "partenariat partenariats convention conventions accord accords entente"
    " ententes consortium consortia alliance signe signent signature cooperation memorandum"
    " protocole jumelage collaboration associent",
    "training": "formation formations former cursus diplome diplomes master licence"
    " certification mooc ecole ecoles etudiant etudiants apprentis apprentissage bootcamp"
    " reconversion competences cours",
    "funding": "subvention subventions fonds leve levee dotation financement financements"
    " finance investissement investissements enveloppe",
}
_CUE_PAIRS = {
    "event": ("table ronde", "tables rondes", "rendez vous"),
    "partnership": ("main dans",),
    "funding": ("appel projets", "appel candidatures", "millions euros"),
}
CUES: dict[str, str] = {
    term: STEM_PREFIX + "cue:" + name
    for table in (
        {k: v.split() for k, v in _CUE_WORDS.items()},
        {k: list(v) for k, v in _CUE_PAIRS.items()},
    )
    for name, terms in table.items()
    for term in terms
}
_known = partial(is_not, None)
# Runs of letters and digits that are not tokens (one character, a leading digit): the usual.
_SKIPPED = [*"abcdefghijklmnopqrstuvwxyz", *map(str, range(10_000)), "000"]


def analyze(doc: str) -> list[str]:
    """Words, word pairs, 5-letter stems ('financement' ~ 'financer') and pooled cue counts."""
    toks = _TOKEN.findall(doc)
    pairs = list(map(" ".join, pairwise(toks)))
    out = toks + pairs
    out += [STEM_PREFIX + t[:5] for t in toks if len(t) > 5]
    cue = CUES.get
    out += filter(_known, map(cue, toks))
    out += filter(_known, map(cue, pairs))
    return out


def _runs(doc: str) -> list[str]:
    """The tokens of a prepared text, with the one-letter and digit-led runs between them when
    the text is lowercase ASCII without underscores (split in C: the regular expression costs
    four times as much); transform() drops those."""
    if doc.isascii() and doc.islower() and "_" not in doc:
        return doc.translate(_RUNS).split()
    return _TOKEN.findall(doc)


@dataclass
class TypePrediction:
    """Types with their scores, the primary type and the topic probability."""

    types: list[str]
    type_scores: dict[str, float]
    primary_type: str
    primary_scores: dict[str, float]
    topic_ai: bool
    topic_score: float
    type_evidence: dict[str, list[str]]


class Predicts(Protocol):
    """What the tagger needs of a model: predictions for prepared texts."""

    def predict(self, texts: Sequence[str], *, evidence: bool = True) -> list[TypePrediction]:
        """Predictions for prepared texts (see prepare())."""
        ...


class _PairTable:
    """Feature columns of token pairs, looked up by pair number (first * size + second)."""

    def __init__(self, pairs: dict[tuple[int, int], int], size: int) -> None:
        keys = np.array([a * size + b for a, b in pairs], dtype=np.int64)
        order = np.argsort(keys)
        self.keys = np.append(keys[order], np.iinfo(np.int64).max)  # never out of range below
        self.cols = np.append(np.array(list(pairs.values()), dtype=np.int64)[order], -1)

    def columns(self, pair_ids: np.ndarray) -> np.ndarray:
        """The column of each pair number, -1 when no feature names it."""
        at = np.searchsorted(self.keys, pair_ids)
        cols: np.ndarray = np.where(self.keys[at] == pair_ids, self.cols[at], -1)
        return cols


class Rows(NamedTuple):
    """TF-IDF rows in CSR form (the arrays of a scipy.sparse.csr_matrix, without SciPy)."""

    data: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    width: int


def expit(x: np.ndarray) -> np.ndarray:
    """The logistic function (scipy.special.expit's formula)."""
    out: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return out


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over each row (scipy.special.softmax's steps, in the same order)."""
    shifted = np.exp(x - np.max(x, axis=1, keepdims=True))
    out: np.ndarray = shifted / np.sum(shifted, axis=1, keepdims=True)
    return out


def _text(values: np.ndarray) -> list[str]:
    return bytes(values).decode("utf-8").split("\n")


def _array(values: Sequence[str]) -> np.ndarray:
    return np.frombuffer("\n".join(values).encode("utf-8"), dtype=np.uint8)


class Predictor:
    """The fitted model as plain arrays: TF-IDF features, then every head in one product.

    coef holds one column per head output, side by side: the types (one-vs-rest), the primary
    classes (one column when there are two), then the topic.
    """

    def __init__(
        self,
        terms: Sequence[str],
        idf: np.ndarray,
        coef: np.ndarray,
        bias: np.ndarray,
        thresholds: np.ndarray,
        classes: Sequence[str],
        version: str = "",
    ) -> None:
        self.terms = list(terms)
        self.vocabulary = {term: i for i, term in enumerate(self.terms)}
        self.idf = np.ascontiguousarray(idf, dtype=np.float64)
        self.coef = np.ascontiguousarray(coef, dtype=np.float64)
        self.bias = np.ascontiguousarray(bias, dtype=np.float64)
        self.thresholds = np.asarray(thresholds, dtype=np.float64)
        self.classes = [str(c) for c in classes]
        self.version = version
        n_primary = 1 if len(self.classes) == 2 else len(self.classes)
        if self.coef.shape != (len(self.terms), len(TYPES) + n_primary + 1):
            raise ValueError(f"weights of shape {self.coef.shape} do not fit the vocabulary")
        # Stems are features, not evidence a reader would understand.
        self._hidden = [t.startswith(STEM_PREFIX) for t in self.terms]
        self._index_tokens()

    def _index_tokens(self) -> None:
        """Number every token the features can name, and map each to its feature columns.

        analyze() names words, word pairs, stems and cues by strings; transform() reaches the
        same columns from token numbers: one dict lookup per token, then numpy for the pairs.
        """
        tokens: dict[str, int] = {}
        unigram: dict[int, int] = {}
        pairs: dict[tuple[int, int], int] = {}
        for col, term in enumerate(self.terms):
            if term.startswith(STEM_PREFIX):
                continue
            words = [tokens.setdefault(w, len(tokens)) for w in term.split(" ")]
            if len(words) == 1:
                unigram[words[0]] = col
            elif len(words) == 2:
                pairs[words[0], words[1]] = col
        cue_pairs: dict[tuple[int, int], int] = {}
        for term, cue in CUES.items():
            words = [tokens.setdefault(w, len(tokens)) for w in term.split(" ")]
            if len(words) == 2 and cue in self.vocabulary:
                cue_pairs[words[0], words[1]] = self.vocabulary[cue]
        names = list(tokens)
        vocabulary = self.vocabulary
        # Two more numbers: a word no feature names, and a run that is no token at all (one
        # character, a number: _runs() gives those), most of which are listed here.
        self._unknown, self._skip = len(tokens), len(tokens) + 1
        self._tokens = tokens | dict.fromkeys(_SKIPPED, self._skip)
        size = self._skip + 1
        self._unigram = np.full(size, -1, dtype=np.int64)
        self._unigram[list(unigram)] = list(unigram.values())
        self._stem = np.full(size, -1, dtype=np.int64)
        self._stem[: len(names)] = [
            vocabulary.get(STEM_PREFIX + w[:5], -1) if len(w) > 5 else -1 for w in names
        ]
        self._cue = np.full(size, -1, dtype=np.int64)
        self._cue[: len(names)] = [vocabulary.get(CUES.get(w, ""), -1) for w in names]
        self._pairs = _PairTable(pairs, size)
        self._cue_pairs = _PairTable(cue_pairs, size)

    # ---- files ------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write the arrays as one .npz (no pickle), atomically."""
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as fh:
            np.savez(
                fh,
                terms=_array(self.terms),
                idf=self.idf,
                coef=self.coef,
                bias=self.bias,
                thresholds=self.thresholds,
                classes=_array(self.classes),
                version=_array([self.version]),
            )
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Predictor:
        """Read a file written by save(); pickled objects are refused."""
        with np.load(path, allow_pickle=False) as arrays:
            return cls(
                _text(arrays["terms"]),
                arrays["idf"],
                arrays["coef"],
                arrays["bias"],
                arrays["thresholds"],
                _text(arrays["classes"]),
                _text(arrays["version"])[0],
            )

    # ---- inference --------------------------------------------------------------------------

    def transform(self, texts: Sequence[str]) -> Rows:
        """The TF-IDF rows of prepared texts, as the fitted vectorizer's transform gives them.

        Per text, only the C-level lookups of its features run in Python; counting, sublinear
        TF, IDF and the L2 norm are done once for the batch with numpy.
        """
        width = len(self.idf)
        runs = [_runs(doc) for doc in texts]
        words = list(chain.from_iterable(runs))
        unknown, skip = self._unknown, self._skip
        ids = np.fromiter(
            map(self._tokens.get, words, repeat(unknown)), dtype=np.int64, count=len(words)
        )
        doc = np.repeat(
            np.arange(len(runs), dtype=np.int64),
            np.fromiter(map(len, runs), dtype=np.int64, count=len(runs)),
        )
        # Runs no feature names: drop those that are not tokens (one letter, a leading digit);
        # a word may still have a stem that a feature names: from its string.
        new = np.flatnonzero(ids == unknown).tolist()
        stems: list[tuple[int, int]] = []
        for i, d in zip(new, doc[new].tolist(), strict=True):
            w = words[i]
            if len(w) < 2 or w[0] <= "9":
                ids[i] = skip
            elif len(w) > 5:
                stems.append((d, self.vocabulary.get(STEM_PREFIX + w[:5], -1)))
        kept = ids != skip
        ids, doc = ids[kept], doc[kept]
        # Word pairs never cross from one text to the next.
        joined = doc[1:] == doc[:-1]
        pair_ids = ids[:-1][joined] * (skip + 1) + ids[1:][joined]
        pair_doc = doc[:-1][joined]
        stem_doc, stem_col = np.array(stems, dtype=np.int64).reshape(-1, 2).T
        docs = np.concatenate([doc, doc, doc, pair_doc, pair_doc, stem_doc])
        cols = np.concatenate(
            [
                self._unigram[ids],
                self._stem[ids],
                self._cue[ids],
                self._pairs.columns(pair_ids),
                self._cue_pairs.columns(pair_ids),
                stem_col,
            ]
        )
        found = cols >= 0
        keys, counts = np.unique(docs[found] * width + cols[found], return_counts=True)
        rows, col = np.divmod(keys, width)
        data = (1.0 + np.log(counts)) * self.idf[col]
        norms = np.sqrt(np.bincount(rows, weights=data * data, minlength=len(texts)))
        data /= norms[rows]
        indptr = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=len(texts)), out=indptr[1:])
        return Rows(data, col, indptr, width)

    def products(self, x: Rows) -> np.ndarray:
        """Each stored value of x times its feature's weights: one row per value, one column
        per head output (what decision() sums, and what evidence ranks)."""
        products: np.ndarray = self.coef[x.indices] * x.data[:, None]
        return products

    def decision(self, x: Rows, products: np.ndarray | None = None) -> np.ndarray:
        """Every head's decision values for TF-IDF rows: rows x (types, primary, topic).

        Each row's products are summed in the row's order, as SciPy's sparse product does.
        """
        out = np.zeros((len(x.indptr) - 1, self.coef.shape[1]))
        starts = x.indptr[:-1]
        filled = starts < x.indptr[1:]
        if filled.any():
            products = self.products(x) if products is None else products
            out[filled] = np.add.reduceat(products, starts[filled], axis=0)
        return out + self.bias

    def probabilities(
        self, x: Rows, products: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(type, primary, topic) probabilities of TF-IDF rows, as the heads' predict_proba."""
        scores = self.decision(x, products)
        n_types = len(TYPES)
        p_types = expit(scores[:, :n_types])
        raw = scores[:, n_types:-1]
        if len(self.classes) == 2:
            p1 = expit(raw[:, 0])
            p_primary = np.column_stack([1.0 - p1, p1])
        else:
            p_primary = softmax(raw)
        return p_types, p_primary, expit(scores[:, -1])

    def predict(self, texts: Sequence[str], *, evidence: bool = True) -> list[TypePrediction]:
        """Predictions for prepared texts (see prepare())."""
        x = self.transform(texts)
        products = self.products(x)
        p_types, p_primary, p_topic = self.probabilities(x, products)
        classes = self.classes
        thresholds = self.thresholds
        out = []
        for i in range(len(texts)):
            scores = dict(zip(TYPES, p_types[i].tolist(), strict=True))
            chosen = [t for t, p, g in zip(TYPES, p_types[i], thresholds, strict=True) if p >= g]
            prim_scores = dict(zip(classes, p_primary[i].tolist(), strict=True))
            # The primary type must also be a likely type: the primary head alone leans to the
            # classes it saw most as primaries (event, strategy) on press text.
            primary = max(prim_scores, key=lambda c: prim_scores[c] * scores.get(c, 0.0))
            if primary not in chosen:
                chosen.append(primary)
            chosen.sort(key=lambda t: -scores[t])
            ev = self._evidence(x, products, i, chosen) if evidence else {}
            out.append(
                TypePrediction(
                    chosen,
                    scores,
                    primary,
                    prim_scores,
                    bool(p_topic[i] >= 0.5),
                    float(p_topic[i]),
                    ev,
                )
            )
        return out

    def _evidence(
        self, x: Rows, products: np.ndarray, i: int, chosen: Sequence[str], top: int = 5
    ) -> dict[str, list[str]]:
        """The words of article i that pushed each chosen type up the most."""
        lo, hi = int(x.indptr[i]), int(x.indptr[i + 1])
        if lo == hi:
            return {}
        idx = x.indices[lo:hi]
        contrib = products[lo:hi, [TYPES.index(t) for t in chosen]]
        # One partition and one sort for all chosen types: numpy runs the same selection on
        # each column as it would on that column alone.
        lanes = np.arange(len(chosen))
        order = np.argpartition(-contrib, min(top * 2, hi - lo - 1), axis=0)[: top * 2]
        best = contrib[order, lanes]
        rank = np.argsort(-best, axis=0)
        order, best = order[rank, lanes], best[rank, lanes]
        terms, hidden = self.terms, self._hidden
        out: dict[str, list[str]] = {}
        for k, t in enumerate(chosen):
            feats = idx[order[:, k]].tolist()
            picked = [
                terms[f]
                for f, v in zip(feats, best[:, k].tolist(), strict=True)
                if v > 0 and not hidden[f]
            ]
            out[t] = picked[:top]
        return out


def constant_logit(present: bool) -> float:
    """The decision value of a head that saw one class only (always or never that type)."""
    return _CONSTANT_LOGIT if present else -_CONSTANT_LOGIT
