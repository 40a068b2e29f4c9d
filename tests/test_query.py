"""The query language: parse, explain, periods, typos, and a fuzz that nothing makes it raise."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.query.match import ItemFacts, matches, select_items
from bot.query.model import NATIONAL, Query
from bot.query.parse import canonical, explain, parse, resolve_type
from bot.query.stems import index_text, stems
from classifiers.gazetteer import Gazetteer
from classifiers.taxonomy import REGIONS

PARIS = ZoneInfo("Europe/Paris")
# A Wednesday evening in Paris (20:30 local, winter time).
NOW = datetime(2026, 11, 18, 19, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def gaz() -> Gazetteer:
    """The compiled gazetteer."""
    return Gazetteer.load()


def q(text: str, gaz: Gazetteer) -> Query:
    """The text parsed at NOW in Paris."""
    return parse(text, gaz, now=NOW, tz=PARIS)


def paris(y: int, m: int, d: int) -> datetime:
    """Local midnight in Paris, as UTC."""
    return datetime(y, m, d, tzinfo=PARIS).astimezone(UTC)


# ---- regions, types, words ------------------------------------------------------------------


def test_the_issue_question(gaz: Gazetteer) -> None:
    query = q("bonjour, je cherche les financements IA en Bretagne ce mois-ci", gaz)
    assert query.regions == ("Bretagne",)
    assert query.types == ("funding",)
    assert query.terms == ()
    assert query.since == paris(2026, 11, 1)
    assert explain(query, "fr", now=NOW, tz=PARIS) == "Bretagne · financement · ce mois-ci"


@pytest.mark.parametrize(
    ("text", "regions"),
    [
        ("Hauts-de-France", ("Hauts-de-France",)),
        ("hdf", ("Hauts-de-France",)),
        ("Lille", ("Hauts-de-France",)),
        ("Nord", ("Hauts-de-France",)),
        ("Alsace", ("Grand Est",)),
        ("Provence-Alpes-Côte d'Azur", ("Provence-Alpes-Côte d'Azur",)),
        ("La Réunion", ("La Réunion",)),
        ("Pays de la Loire", ("Pays de la Loire",)),
        ("ile de france", ("Île-de-France",)),
        ("Bretagne Normandie", ("Bretagne", "Normandie")),
        ("Bretagne ou Normandie", ("Bretagne", "Normandie")),
        ("national", (NATIONAL,)),
        ("France entière", (NATIONAL,)),
        ("toute la France et Occitanie", (NATIONAL, "Occitanie")),
    ],
)
def test_regions_in_any_spelling(gaz: Gazetteer, text: str, regions: tuple[str, ...]) -> None:
    query = q(text, gaz)
    assert query.regions == regions
    assert query.terms == ()


def test_a_city_is_shown_with_its_region(gaz: Gazetteer) -> None:
    query = q("Lille", gaz)
    assert query.places == (("Lille", "Hauts-de-France"),)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("financement", "funding"),
        ("financements", "funding"),
        ("Funding", "funding"),
        ("subventions", "funding"),
        ("appel à projets", "funding"),
        ("événements", "event"),
        ("evenement", "event"),
        ("business support", "business_support"),
        ("business_support", "business_support"),
        ("partenariats", "partnership"),
        ("stratégie", "strategy"),
        ("formation", "training"),
        ("recherche", "research"),
        ("je recherche", None),  # a question, not the type
        ("jumeau", None),
    ],
)
def test_types_by_french_and_english_names(gaz: Gazetteer, text: str, kind: str | None) -> None:
    assert q(text, gaz).types == ((kind,) if kind else ())


def test_resolve_type_takes_whole_names_only() -> None:
    assert resolve_type("Financement") == "funding"
    assert resolve_type("appel a projets") == "funding"
    assert resolve_type("research") == "research"
    assert resolve_type("financement Bretagne") is None
    assert resolve_type("") is None


def test_words_phrases_or_and_exclusions(gaz: Gazetteer) -> None:
    query = q('jumeau numérique "usine du futur" -crypto -"bitcoin cash" robot OU drone', gaz)
    assert query.terms == (("jumeau",), ("numérique",), ("usine du futur",), ("robot", "drone"))
    assert query.excludes == ("crypto", "bitcoin cash")
    assert explain(query, "fr", now=NOW, tz=PARIS) == (
        "jumeau · numérique · « usine du futur » · robot ou drone · sans crypto, bitcoin cash"
    )
    assert explain(query, "en", now=NOW, tz=PARIS).startswith("jumeau · numérique · “usine")


def test_french_quotes_and_unclosed_quotes(gaz: Gazetteer) -> None:
    assert q("« jumeau numérique » Bretagne", gaz).terms == (("jumeau numérique",),)
    assert q('"jumeau numérique', gaz).terms == (("jumeau numérique",),)


def test_the_issue_example_explained(gaz: Gazetteer) -> None:
    query = q('Bretagne financement depuis le 1er novembre "jumeau numérique"', gaz)
    assert explain(query, "fr", now=NOW, tz=PARIS) == (
        "Bretagne · financement · depuis le 1er novembre · « jumeau numérique »"
    )
    assert explain(query, "en", now=NOW, tz=PARIS) == (
        "Bretagne · funding · since November 1 · “jumeau numérique”"
    )


def test_question_words_and_ai_are_not_search_terms(gaz: Gazetteer) -> None:
    query = q("Hello, I'm looking for AI funding in Brittany please", gaz)
    assert query.types == ("funding",)
    assert query.terms in ((("brittany",),), ())  # Brittany: a region when the gazetteer knows it
    assert q("intelligence artificielle", gaz).empty
    assert explain(q("", gaz), "fr", now=NOW, tz=PARIS) == "tous les articles récents"


def test_lowercase_common_words_are_not_small_towns(gaz: Gazetteer) -> None:
    query = q("plan vie santé agriculture données", gaz)
    assert query.regions == ()


def test_every_region_name_reads_as_its_region_stop_words_included(gaz: Gazetteer) -> None:
    # "Grand Est": "est" is also a French stop word ("c'est"), yet the name is the region.
    for region in REGIONS:
        for text in (region, region.lower(), f"{region} financement 30j"):
            query = q(text, gaz)
            assert query.regions == (region,), text
            assert query.terms == (), text
    assert q("ce qui est nouveau", gaz).regions == ()


# ---- periods ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "since", "until", "fr"),
    [
        ("cette semaine", paris(2026, 11, 16), None, "cette semaine"),
        ("this week", paris(2026, 11, 16), None, "cette semaine"),
        ("la semaine dernière", paris(2026, 11, 9), paris(2026, 11, 16), "la semaine dernière"),
        ("ce mois-ci", paris(2026, 11, 1), None, "ce mois-ci"),
        ("le mois dernier", paris(2026, 10, 1), paris(2026, 11, 1), "le mois dernier"),
        ("aujourd'hui", paris(2026, 11, 18), None, "aujourd'hui"),
        ("hier", paris(2026, 11, 17), paris(2026, 11, 18), "hier"),
        ("7j", NOW - timedelta(days=7), None, "7 derniers jours"),
        ("7 jours", NOW - timedelta(days=7), None, "7 derniers jours"),
        ("les 30 derniers jours", NOW - timedelta(days=30), None, "30 derniers jours"),
        ("2 semaines", NOW - timedelta(days=14), None, "14 derniers jours"),
        ("depuis le 1er octobre", paris(2026, 10, 1), None, "depuis le 1er octobre"),
        ("depuis le 3/10", paris(2026, 10, 3), None, "depuis le 3 octobre"),
        ("since 2026-09-15", paris(2026, 9, 15), None, "depuis le 15 septembre"),
        ("depuis décembre", paris(2025, 12, 1), None, "depuis le 1er décembre 2025"),
        (
            "entre le 1er et le 15 octobre",
            paris(2026, 10, 1),
            paris(2026, 10, 16),
            "du 1er octobre au 15 octobre",
        ),
        (
            "du 20 décembre au 5 janvier",
            paris(2025, 12, 20),
            paris(2026, 1, 6),
            "du 20 décembre 2025 au 5 janvier",
        ),
        ("between October 1 and October 3", paris(2026, 10, 1), paris(2026, 10, 4), None),
        ("avant octobre", None, paris(2026, 11, 1), "jusqu'au 31 octobre"),
        (
            "2026-11-09..2026-11-15",
            paris(2026, 11, 9),
            paris(2026, 11, 16),
            "du 9 novembre au 15 novembre",
        ),
        ("2026-11-15..2026-11-09", paris(2026, 11, 9), paris(2026, 11, 16), None),
        ("2026-11-09", paris(2026, 11, 9), None, "depuis le 9 novembre"),
    ],
)
def test_periods(
    gaz: Gazetteer, text: str, since: datetime | None, until: datetime | None, fr: str | None
) -> None:
    query = q(text, gaz)
    assert (query.since, query.until) == (since, until)
    assert query.terms == ()
    if fr:
        assert explain(query, "fr", now=NOW, tz=PARIS) == fr


def test_periods_follow_the_time_zone(gaz: Gazetteer) -> None:
    late = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)  # already December 1st in Paris
    assert parse("ce mois-ci", gaz, now=late, tz="Europe/Paris").since == paris(2026, 12, 1)
    assert parse("ce mois-ci", gaz, now=late, tz="UTC").since == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse("ce mois-ci", gaz, now=late, tz="Not/AZone").since == paris(2026, 12, 1)


def test_an_impossible_date_is_a_word(gaz: Gazetteer) -> None:
    assert q("depuis le 31 février", gaz).period is None
    assert q("99999999j", gaz).period is not None  # capped, not an overflow
    assert q("2026-13-40", gaz).period is None  # no month 13: words, not a date
    assert q("budget 2026 10 millions", gaz).period is None


# ---- typos -----------------------------------------------------------------------------------


def test_typos_get_the_nearest_places_cities_included(gaz: Gazetteer) -> None:
    assert gaz.suggest_places("Lile")[0] == ("Lille", "Hauts-de-France")
    assert gaz.suggest_regions("Lile")[0] == "Hauts-de-France"
    assert gaz.suggest_regions("Bretgne")[0] == "Bretagne"
    assert gaz.suggest_places("Ocitanie")[0] == ("Occitanie", "Occitanie")
    assert q("Lile", gaz).unknown == ("Lile",)


# ---- canonical text and JSON round trips -----------------------------------------------------


def test_canonical_text_parses_back(gaz: Gazetteer) -> None:
    for text in (
        'Bretagne Provence-Alpes-Côte d\'Azur financement "jumeau numérique" OU robot -crypto',
        "La Réunion national événement",
        "Pays de la Loire Centre-Val de Loire",
    ):
        query = q(text, gaz)
        again = q(canonical(query), gaz)
        assert again.to_json() == query.to_json()
        assert Query.from_json(query.to_json()).to_json() == query.to_json()


# ---- stems and matching ------------------------------------------------------------------------


def test_stems_meet_across_plural_and_accents() -> None:
    assert stems("jumeaux numériques") == stems("jumeau numérique")
    assert stems("Financements") == stems("financement")
    assert index_text("Titre", None, "x" * 10) == " ".join(stems("Titre x" + "x" * 9)).replace(
        "titr x", "titr x"
    )


def facts(text: str, regions: tuple[str, ...] = (), types: tuple[str, ...] = ()) -> ItemFacts:
    """An item's facts for matching."""
    return ItemFacts(1, regions, types, False, NOW, index_text(text, "", ""))


