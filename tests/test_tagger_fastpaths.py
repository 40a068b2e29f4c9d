"""The tagger's fast paths against their straightforward definitions, on every corpus text.

Each fast piece (accent fold by str.replace, tokens split in C, one Aho-Corasick pass, features
from token numbers, evidence ranked for all types at once) must give exactly what the plain
definition gives; a difference here is a tag that changed.
"""

from __future__ import annotations

import unicodedata
from itertools import accumulate
from pathlib import Path

import numpy as np
import pytest

from classifiers import gazetteer as gz
from classifiers import persistence
from classifiers import predictor as pr
from classifiers import text as tx
from classifiers.corpus import load_examples, press_examples
from classifiers.taxonomy import TYPES
from classifiers.textclean import clean_text

ODD = [
    "",
    "Ǆ Ŀ ŉ ſ ﬁnance Łódź, Kraków ; ÉCOLE Ⅻ ＡＢＣ Saint‑Étienne",
    "İstanbul, İzmir, ß Straße, Ｐａｒｉｓ ﬂeur, la Côte d'Azur… « Marseille » — Nice",
    "snake_case la_région 3d 5G covid19 l'IA d’Occitanie 10 000 € 2,5 M€ 3°C ×2 ½",
    "<p>Lille</p> et <b>Rouen</b>",
    "Ελλάδα 2025 日本 Île-de-France\u00a0: «IA»\u202f!",
    "50 m² à Lyon, 3°C › Nantes © Rennes ® 2 M€ ³ ¹ ™ ½",
]


@pytest.fixture(scope="module")
def texts() -> list[tuple[str, str]]:
    """(title, text) of every example, cleaned as the tagger cleans them, and odd strings."""
    examples = load_examples() + press_examples()
    out = [(clean_text(e.title)[:1000], clean_text(e.text)) for e in examples]
    return out + [(a, b) for a in ODD for b in ODD[:3]]


def test_fold_is_str_translate(texts: list[tuple[str, str]]) -> None:
    folds = [gz._FOLD, pr._FOLD, tx._KEY_FOLD, tx.fold_latin]
    for title, text in texts:
        for fold in folds:
            assert fold(text) == text.translate(fold.table)
            assert fold(title.lower()) == title.lower().translate(fold.table)


def _reference_fold(text: str) -> str:
    """Lowercase ASCII with accents removed (NFKD) and "?" for any other non-ASCII character."""
    table = {**tx.LATIN_FOLD, **{c: "?" for c in map(ord, "’‘“”«»–—\u00a0\u202f\u2009•·")}}
    folded = text.translate(table | {0x2026: "."})
    decomposed = unicodedata.normalize("NFKD", folded)
    folded = "".join(c for c in decomposed if not unicodedata.combining(c))
    return folded.encode("ascii", "replace").decode("ascii").lower()


def test_the_places_fold_is_its_definition(texts: list[tuple[str, str]]) -> None:
    for title, text in texts:
        assert gz._fold(title) == _reference_fold(title)
        assert gz._fold(text) == _reference_fold(text)


def _reference_tokens(text: str) -> tuple[list[str], list[int]]:
    """Tokens as a regular expression splits them (the definition)."""
    folded = gz._fold(text)
    nparts = gz._ASCII_SPLIT.split(folded)
    parts = nparts if len(folded) == len(text) else gz._SPLIT.split(text)
    if len(parts) != len(nparts):
        nparts = [p if k % 2 == 0 else gz._norm_token(p) for k, p in enumerate(parts)]
    return nparts[1::2], list(accumulate(map(len, parts)))


def _reference_longest(norms: list[str], table: dict[str, object]) -> list[tuple[int, int, str]]:
    """The longest key of table (up to MAX_NGRAM words) starting at each token, by lookups."""
    found = []
    for i in range(len(norms)):
        best = None
        for n in range(1, gz.MAX_NGRAM + 1):
            if i + n <= len(norms) and " ".join(norms[i : i + n]) in table:
                best = (i, i + n, " ".join(norms[i : i + n]))
        if best:
            found.append(best)
    return found


def test_tokens_and_keys_are_those_of_the_definition(texts: list[tuple[str, str]]) -> None:
    places = gz.Gazetteer.load()
    for title, text in texts:
        for part in (title, text[: gz.MAX_TEXT_CHARS]):
            toks = gz._Tokens(part)
            norms, bounds = _reference_tokens(part)
            assert toks.norm == norms
            assert toks.bounds == bounds
            entries, cues = places._keys.longest(toks.norm)
            assert entries == _reference_longest(norms, places._entries)
            assert cues == _reference_longest(norms, places._national)


@pytest.fixture(scope="module")
def predictor(trained_models: Path) -> pr.Predictor:
    """The session model's stored predictor."""
    return persistence.load_predictor(trained_models)[0]


def test_features_are_those_analyze_names(
    predictor: pr.Predictor, texts: list[tuple[str, str]]
) -> None:
    """transform() counts, per text, exactly the vocabulary features of analyze()."""
    docs = [pr.prepare(title, text) for title, text in texts]
    docs += ["a b c", "l_ia forum", "ai 5g", "forum 2024 salon", "Forum Salon", "x" * 7]
    rows = predictor.transform(docs)
    for i, doc in enumerate(docs):
        expected: dict[int, int] = {}
        for feat in pr.analyze(doc):
            col = predictor.vocabulary.get(feat)
            if col is not None:
                expected[col] = expected.get(col, 0) + 1
        lo, hi = rows.indptr[i], rows.indptr[i + 1]
        assert rows.indices[lo:hi].tolist() == sorted(expected)
        if expected:
            tf = np.array([1.0 + np.log(expected[c]) for c in sorted(expected)])
            weights = tf * predictor.idf[sorted(expected)]
            assert np.allclose(rows.data[lo:hi], weights / np.linalg.norm(weights), atol=1e-12)


def test_evidence_is_ranked_as_for_each_type_alone(
    predictor: pr.Predictor, texts: list[tuple[str, str]]
) -> None:
    docs = [pr.prepare(title, text) for title, text in texts]
    rows = predictor.transform(docs)
    products = predictor.products(rows)
    for i in range(len(docs)):
        lo, hi = rows.indptr[i], rows.indptr[i + 1]
        if lo == hi:
            continue
        idx, vals = rows.indices[lo:hi], rows.data[lo:hi]
        ev = predictor._evidence(rows, products, i, list(TYPES))
        for t in TYPES:
            col = predictor.coef[idx, TYPES.index(t)] * vals
            order = np.argpartition(-col, min(10, len(col) - 1))[:10]
            order = order[np.argsort(-col[order])]
            names = [predictor.terms[idx[j]] for j in order]
            kept = zip(order, names, strict=True)
            expected = [n for j, n in kept if col[j] > 0 and n[0] != "~"][:5]
            assert ev[t] == expected
