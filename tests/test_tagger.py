"""The tagger end to end: training, persistence, bad input, the classify and evaluate commands."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from classifiers import persistence
from classifiers.corpus import load_examples, seed_examples
from classifiers.gazetteer import Gazetteer
from classifiers.tagger import Tagger
from classifiers.taxonomy import REGIONS, TYPES
from classifiers.train import load_or_train

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def models_dir(trained_models: Path) -> Path:
    """The session's trained model (tests/conftest.py)."""
    return trained_models


@pytest.fixture(scope="session")
def tagger(models_dir: Path) -> Tagger:
    """The tagger loaded from the session's model."""
    return Tagger.load(models_dir, Gazetteer.load())


def _valid(result: dict) -> None:
    assert set(result) >= {
        "regions",
        "countries",
        "national",
        "types",
        "primary_type",
        "topic_ai",
        "scores",
        "evidence",
    }
    assert all(r in REGIONS for r in result["regions"])
    assert all(len(c) == 2 and c.isupper() and c != "FR" for c in result["countries"])
    assert 1 <= len(result["types"]) <= len(TYPES)
    assert all(t in TYPES for t in result["types"])
    assert result["primary_type"] in result["types"]
    assert isinstance(result["topic_ai"], bool) and isinstance(result["national"], bool)
    json.dumps(result)  # JSON-ready


def test_seeds_are_tagged_like_their_labels(tagger: Tagger) -> None:
    for ex in seed_examples():
        result = tagger.tag(ex.title, ex.text).to_dict()
        _valid(result)
        assert result["regions"] == list(ex.regions)
        assert sorted(result["countries"]) == sorted(ex.countries)
        assert result["topic_ai"] is True
        assert ex.primary_type in result["types"]


def test_evidence_explains_tags(tagger: Tagger) -> None:
    result = tagger.tag(
        "Lille : EuraTechnologies lance un accélérateur dédié à l'intelligence artificielle",
        "L'incubateur lillois accompagnera 20 startups de l'IA pendant six mois, avec la Région "
        "Hauts-de-France et Bpifrance.",
    ).to_dict()
    assert result["regions"] == ["Hauts-de-France"]
    assert result["evidence"]["regions"]["Hauts-de-France"]
    assert "business_support" in result["types"]
    assert result["evidence"]["types"]["business_support"]
    assert 0.0 <= result["scores"]["topic_ai"] <= 1.0


def test_off_topic_news_is_recognised(tagger: Tagger) -> None:
    result = tagger.tag(
        "Ligue 1 : le LOSC s'impose face au RC Lens dans le derby du Nord",
        "Devant 50 000 spectateurs au stade Pierre-Mauroy, les Lillois ont battu Lens 2-1 "
        "grâce à un doublé de leur attaquant en seconde période. L'entraîneur a salué l'état "
        "d'esprit de son équipe avant le déplacement à Marseille.",
    ).to_dict()
    assert result["topic_ai"] is False


@pytest.mark.parametrize(
    ("title", "text"),
    [
        ("", ""),
        ("Titre seul", ""),
        ("Gros texte", "L'intelligence artificielle à Rennes. " * 140_000),  # about 5 MB
        ("Soupe", "<html><body><div><p>IA <b>à <i>Nantes</p></div><script>alert(1)</script>" * 200),
        (
            "AI in Lyon",
            "The city of Lyon opened an artificial intelligence research centre with Inria.",
        ),
        (
            "KI in Stuttgart",
            "Die Landesregierung fördert künstliche Intelligenz in Stuttgart und Karlsruhe.",
        ),
        ("Sans lieu", "Une entreprise a présenté un nouveau logiciel de traitement des données."),
        ("\x00\x01", "\ufffd\ufeff\u202e texte étrange \x1b[31m"),
    ],
)
@pytest.mark.timeout(60)
def test_bad_input_gives_a_valid_answer(tagger: Tagger, title: str, text: str) -> None:
    _valid(tagger.tag(title, text).to_dict())


