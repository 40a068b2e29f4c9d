"""Story clustering: the pure core (fingerprints, decision, bounded state) and the labelled set."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import numpy as np
from datasketch import MinHash

from bot import stories
from bot.stories import (
    Clusterer,
    Fingerprint,
    LabelledItem,
    Member,
    band_keys,
    evaluate_labelled,
    fingerprint,
    minhash_signatures,
    pairwise_scores,
    representative,
    similarity,
)
from classifiers.gazetteer import Gazetteer
from classifiers.text import fold_lower
from tests.conftest import NOW

LABELLED = Path(stories.__file__).parents[1] / "classifiers/data/stories/labelled.jsonl"


def labelled() -> list[LabelledItem]:
    """The project's labelled clustering set."""
    lines = LABELLED.read_text(encoding="utf-8").splitlines()
    return [LabelledItem.from_json(json.loads(line)) for line in lines if line.strip()]


PLAN = (
    "La Région Bretagne adopte une stratégie pour l'IA",
    "Réunis à Rennes, les élus régionaux ont voté 40 millions d'euros pour les PME bretonnes.",
)
PLAN_RETOLD = (
    "Bretagne : 40 M€ pour accompagner les PME vers l'intelligence artificielle",
    "Le conseil régional de Bretagne a validé à Rennes sa feuille de route : 40 millions d'euros.",
)
OTHER = (
    "Toulouse : un laboratoire commun Airbus-ONERA sur l'IA embarquée",
    "40 chercheurs travailleront à Toulouse sur la certification des systèmes embarqués.",
)
# One news told in two halves too different to join (A, C), and the item that tells both (B):
# a first poll that reads A and C before B starts two stories, which B merges.
LINKED = {
    "a": (
        "Bretagne : la Région vote un fonds de 20 millions d'euros pour l'intelligence artificielle",
        "Le conseil régional a voté à Rennes un fonds de 20 millions d'euros pour les PME bretonnes.",
    ),
    "c": (
        "Lannion : le laboratoire Foton ouvre une plateforme d'essais pour l'IA embarquée",
        "Le laboratoire Foton accueillera à Lannion les PME qui testent des puces d'intelligence "
        "artificielle.",
    ),
    "b": (
        "Le fonds IA de 20 millions de la Région Bretagne financera la plateforme du laboratoire "
        "Foton à Lannion",
        "Voté à Rennes, le fonds de 20 millions d'euros ira d'abord aux essais de puces d'IA "
        "embarquée de Foton, à Lannion.",
    ),
}


def test_fingerprint_reads_words_names_and_numbers() -> None:
    fp = fingerprint(*PLAN)
    assert {"bretag", "rennes"} <= fp.names  # names are stemmed like words
    assert "40000000" in fp.numbers  # "40 millions d'euros": one amount
    assert "strate" in fp.words
    assert not {"la", "de", "pour", "ia"} & fp.words  # function words and domain words dropped
    assert "reunis" not in fp.names  # a capital opening a sentence is not a name


def test_empty_titles_and_texts_give_empty_fingerprints_that_match_nothing() -> None:
    empty = fingerprint("", "")
    assert not empty.tokens and band_keys(empty) == []
    assert similarity(empty, fingerprint(*PLAN)) == 0.0
    clusterer = Clusterer()
    first, second = clusterer.add(empty, NOW), clusterer.add(empty, NOW)
    assert first != second  # two empty items are not one story


def test_the_same_news_retold_is_similar_and_other_news_is_not() -> None:
    plan, retold, other = fingerprint(*PLAN), fingerprint(*PLAN_RETOLD), fingerprint(*OTHER)
    assert similarity(plan, retold) >= stories.JOIN_THRESHOLD
    assert similarity(plan, other) < stories.JOIN_THRESHOLD
    assert similarity(plan, retold) == similarity(retold, plan)


def test_different_years_count_against() -> None:
    a = fingerprint("Salon IA Nouvelle-Aquitaine 2026 au Futuroscope", "Édition 2026 à Poitiers.")
    b = fingerprint("Salon IA Nouvelle-Aquitaine 2025 au Futuroscope", "Édition 2025 à Poitiers.")
    same_year = fingerprint("Salon IA Nouvelle-Aquitaine 2026 : le programme", "Poitiers, 2026.")
    assert similarity(a, b) < similarity(a, same_year)