def test_matching_in_python(gaz: Gazetteer) -> None:
    item = facts("Les jumeaux numériques de l'usine", ("Bretagne",), ("funding",))
    assert matches(q('"jumeau numérique" Bretagne', gaz), item)
    assert matches(q("usines financement", gaz), item)
    assert not matches(q("usine -jumeaux", gaz), item)
    assert not matches(q("Normandie", gaz), item)
    assert not matches(q('"numérique jumeau"', gaz), item)
    assert matches(q("robot OU usine", gaz), item)


def test_alerts_add_up_and_an_item_is_listed_once() -> None:
    bzh = ItemFacts(1, ("Bretagne",), ("funding",), False, NOW, index_text("Aide", "", ""))
    both = ItemFacts(2, ("Bretagne",), (), False, NOW, index_text("Le jumeau numérique", "", ""))
    other = ItemFacts(3, ("Corse",), (), False, NOW, index_text("Rien", "", ""))
    alerts = [
        ("Bretagne", Query(regions=("Bretagne",))),
        ("Jumeau", Query(terms=(("jumeau numerique",),))),
    ]
    chosen = select_items([bzh, both, other], alerts)
    assert [(i.id, names) for i, names in chosen] == [
        (1, ("Bretagne",)),
        (2, ("Bretagne", "Jumeau")),
    ]


