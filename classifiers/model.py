"""The learned part of the tagger: initiative types, primary type and topic (scikit-learn).

One feature extractor (TF-IDF over words, word pairs, 5-letter stems of French-normalised
text and pooled cue counts for four types: character n-grams scored about the same here at
three times the cost) feeds three heads: one-vs-rest logistic regressions for the multi-label
types, a multinomial logistic regression for the primary type, and a binary one for topic_ai.
Per-type decision thresholds are chosen by cross-validation, on the press-style examples
when there are enough of them; the primary type is the one whose primary and type
probabilities agree best.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import MultiLabelBinarizer

from classifiers.taxonomy import TYPES
from classifiers.text import LATIN_FOLD

TEXT_CHARS = 3000
MIN_CALIBRATION = 40  # press-style examples needed to calibrate thresholds on them alone
_SPACES = re.compile(r"\s+")


def _fold_table() -> dict[int, str]:
    """The shared accent fold, plus the apostrophe and every digit folded (one str.translate)."""
    table = {**LATIN_FOLD, ord("’"): "'"}
    table.update({d: "0" for d in range(ord("0"), ord("9") + 1)})
    return table


_FOLD = _fold_table()


def prepare(title: str, text: str, limit: int = TEXT_CHARS) -> str:
    """French-aware normal form: lowercase, no accents, digits folded, title weighted twice."""
    raw = f"{title}. {title}. {text[:limit]}".lower().translate(_FOLD)
    return _SPACES.sub(" ", raw)


_TOKEN = re.compile(r"\b[a-z][a-z0-9]+\b")
STEM_PREFIX = "~"


# Evidence cues pooled into one feature per type: the press names events, agreements, courses
# and grants with many words the corpus sees only a few times each (a "sommet" teaches
# nothing about a "salon"). Pooling the cues of the other types measured worse.
_CUES = {
    "event": re.compile(
        r"\b(?:forum|sommet|summit|salon|congres|colloque|conference|hackathon|afterwork|meetup"
        r"|rencontres?|journees?|semaine|festival|stands?|visite|delegation|trophees?|webinaire"
        r"|table ronde|keynote|edition|inaugur\w*)\b"
    ),
    "partnership": re.compile(
        r"\b(?:partenariats?|conventions?|accords?|ententes?|consortium|consortia|alliance"
        r"|signe|signent|signature|cooperation|memorandum|protocole|jumelage|s'associent"
        r"|main dans la main|collaboration)\b"
    ),
    "training": re.compile(
        r"\b(?:formations?|former|cursus|diplomes?|master|licence|certification|mooc|ecoles?"
        r"|etudiants?|apprentis|apprentissage|bootcamp|reconversion|competences|cours)\b"
    ),
    "funding": re.compile(
        r"\b(?:appel a projets|appel a candidatures|subventions?|fonds|leve|levee|dotation"
        r"|financements?|finance|investissements?|enveloppe|millions d'euros)\b"
    ),
}


def analyze(doc: str) -> list[str]:
    """Words, word pairs, 5-letter stems ('financement' ~ 'financer') and pooled cue counts."""
    toks = _TOKEN.findall(doc)
    out = toks + [a + " " + b for a, b in pairwise(toks)]
    out += [STEM_PREFIX + t[:5] for t in toks if len(t) > 5]
    for name, cue in _CUES.items():
        out += [STEM_PREFIX + "cue:" + name] * len(cue.findall(doc))
    return out


def make_features() -> TfidfVectorizer:
    """Sublinear TF-IDF over analyze()."""
    return TfidfVectorizer(
        analyzer=analyze, min_df=2, max_df=0.9, sublinear_tf=True, max_features=80_000
    )


def make_linear(c: float, *, multiclass: bool = False) -> LogisticRegression:
    """The linear model of every head (liblinear: fast on small sparse data)."""
    if multiclass:
        return LogisticRegression(C=c, class_weight="balanced", max_iter=2000)
    return LogisticRegression(C=c, class_weight="balanced", solver="liblinear")


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


class TypeModel:
    """Types, primary type and topic of an article (scikit-learn conventions: fit returns self)."""

    def __init__(
        self,
        c_types: float = 8.0,
        c_primary: float = 8.0,
        c_topic: float = 4.0,
        cv_folds: int = 5,
        random_state: int = 0,
    ) -> None:
        self.c_types = c_types
        self.c_primary = c_primary
        self.c_topic = c_topic
        self.cv_folds = cv_folds
        self.random_state = random_state

    def fit(
        self,
        texts: Sequence[str],
        types: Sequence[Sequence[str]],
        primary: Sequence[str],
        topic: Sequence[bool],
        calibrate: Sequence[bool] = (),
    ) -> TypeModel:
        """Fit the features and the three heads; choose per-type thresholds by CV.

        calibrate marks the examples that read like real press articles: when there are enough
        of them, the thresholds are chosen on their out-of-fold scores only (the other examples
        still train every fold), so they fit the text the tagger will meet.
        """
        self.features_ = make_features().fit(texts)
        x_all = self.features_.transform(texts)
        on = np.array(topic, dtype=bool)
        x_on = x_all[on]
        self.binarizer_ = MultiLabelBinarizer(classes=list(TYPES)).fit([TYPES])
        y_types = self.binarizer_.transform([t for t, keep in zip(types, on, strict=True) if keep])
        self.types_ = OneVsRestClassifier(make_linear(self.c_types)).fit(x_on, y_types)
        press = np.array(calibrate, dtype=bool)[on] if len(calibrate) else np.zeros(0, bool)
        self.thresholds_ = self._cv_thresholds(x_on, y_types, press)
        y_primary = np.array([p for p, keep in zip(primary, on, strict=True) if keep])
        self.primary_ = make_linear(self.c_primary, multiclass=True).fit(x_on, y_primary)
        self.topic_ = make_linear(self.c_topic).fit(x_all, np.array(topic, dtype=int))
        return self

    def __getstate__(self) -> dict[str, Any]:
        # skops stores a dict of numpy ints node by node (seconds to load): keep the vocabulary
        # as one string in index order instead, and rebuild the dict on load.
        state = dict(self.__dict__)
        state.pop("_names", None)
        features = state.get("features_")
        if features is not None and getattr(features, "vocabulary_", None):
            terms = [""] * len(features.vocabulary_)
            for term, index in features.vocabulary_.items():
                terms[index] = term
            features = copy.copy(features)
            features.vocabulary_ = {}
            state["features_"] = features
            state["vocabulary_terms_"] = "\n".join(terms)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        terms = state.pop("vocabulary_terms_", None)
        self.__dict__.update(state)
        if terms is not None:
            self.features_.vocabulary_ = {term: i for i, term in enumerate(terms.split("\n"))}

    def _feature_names(self) -> list[str]:
        names: list[str] | None = self.__dict__.get("_names")
        if names is None:
            names = [""] * len(self.features_.vocabulary_)
            for term, index in self.features_.vocabulary_.items():
                names[index] = term
            self._names = names
        return names

    def _cv_thresholds(self, x: Any, y: np.ndarray, press: np.ndarray) -> np.ndarray:
        folds = min(self.cv_folds, max(2, int(y.sum(axis=0).min())))
        cv = KFold(n_splits=folds, shuffle=True, random_state=self.random_state)
        probs = cross_val_predict(
            OneVsRestClassifier(make_linear(self.c_types)), x, y, cv=cv, method="predict_proba"
        )
        if press.sum() >= MIN_CALIBRATION:
            probs, y = probs[press], y[press]
        grid = np.arange(0.1, 0.71, 0.05)
        best = []
        for j in range(y.shape[1]):
            scores = [_f1(y[:, j], probs[:, j] >= g) for g in grid]
            best.append(float(grid[int(np.argmax(scores))]))
        return np.array(best)

    def predict(self, texts: Sequence[str], *, evidence: bool = True) -> list[TypePrediction]:
        """Predictions for prepared texts (see prepare())."""
        x = self.features_.transform(texts)
        p_types = self.types_.predict_proba(x)
        p_primary = self.primary_.predict_proba(x)
        p_topic = self.topic_.predict_proba(x)[:, 1]
        classes = list(self.primary_.classes_)
        out = []
        for i in range(len(texts)):
            scores = {t: float(p_types[i, j]) for j, t in enumerate(TYPES)}
            chosen = [t for j, t in enumerate(TYPES) if p_types[i, j] >= self.thresholds_[j]]
            prim_scores = {str(c): float(p_primary[i, k]) for k, c in enumerate(classes)}
            # The primary type must also be a likely type: the primary head alone leans to the
            # classes it saw most as primaries (event, strategy) on press text.
            primary = max(prim_scores, key=lambda c: prim_scores[c] * scores.get(c, 0.0))
            if primary not in chosen:
                chosen.append(primary)
            chosen.sort(key=lambda t: -scores[t])
            ev = self._evidence(x[i], chosen) if evidence else {}
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

    def _evidence(self, row: Any, chosen: Sequence[str], top: int = 5) -> dict[str, list[str]]:
        """The words of the article that pushed each chosen type up the most."""
        words = sparse.csr_matrix(row)
        if words.nnz == 0:
            return {}
        names = self._feature_names()
        idx, vals = words.indices, words.data
        out: dict[str, list[str]] = {}
        for t in chosen:
            coef = self.types_.estimators_[TYPES.index(t)].coef_[0]
            contrib = vals * coef[idx]
            order = np.argsort(-contrib)[: top * 2]
            picked = [
                names[idx[k]]
                for k in order
                if contrib[k] > 0 and not names[idx[k]].startswith(STEM_PREFIX)
            ]
            out[t] = picked[:top]
        return out


def _f1(truth: np.ndarray, pred: np.ndarray) -> float:
    tp = float(np.sum(truth & pred))
    fp = float(np.sum(~truth.astype(bool) & pred))
    fn = float(np.sum(truth.astype(bool) & ~pred))
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)