def test_signatures_are_datasketch_minhashes() -> None:
    fps = [fingerprint(*PLAN), fingerprint(*OTHER)]
    rows = minhash_signatures(fps)
    for fp, row in zip(fps, rows, strict=True):
        mh = MinHash(num_perm=stories.NUM_PERM, seed=7)
        mh.update_batch([t.encode() for t in fp.tokens])
        assert np.array_equal(np.asarray(mh.hashvalues, dtype=np.uint64), row)


def test_fingerprints_survive_json() -> None:
    fp = fingerprint(*PLAN)
    assert Fingerprint.from_json(json.loads(json.dumps(fp.to_json()))) == fp


def test_clusterer_joins_within_the_window_only() -> None:
    clusterer = Clusterer()
    first = clusterer.add(fingerprint(*PLAN), NOW)
    assert clusterer.add(fingerprint(*PLAN_RETOLD), NOW + timedelta(hours=5)) == first
    assert clusterer.add(fingerprint(*OTHER), NOW + timedelta(hours=6)) != first
    # The same text weeks later is another story: a story cannot grow for weeks.
    assert clusterer.add(fingerprint(*PLAN), NOW + timedelta(days=20)) != first


def test_a_republished_item_keeps_its_story_and_state_stays_bounded() -> None:
    clusterer = Clusterer()
    first = clusterer.add(fingerprint(*PLAN), NOW)
    for hour in range(1, 60):  # same item, new guid every hour
        assert clusterer.add(fingerprint(*PLAN), NOW + timedelta(hours=hour)) == first or hour > 72
    assert len(clusterer.stories[first].fingerprints) <= stories.KEPT_FINGERPRINTS
    for day in range(30):  # old stories are forgotten as time moves on
        clusterer.add(
            fingerprint(f"Sujet {day} numéro {day}", f"Texte {day}"), NOW + timedelta(days=day)
        )
    assert len(clusterer.stories) <= 8


def test_an_item_linking_two_stories_merges_them_whatever_the_order() -> None:
    fps = {k: fingerprint(*text) for k, text in LINKED.items()}
    assert similarity(fps["a"], fps["c"]) < stories.JOIN_THRESHOLD
    for order in ("acb", "cab", "abc", "bca"):
        clusterer = Clusterer()
        got = {k: clusterer.add(fps[k], NOW + timedelta(hours=n)) for n, k in enumerate(order)}
        final = {k: clusterer.resolve(s) for k, s in got.items()}
        assert len(set(final.values())) == 1, order
        assert final[order[0]] == got[order[0]], "the oldest story survives"
        assert len(clusterer.stories) == 1
        [story] = clusterer.stories.values()
        assert story.first_seen == NOW
        assert len(story.fingerprints) <= stories.MERGED_FINGERPRINTS


def test_an_item_merges_only_the_stories_it_links_well_else_joins_its_best() -> None:
    old, new = stories.StoryState(2, NOW), stories.StoryState(5, NOW + timedelta(hours=1))
    both = {2: old, 5: new}
    weak = stories.MERGE_THRESHOLD - 0.01
    assert stories.merge_plan([(5, 0.6), (2, weak)], both) == (5, [])
    assert stories.merge_plan([(5, 0.6), (2, stories.MERGE_THRESHOLD)], both) == (2, [5])
    assert stories.merge_plan([(2, 0.5)], both) == (2, [])


def test_stories_merge_only_within_one_window() -> None:
    fps = {k: fingerprint(*text) for k, text in LINKED.items()}
    clusterer = Clusterer()
    a = clusterer.add(fps["a"], NOW)
    c = clusterer.add(fps["c"], NOW + stories.WINDOW + timedelta(hours=2))
    b = clusterer.add(fps["b"], NOW + stories.WINDOW)  # within a window of each, not of both
    assert clusterer.resolve(a) != clusterer.resolve(c)
    assert clusterer.resolve(b) in {a, c}


def test_representative_is_the_earliest_of_the_fullest() -> None:
    early_short = Member(1, NOW, 200)
    later_full = Member(2, NOW + timedelta(hours=1), 2000)
    latest_full = Member(3, NOW + timedelta(hours=2), 1900)
    assert representative([early_short, later_full, latest_full]) == 2
    assert representative([Member(4, NOW, 1000), Member(5, NOW + timedelta(hours=1), 900)]) == 4