# ---- fuzz: nothing makes the parser raise ---------------------------------------------------

NASTY = [
    "",
    " ",
    "\x00" * 50,
    "\u202e\u200f مرحبا \u202d",
    '"; DROP TABLE items; --',
    'NEAR(a b) * AND OR NOT "',
    "<b>&amp;</b><script>alert(1)</script>",
    "-" * 500,
    '"' * 301,
    '« » “ ” -"" -',
    "ﬁnancement Ⅻ ß ǅ 𝔅𝔯𝔢𝔱𝔞𝔤𝔫𝔢",
    "entre le et le",
    "depuis le",
    "du 99 au 100",
    "7" * 5000 + "j",
    "x" * 10_000,
    ("Bretagne " * 2000),
    "ou OU or | ou",
]


@pytest.mark.parametrize("text", NASTY, ids=[f"nasty{n}" for n in range(len(NASTY))])
def test_nasty_inputs(gaz: Gazetteer, text: str) -> None:
    query = q(text, gaz)
    assert len(explain(query, "fr", now=NOW, tz=PARIS)) < 3000
    assert sum(len(t) for g in query.terms for t in g) <= 12 * 80


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(
            st.text(max_size=12),
            st.sampled_from(list('"«»-*()<>&;:/ \u200f\u202e\x00')),
            st.sampled_from(["OU ", "NEAR(", "Bretagne ", "depuis le ", "7j ", "entre ", "le 3 "]),
            st.sampled_from(["octobre ", "2026 ", "1er ", "et ", "au ", "10 ", "-", "Lille "]),
        ),
        max_size=60,
    ).map("".join)
)
def test_fuzz_never_raises(text: str) -> None:
    gaz = _GAZ
    query = parse(text, gaz, now=NOW, tz=PARIS)
    explain(query, "fr", now=NOW, tz=PARIS)
    explain(query, "en", now=NOW, tz=PARIS)
    Query.from_json(query.to_json())
    canonical(query)


_GAZ = Gazetteer.load()


def test_fuzz_long_inputs() -> None:
    text = "".join(chr(c) for c in range(32, 10_032))
    query = parse(text, _GAZ, now=NOW, tz=PARIS)
    assert query.truncated
    assert date(2026, 1, 1) < NOW.date()