def test_persistence_refuses_other_versions_and_retrains(models_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "models"
    shutil.copytree(models_dir, copy)
    meta = json.loads((copy / "metadata.json").read_text())
    (copy / "metadata.json").write_text(json.dumps({**meta, "model_format": 1}))
    with pytest.raises(persistence.ModelMismatch, match="format 1"):
        persistence.read_info(copy)
    meta["sklearn_version"] = "0.0.1"
    (copy / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(persistence.ModelMismatch, match=r"scikit-learn 0\.0\.1"):
        persistence.read_info(copy)
    meta["sklearn_version"] = persistence.sklearn_version()
    meta["taxonomy"] = "another"
    (copy / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(persistence.ModelMismatch, match="label scheme"):
        Tagger.load(copy)
    (copy / "types.skops").write_bytes(b"not a model")
    meta["taxonomy"] = persistence.taxonomy_hash()
    (copy / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(persistence.ModelMismatch, match="cannot be loaded"):
        persistence.load(copy)


def test_missing_model_is_trained_on_first_load(tmp_path: Path) -> None:
    folder = tmp_path / "models"
    with pytest.raises(persistence.ModelMissing):
        persistence.read_info(folder)
    tagger = load_or_train(folder, extra=())
    assert (folder / "types.skops").exists()
    assert tagger.version == persistence.read_info(folder).version


def test_corpus_meets_the_issue_minimums() -> None:
    examples = load_examples()
    on = [e for e in examples if e.topic_ai]
    for kind in TYPES:
        assert sum(kind in e.types for e in on) >= 40, kind
    assert sum(not e.topic_ai for e in examples) >= 60
    assert {r for e in examples for r in e.regions} == set(REGIONS)
    assert any(e.heldout for e in examples) and any(not e.heldout for e in examples)


def _veille(
    args: list[str], state: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {"VEILLE_STATE_DIR": str(state), "PATH": "/usr/bin:/bin", "HOME": str(state)}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
        check=False,
    )


def test_classify_jsonl_keeps_order_and_ids(models_dir: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    shutil.copytree(models_dir, state / "models")
    lines = [
        {
            "id": "a",
            "title": "Rennes : un campus de la cybersécurité et de l'IA",
            "text": "La Région Bretagne finance.",
        },
        {"title": "Sans id", "text": ""},
        {
            "id": 3,
            "title": "Montréal et Nantes signent un accord sur l'IA",
            "text": "Coopération Québec.",
        },
    ]
    done = _veille(
        ["classify", "--jsonl", "-"], state, "\n".join(json.dumps(x) for x in lines) + "\n"
    )
    assert done.returncode == 0, done.stderr
    out = [json.loads(x) for x in done.stdout.splitlines()]
    assert len(out) == 3
    assert out[0]["id"] == "a" and "id" not in out[1] and out[2]["id"] == 3
    assert "Bretagne" in out[0]["regions"]
    assert "CA" in out[2]["countries"] and "Pays de la Loire" in out[2]["regions"]
    for row in out:
        _valid(row)


def test_classify_a_file_and_evaluate_a_labelled_file(models_dir: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    shutil.copytree(models_dir, state / "models")
    seed = ROOT / "classifiers" / "data" / "seeds" / "001_fa8003bb6d098e8d.txt"
    done = _veille(["classify", str(seed)], state)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["regions"] == ["Hauts-de-France"]
    labelled = tmp_path / "eval.jsonl"
    with labelled.open("w") as fh:
        for ex in seed_examples():
            fh.write(
                json.dumps(
                    {
                        "id": ex.id,
                        "title": ex.title,
                        "text": ex.text,
                        "regions": list(ex.regions),
                        "countries": list(ex.countries),
                        "national": ex.national,
                        "types": list(ex.types),
                        "primary_type": ex.primary_type,
                        "topic_ai": ex.topic_ai,
                    }
                )
                + "\n"
            )
    report = tmp_path / "metrics.json"
    done = _veille(["evaluate", str(labelled), "--json", str(report)], state)
    assert done.returncode == 0, done.stderr
    metrics = json.loads(report.read_text())
    assert metrics["n"] == 5
    assert metrics["region_micro_f1"] == 1.0
    assert "primary_confusion" in metrics


def test_a_correction_becomes_a_training_example(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from bot.config import FeedConfig
    from bot.store.corrections import add_correction, correction_examples
    from bot.store.repo import Store
    from bot.store.rows import ParsedItem

    now = datetime(2026, 11, 20, tzinfo=UTC)
    store = Store.open(f"sqlite:///{tmp_path / 'v.db'}")
    store.sync_feeds([FeedConfig(id="f", name="F", url="http://127.0.0.1:9/f")], now)
    item = ParsedItem(
        dedup_key="guid:1",
        guid="1",
        link=None,
        canonical_link=None,
        title="Un hackathon IA à Caen",
        summary="",
        content="Le hackathon réunit 200 étudiants.",
        author=None,
        published_at=now,
        date_is_fallback=False,
        language="fr",
        title_key=None,
    )
    [item_id] = store.insert_items("f", [item], now)
    store.save_tags(
        [
            (
                item_id,
                {
                    "regions": ["Normandie"],
                    "countries": [],
                    "national": False,
                    "types": ["training"],
                    "primary_type": "training",
                    "topic_ai": True,
                },
            )
        ],
        now,
        "t",
    )
    add_correction(store, item_id, "primary_type", "event", chat_id=42, now=now)
    [example] = correction_examples(store)
    assert example.primary_type == "event" and "event" in example.types
    assert example.regions == ("Normandie",) and example.source == "correction"
    assert not example.heldout
    assert example in load_examples([example])


def test_press_set_is_never_trained_on() -> None:
    from classifiers.corpus import press_examples

    press = press_examples()
    assert len(press) >= 40
    assert {e.source for e in press} == {"press"}
    trained = {(e.title, e.text) for e in load_examples()}
    assert not [e.id for e in press if (e.title, e.text) in trained]
    assert any(not e.topic_ai for e in press) and any(e.topic_ai for e in press)


def test_evaluation_report_scores_unseen_sets_side_by_side() -> None:
    from classifiers.train import evaluation_report

    examples = load_examples()
    train_part = [e for e in examples if not e.heldout and e.source != "seed"]
    sample = [e for e in examples if e.source == "seed" or e.heldout] + train_part[::8]
    report = evaluation_report(sample)
    assert list(report) == ["heldout", "seeds", "press"]
    assert report["seeds"]["n"] == 5
    assert report["heldout"]["n"] == sum(1 for e in examples if e.heldout)
    for metrics in report.values():
        assert 0.0 <= metrics["type_macro_f1"] <= 1.0
        assert 0.0 <= metrics["national_f1"] <= 1.0
        assert "primary_confusion" in metrics


def test_press_examples_calibrate_the_thresholds() -> None:
    from classifiers.model import TypeModel

    rows = [
        ("forum salon rencontres annonce", ["event"], True),
        ("fonds subvention appel projets", ["funding"], True),
        ("forum annonce fonds subvention", ["event", "funding"], True),
        ("match football score buts", ["event"], False),
    ] * 30
    texts = [f"{t} article {i}" for i, (t, _, _) in enumerate(rows)]
    types = [ty for _, ty, _ in rows]
    primary = [ty[0] for ty in types]
    topic = [on for _, _, on in rows]
    plain = TypeModel(cv_folds=3).fit(texts, types, primary, topic)
    press = TypeModel(cv_folds=3).fit(texts, types, primary, topic, calibrate=topic)
    assert plain.thresholds_.shape == press.thresholds_.shape == (len(TYPES),)
    # One cut for every type: per-type cuts from a few dozen positives moved with each corpus edit.
    assert len(set(plain.thresholds_.tolist())) == len(set(press.thresholds_.tolist())) == 1
    pred = press.predict(["forum annonce fonds subvention article"], evidence=False)[0]
    assert {"event", "funding"} <= set(pred.types)
    assert pred.primary_type in pred.types


def test_the_predictor_gives_what_scikit_learn_gives(models_dir: Path) -> None:
    """The stored numpy-only predictor reproduces the vectorizer's rows and every head's
    predict_proba of the skops model, on the corpus."""
    import numpy as np
    from scipy import sparse

    from classifiers.predictor import prepare

    model, info = persistence.load(models_dir)
    predictor, lean_info = persistence.load_predictor(models_dir)
    assert lean_info == info and predictor.version == info.version
    texts = [prepare(e.title, e.text) for e in load_examples()]
    texts += ["", "zzz qqq", prepare("Forum", "le forum et la table ronde, appel à projets")]
    rows = predictor.transform(texts)
    fast = sparse.csr_matrix((rows.data, rows.indices, rows.indptr), shape=(len(texts), rows.width))
    reference = model.features_.transform(texts)
    assert fast.shape == reference.shape
    assert abs(fast - reference).max() < 1e-12
    p_types, p_primary, p_topic = predictor.probabilities(rows)
    assert np.allclose(p_types, model.types_.predict_proba(reference), rtol=0, atol=1e-9)
    assert np.allclose(p_primary, model.primary_.predict_proba(reference), rtol=0, atol=1e-9)
    assert np.allclose(p_topic, model.topic_.predict_proba(reference)[:, 1], rtol=0, atol=1e-9)
    assert list(predictor.classes) == [str(c) for c in model.primary_.classes_]
    assert np.array_equal(predictor.thresholds, model.thresholds_)


def test_the_tagger_loads_without_scikit_learn(models_dir: Path) -> None:
    """A tagging process (a poll worker) imports numpy, not scikit-learn, SciPy or skops."""
    code = (
        "import sys; from pathlib import Path; from classifiers.tagger import Tagger; "
        f"t = Tagger.load(Path({str(models_dir)!r})); "
        "r = t.tag('Forum IA à Lille', 'La Région Hauts-de-France réunit les PME.'); "
        "assert r.regions == ['Hauts-de-France'], r; "
        "print(sorted(m for m in ('sklearn', 'scipy', 'skops') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_predictor_file_of_another_model_is_refused(models_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "models"
    shutil.copytree(models_dir, copy)
    predictor, _ = persistence.load_predictor(copy)
    predictor.version = "another"
    predictor.save(copy / persistence.PREDICTOR_FILE)
    with pytest.raises(persistence.ModelMismatch, match="belongs to model 'another'"):
        Tagger.load(copy)
    (copy / persistence.PREDICTOR_FILE).write_bytes(b"not arrays")
    with pytest.raises(persistence.ModelMismatch, match="cannot be loaded"):
        Tagger.load(copy)
    (copy / persistence.PREDICTOR_FILE).unlink()
    with pytest.raises(persistence.ModelMismatch, match="missing"):
        Tagger.load(copy)


def test_cue_features_pool_words_and_word_pairs() -> None:
    from classifiers.predictor import analyze

    feats = analyze("le forum et la table ronde : appel a projets de 3 millions d'euros")
    assert feats.count("~cue:event") == 2  # "forum", "table ronde"
    assert feats.count("~cue:funding") == 2  # "appel (a) projets", "millions (d') euros"
    assert "~cue:training" not in feats


def test_awards_seminars_and_fairs_are_event_cues() -> None:
    from classifiers.predictor import analyze

    feats = analyze("le jury du concours remet son prix lors du symposium devant les exposants")
    assert feats.count("~cue:event") == 5  # jury, concours, prix, symposium, exposants
    assert "~cue:funding" not in feats


def test_an_event_as_the_setting_is_an_event_cue() -> None:
    from classifiers.predictor import analyze, prepare

    doc = prepare(
        "Au rendez-vous VivaTech, la Région dévoile son plan", "Un débat suit l'événement."
    )
    feats = analyze(doc)
    # title twice (rendez-vous, vivatech) + debat + evenement
    assert feats.count("~cue:event") == 6
    assert "~cue:strategy" not in feats


def test_to_dict_copies_the_label_lists(tagger: Tagger) -> None:
    result = tagger.tag("Forum IA à Lille", "La Région Hauts-de-France réunit les PME à Lille.")
    out = result.to_dict()
    out["regions"].append("Corse")
    assert "Corse" not in result.regions
    assert list(out)[:6] == [
        "regions",
        "countries",
        "national",
        "types",
        "primary_type",
        "topic_ai",
    ]


def test_recall_weighted_thresholds_are_lower() -> None:
    """threshold_beta > 1 favours recall: no type's threshold goes up, some go down."""
    from classifiers.model import TypeModel

    # "annonce region" is an event 4 times in 14: worth including only when recall counts more.
    rows = (
        [("forum salon rencontres", ["event"])] * 30
        + [("fonds subvention projets", ["funding"])] * 30
        + [("annonce region", ["event"])] * 4
        + [("annonce region", ["funding"])] * 10
        + [("match football score buts", ["event"])] * 20
    )
    texts = [f"{t} article {i}" for i, (t, _) in enumerate(rows)]
    types = [ty for _, ty in rows]
    primary = [ty[0] for ty in types]
    topic = ["football" not in t for t in texts]
    strict = TypeModel(cv_folds=3, threshold_beta=1.0).fit(texts, types, primary, topic)
    generous = TypeModel(cv_folds=3, threshold_beta=3.0).fit(texts, types, primary, topic)
    assert (generous.thresholds_ <= strict.thresholds_).all()
    assert (generous.thresholds_ < strict.thresholds_).any()