def test_pairwise_scores() -> None:
    truth = {"a": 1, "b": 1, "c": 2, "d": 3}
    assert pairwise_scores({"a": 1, "b": 1, "c": 2, "d": 3}, truth)["precision"] == 1.0
    split = pairwise_scores({"a": 1, "b": 2, "c": 3, "d": 4}, truth)
    assert split["recall"] == 0.0 and split["precision"] == 1.0
    merged = pairwise_scores({"a": 1, "b": 1, "c": 1, "d": 1}, truth)
    assert merged["recall"] == 1.0 and merged["precision"] == round(1 / 6, 4)


def test_labelled_set_is_large_enough_and_well_formed() -> None:
    records = labelled()
    assert len(records) >= 150
    sizes: dict[str, int] = {}
    for r in records:
        sizes[r.story] = sizes.get(r.story, 0) + 1
    assert sum(1 for n in sizes.values() if n >= 3) >= 40
    assert len({r.id for r in records}) == len(records)


def test_precision_and_recall_on_the_labelled_set() -> None:
    gazetteer = Gazetteer.load()  # the regions as the tagger gives them, as `evaluate --stories`
    result = evaluate_labelled(
        labelled(), locate=lambda title, lead: gazetteer.locate(title, lead).regions
    )
    assert result["precision"] >= 0.95
    assert result["recall"] >= 0.85


def test_amounts_and_written_numbers_have_one_form() -> None:
    forms = ("14 M€ par an", "14 millions d'euros par an", "14 000 000 € par an", "14 Md€")
    numbers = [fingerprint("Plan IA", form).numbers for form in forms]
    assert numbers[0] == numbers[1] == numbers[2] == {"14000000"}
    assert numbers[3] == {"14000000000"}
    assert fingerprint("Plan IA", "1,5 million d'euros").numbers == {"1500000"}
    assert fingerprint("Plan IA", "sur cinq ans").numbers == fingerprint("Plan IA", "5 ans").numbers
    # A day of the month is a date, not the amount with the same digits.
    assert (
        fingerprint("Levée", "annoncé le 24 juin").numbers != fingerprint("Levée", "24 M€").numbers
    )


def test_regions_tell_the_same_place_and_keep_others_apart() -> None:
    sud = "Provence-Alpes-Côte d'Azur"
    a = fingerprint("La Région Sud adopte son plan IA", "Un plan de 70 M€ sur cinq ans.", [sud])
    b = fingerprint(f"{sud} : 70 millions pour l'IA", "Le conseil régional vote son plan.", [sud])
    other = fingerprint(
        "La Région Occitanie adopte son plan IA", "70 M€ sur cinq ans.", ["Occitanie"]
    )
    assert "r:" + fold_lower(sud) in a.names and "azur" not in b.names  # the region, said once
    assert similarity(a, b) >= stories.JOIN_THRESHOLD
    # Same words and amount, another region: another council's plan.
    same_words = fingerprint("La Région Sud adopte son plan IA", "Un plan de 70 M€ sur cinq ans.")
    assert similarity(a, other) < 0.6 * similarity(same_words, a)


def test_items_are_found_by_their_names_and_amounts_too() -> None:
    # Few words in common (no shared LSH band), but the same name and amount: a candidate.
    a = fingerprint(
        "EuraTechnologies lève 24 millions d'euros", "Le campus lillois EuraTechnologies."
    )
    b = fingerprint("Le tour de table d'Euratech atteint 24 M€", "Recapitalisation à Lille.")
    clusterer = Clusterer()
    first = clusterer.add(a, NOW)
    assert clusterer.candidates(band_keys(b)) == [clusterer.stories[first]]


def test_years_far_from_publication_and_digits_inside_words_are_not_numbers() -> None:
    published = NOW.replace(year=2026)
    fp = fingerprint("Le cluster 3IA lauréat de France 2030", "Créé en 2019, en 2026 il grandit.")
    assert fp.numbers == {"2019", "2026", "2030"} and "3ia" in fp.words
    dated = fingerprint("Le cluster 3IA lauréat de France 2030", "Créé en 2019.", (), published)
    assert dated.numbers == set()  # a horizon and a past step: not what the news is
    assert fingerprint("Web2Day à Nantes", "").numbers == set()


def test_the_poller_decides_without_importing_datasketch_or_scipy() -> None:
    """datasketch's package imports SciPy: only the processes that hash (the workers) load it."""
    code = (
        "import sys, bot.service, bot.feeds.poller, bot.store.stories; "
        "print(sorted(m for m in ('datasketch', 'scipy') if m in sys.modules))"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
