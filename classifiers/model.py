"""The learned part of the tagger: initiative types, primary type and topic (scikit-learn).

One feature extractor (TF-IDF over words, word pairs, 5-letter stems of French-normalised
text and pooled cue counts for four types: character n-grams scored about the same here at
three times the cost) feeds three heads: one-vs-rest logistic regressions for the multi-label
types, a multinomial logistic regression for the primary type, and a binary one for topic_ai.
The decision threshold, one for every type, is chosen by cross-validation (recall-weighted
F-beta over every example's out-of-fold type scores, pooled); the primary type is the one
whose primary and type probabilities agree best.

Fitting needs scikit-learn; predicting does not: `TypeModel.predictor()` hands the fitted
parameters to classifiers.predictor, which is what the tagger runs (and all that a tagging
worker loads).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import MultiLabelBinarizer

from classifiers.predictor import Predictor, TypePrediction, analyze, constant_logit
from classifiers.taxonomy import TYPES

MIN_CALIBRATION = 40  # press-style examples needed to calibrate thresholds on them alone
# Thresholds maximise F-beta with recall weighted 1.5 times precision: TAXONOMY's types are
# generous (2.2 per article), and F1-optimal thresholds gave 1.9 types per real article.
# Measured on real articles (half A): out-of-fold scores of every example with beta 1.5 beat
# press-only ones and beta 1 or 2.
THRESHOLD_BETA = 1.5


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


class TypeModel:
    """Types, primary type and topic of an article (scikit-learn conventions: fit returns self)."""

    def __init__(
        self,
        c_types: float = 8.0,
        c_primary: float = 8.0,
        c_topic: float = 4.0,
        cv_folds: int = 5,
        random_state: int = 0,
        threshold_beta: float = THRESHOLD_BETA,
        press_thresholds: bool = False,
    ) -> None:
        self.c_types = c_types
        self.c_primary = c_primary
        self.c_topic = c_topic
        self.cv_folds = cv_folds
        self.random_state = random_state
        self.threshold_beta = threshold_beta
        self.press_thresholds = press_thresholds

    def fit(
        self,
        texts: Sequence[str],
        types: Sequence[Sequence[str]],
        primary: Sequence[str],
        topic: Sequence[bool],
        calibrate: Sequence[bool] = (),
    ) -> TypeModel:
        """Fit the features and the three heads; choose the type threshold by CV.

        calibrate marks the examples that read like real press articles: with press_thresholds
        and enough of them, the thresholds are chosen on their out-of-fold scores only (the other
        examples still train every fold); otherwise on every example's out-of-fold scores.
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
        state.pop("_predictor", None)
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

    def _cv_thresholds(self, x: Any, y: np.ndarray, press: np.ndarray) -> np.ndarray:
        folds = min(self.cv_folds, max(2, int(y.sum(axis=0).min())))
        cv = KFold(n_splits=folds, shuffle=True, random_state=self.random_state)
        probs = cross_val_predict(
            OneVsRestClassifier(make_linear(self.c_types)), x, y, cv=cv, method="predict_proba"
        )
        if self.press_thresholds and press.sum() >= MIN_CALIBRATION:
            probs, y = probs[press], y[press]
        # One cut for every type, over all their out-of-fold scores pooled: a cut per type, from
        # 20 to 60 positives each, moved by a grid step whenever a few examples were added and
        # swung real-article type F1 by up to 0.03 (0.770 -> 0.749 after 38 press articles);
        # the shared cut held within 0.01 over the same corpus versions.
        grid = np.arange(0.1, 0.71, 0.05)
        scores = [_fbeta(y.ravel(), (probs >= g).ravel(), self.threshold_beta) for g in grid]
        return np.full(y.shape[1], float(grid[int(np.argmax(scores))]))

    def predictor(self) -> Predictor:
        """The fitted parameters as a numpy-only Predictor: what the tagger runs, here and in
        the workers (persistence stores it next to the skops file)."""
        predictor: Predictor | None = self.__dict__.get("_predictor")
        if predictor is None:
            vocabulary = self.features_.vocabulary_
            terms = [""] * len(vocabulary)
            for term, index in vocabulary.items():
                terms[index] = term
            width = len(terms)
            rows, biases = [], []
            for head in [*self.types_.estimators_, self.primary_, self.topic_]:
                if hasattr(head, "coef_"):
                    rows.append(np.atleast_2d(head.coef_))
                    biases.append(np.ravel(head.intercept_))
                else:  # a type every training example had (or none had): a constant
                    rows.append(np.zeros((1, width)))
                    biases.append(np.array([constant_logit(bool(head.y_))]))
            predictor = self._predictor = Predictor(
                terms,
                self.features_.idf_,
                np.vstack(rows).T,
                np.concatenate(biases),
                self.thresholds_,
                [str(c) for c in self.primary_.classes_],
            )
        return predictor

    def predict(self, texts: Sequence[str], *, evidence: bool = True) -> list[TypePrediction]:
        """Predictions for prepared texts (see prepare())."""
        return self.predictor().predict(texts, evidence=evidence)


def _fbeta(truth: np.ndarray, pred: np.ndarray, beta: float) -> float:
    tp = float(np.sum(truth & pred))
    fp = float(np.sum(~truth.astype(bool) & pred))
    fn = float(np.sum(truth.astype(bool) & ~pred))
    b2 = beta * beta
    return 0.0 if tp == 0 else (1 + b2) * tp / ((1 + b2) * tp + b2 * fn + fp)
