"""Gazetteer: aliases, seeds, traps (common words, homonyms, names), robustness, speed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from classifiers.gazetteer import REGIONS, Gazetteer, Location
from classifiers.gazetteer_build import normalize

SEEDS = Path(__file__).resolve().parents[1] / "classifiers" / "data" / "seeds"  # the repo copy
if not SEEDS.exists():
    SEEDS = Path(__file__).resolve().parents[1].parent / "shared" / "seeds"


@pytest.fixture(scope="module")
def gaz() -> Gazetteer:
    return Gazetteer.load()


def test_eighteen_regions_in_taxonomy_order() -> None:
    assert len(REGIONS) == 18
    assert REGIONS[0] == "Auvergne-Rhône-Alpes" and REGIONS[-1] == "Mayotte"


def test_normalize() -> None:
    assert normalize("Île-de-France") == "ile de france"
    assert normalize("Côtes-d’Armor") == "cotes d armor"


@pytest.mark.parametrize(
    ("query", "region"),
    [
        ("HDF", "Hauts-de-France"),
        ("hdf", "Hauts-de-France"),
        ("hauts de france", "Hauts-de-France"),
        ("Lille", "Hauts-de-France"),
        ("Nord", "Hauts-de-France"),
        ("59", "Hauts-de-France"),
        ("Picardie", "Hauts-de-France"),
        ("Réunion", "La Réunion"),
        ("reunion", "La Réunion"),
        ("IDF", "Île-de-France"),
        ("ile de france", "Île-de-France"),
        ("aura", "Auvergne-Rhône-Alpes"),
        ("PACA", "Provence-Alpes-Côte d'Azur"),
        ("bfc", "Bourgogne-Franche-Comté"),
        ("Bretagne", "Bretagne"),
        ("Alsace", "Grand Est"),
        ("Midi-Pyrénées", "Occitanie"),
        ("Basse-Normandie", "Normandie"),
        ("Saint-Denis", "Île-de-France"),
        ("2A", "Corse"),
        ("974", "La Réunion"),
        ("Lillois", "Hauts-de-France"),
        ("Euratechnologies", "Hauts-de-France"),
        ("Sophia Antipolis", "Provence-Alpes-Côte d'Azur"),
        ("ANITI", "Occitanie"),
        ("Station F", "Île-de-France"),
        ("région Centre", "Centre-Val de Loire"),
    ],
)
def test_resolve_region(gaz: Gazetteer, query: str, region: str) -> None:
    assert gaz.resolve_region(query) == region


def test_resolve_unknown_and_suggest(gaz: Gazetteer) -> None:
    assert gaz.resolve_region("Atlantide") is None
    assert gaz.resolve_region("") is None
    assert gaz.suggest_regions("bretagn")[0] == "Bretagne"
    assert gaz.suggest_regions("Haut de Franse")[0] == "Hauts-de-France"
    assert len(gaz.suggest_regions("normandi", limit=2)) <= 2


def _seed_items() -> list[dict[str, object]]:
    labels = SEEDS / "labels.jsonl"
    items = []
    for line in labels.read_text(encoding="utf-8").splitlines():
        lab = json.loads(line)
        title, _, text = (SEEDS / lab["seed"]).read_text(encoding="utf-8").partition("\n")
        items.append({**lab, "title": title, "text": text})
    return items


@pytest.mark.parametrize("item", _seed_items(), ids=lambda it: str(it["seed"])[:3])
def test_seeds(gaz: Gazetteer, item: dict[str, object]) -> None:
    loc = gaz.locate(str(item["title"]), str(item["text"]))
    assert set(loc.regions) == set(item["regions"])  # type: ignore[arg-type]
    assert set(loc.countries) == set(item["countries"])  # type: ignore[arg-type]
    assert loc.national == item["national"]


def test_location_shape(gaz: Gazetteer) -> None:
    loc = gaz.locate("Lille : Euratechnologies lance un programme IA", "La start-up lilloise...")
    assert isinstance(loc, Location)
    assert loc.regions == ("Hauts-de-France",)
    assert set(loc.evidence["Hauts-de-France"]) >= {"Lille", "Euratechnologies"}
    assert all(0.0 <= s <= 1.0 for s in loc.region_scores.values())
    assert "FR" not in loc.countries


def test_find_hits(gaz: Gazetteer) -> None:
    hits = gaz.find("Une délégation nantaise se rend à Montréal, au Québec.")
    kinds = {(h.surface, h.kind, h.region, h.country) for h in hits}
    assert ("nantaise", "demonym", "Pays de la Loire", None) in kinds
    assert any(h.surface == "Montréal" and h.country == "CA" for h in hits)
    assert all(not h.in_title for h in hits)


@pytest.mark.parametrize(
    "text",
    [
        "Le plan de relance prévoit sept mesures en avril, et le marché des data reste ouvert.",
        "Orange et ses partenaires lancent une offre cloud souverain.",
        "Les tours de bureaux et le plan Mars ne changent rien.",
        "Thierry Breton a présenté le règlement européen sur l'IA.",
        "La réunion du comité aura lieu mardi.",
        "Nice to meet you: the team shipped a nice feature.",
        "L'entreprise est installée rue de Lyon et avenue de Paris, près du bd de Strasbourg.",
        "Une dégustation de champagne et de cognac.",
        "En Amérique du Nord et en Afrique du Nord, les usages diffèrent.",
    ],
)
def test_common_word_traps(gaz: Gazetteer, text: str) -> None:
    loc = gaz.locate("Actualité", text)
    assert loc.regions == ()
    assert loc.countries == ()


def test_tours_and_nice_as_cities(gaz: Gazetteer) -> None:
    assert gaz.locate("Tours : un nouveau campus IA", "À Tours, l'université...").regions == (
        "Centre-Val de Loire",
    )
    assert gaz.locate("IA à Nice", "La Métropole de Nice ouvre un lab.").regions == (
        "Provence-Alpes-Côte d'Azur",
    )


def test_saint_denis_disambiguation(gaz: Gazetteer) -> None:
    reunion = gaz.locate(
        "Saint-Denis : une école de code lance une formation",
        "À Saint-Denis, l'école réunionnaise forme des développeurs à La Réunion.",
    )
    assert reunion.regions == ("La Réunion",)
    idf = gaz.locate(
        "Saint-Denis : une start-up lève 3 millions",
        "Installée à Saint-Denis, en Seine-Saint-Denis, près du Stade de France.",
    )
    assert idf.regions == ("Île-de-France",)


def test_montreal_is_canada(gaz: Gazetteer) -> None:
    loc = gaz.locate("Nantes et Montréal signent un partenariat", "Une délégation à Montréal.")
    assert loc.countries == ("CA",)
    assert loc.regions == ("Pays de la Loire",)


def test_grande_bretagne_is_not_bretagne(gaz: Gazetteer) -> None:
    loc = gaz.locate("Accord avec la Grande-Bretagne", "Un accord avec la Grande-Bretagne.")
    assert loc.regions == ()
    assert loc.countries == ("GB",)


def test_passing_mention_dropped(gaz: Gazetteer) -> None:
    text = (
        "La Région Bretagne lance à Rennes un programme IA pour les PME bretonnes. " * 3
        + "Le dispositif s'inspire de ce qui existe ailleurs. " * 40
        + "Comme à Lyon, un comité suivra le projet."
    )
    loc = gaz.locate("Bretagne : un programme IA pour les PME", text)
    assert loc.regions == ("Bretagne",)


def test_multi_region(gaz: Gazetteer) -> None:
    loc = gaz.locate(
        "Images & Réseaux et Atlanpole signent un accord interrégional",
        "Le pôle breton et la technopole nantaise s'associent, de Rennes à Nantes.",
    )
    assert set(loc.regions) == {"Bretagne", "Pays de la Loire"}


def test_national(gaz: Gazetteer) -> None:
    loc = gaz.locate(
        "Stratégie nationale pour l'IA : le gouvernement dévoile sa troisième phase",
        "Le ministre a annoncé à Paris un plan national doté par France 2030 et "
        "Bpifrance, partout en France.",
    )
    assert loc.national
    assert loc.regions == ()
    assert "national" in loc.evidence


def test_foreign_organisation_implies_its_country(gaz: Gazetteer) -> None:
    loc = gaz.locate(
        "Nancy : Microsoft ouvre une école IA avec Simplon au CHRU",
        "Microsoft et Simplon inaugurent à Nancy une école d'intelligence artificielle. "
        "Microsoft France financera la formation des apprenants.",
    )
    assert "US" in loc.countries
    assert loc.regions == ("Grand Est",)
    assert "Microsoft" in loc.evidence["US"]


# A long neutral middle puts the later sentences past the lead, where one country name alone
# does not count.
_MIDDLE = "Les stagiaires suivent des modules de programmation et de gestion de projet. " * 8


def test_country_of_an_organisation_counts_once_named(gaz: Gazetteer) -> None:
    origin = gaz.locate(
        "Angers : une école du code ouvre ses portes",
        "La formation démarre en janvier à Angers. "
        + _MIDDLE
        + "Elle est portée par Kodi, une start-up originaire du Sénégal.",
    )
    assert origin.countries == ("SN",)
    aside = gaz.locate(
        "Montpellier accueille un centre de données",
        "Le centre de données ouvrira à Montpellier. "
        + _MIDDLE
        + "Le chantier est confié à Norvik (Norvège), spécialiste du refroidissement.",
    )
    assert aside.countries == ("NO",)
    named = gaz.locate(
        "Tours : un atelier sur les jumeaux numériques",
        "L'atelier se tient à Tours. " + _MIDDLE + "Il est animé par la start-up danoise Heltor.",
    )
    assert named.countries == ("DK",)


def test_unnamed_foreign_firm_or_passing_country_does_not_count(gaz: Gazetteer) -> None:
    unnamed = gaz.locate(
        "Tours : un atelier sur les jumeaux numériques",
        "L'atelier se tient à Tours. " + _MIDDLE + "Un éditeur danois de logiciels y participe.",
    )
    assert unnamed.countries == ()
    passing = gaz.locate(
        "Angers : une école du code ouvre ses portes",
        "La formation démarre en janvier à Angers. "
        + _MIDDLE
        + "Le modèle a déjà fait ses preuves au Sénégal.",
    )
    assert passing.countries == ()


def test_alias_in_parentheses_is_one_organisation(gaz: Gazetteer) -> None:
    loc = gaz.locate(
        "Bastia : une conférence sur l'IA générative",
        "La soirée a lieu à Bastia. "
        + _MIDDLE
        + "Une chercheuse du groupe Meta (ex-Facebook) y présentera ses travaux.",
    )
    assert loc.countries == ()


def test_weak_country_name_in_title_and_text(gaz: Gazetteer) -> None:
    loc = gaz.locate(
        "Rennes et Boston lancent un programme commun pour les start-up",
        "Les métropoles de Rennes et Boston ouvrent un programme d'accélération. "
        "Dix start-up rennaises partiront rencontrer des investisseurs de Boston.",
    )
    assert loc.countries == ("US",)
    once = gaz.locate(
        "Rennes lance un programme pour les start-up",
        "Dix start-up rennaises rencontreront un fonds de Boston.",
    )
    assert once.countries == ()


def test_french_actor_places_the_article(gaz: Gazetteer) -> None:
    loc = gaz.locate(
        "Mistral AI lève 600 millions d'euros",
        "La start-up française Mistral AI, fondée par d'anciens chercheurs, lève des fonds.",
    )
    assert loc.regions == ("Île-de-France",)


def test_bilateral_agreement_of_france_is_national(gaz: Gazetteer) -> None:
    loc = gaz.locate(
        "PM Modi and President Macron unveil India-France AI roadmap",
        "Paris: Prime Minister Narendra Modi and French President Emmanuel Macron launched "
        "the India-France Roadmap on Artificial Intelligence at the summit in Paris.",
    )
    assert loc.national
    assert loc.countries == ("IN",)
    assert loc.regions == ()


def test_regions_de_france_is_national_and_quebec_is_not(gaz: Gazetteer) -> None:
    france = gaz.locate(
        "Les Régions de France réclament un plan pour le numérique des collectivités",
        "Réunis en congrès, les présidents de Région et l'association Régions de France "
        "appellent l'État à un plan national.",
    )
    assert france.national
    quebec = gaz.locate(
        "Le Québec lance un programme de 100 millions pour l'IA",
        "Le gouvernement du Québec a annoncé à Montréal un programme pour ses entreprises.",
    )
    assert not quebec.national
    assert quebec.countries == ("CA",)


def test_region_hint(gaz: Gazetteer) -> None:
    assert gaz.locate("Un incubateur recrute", "Sans lieu.", region_hint="Bretagne").regions == (
        "Bretagne",
    )
    strong = gaz.locate("Lille : un incubateur recrute", "À Lille.", region_hint="Bretagne")
    assert strong.regions[0] == "Hauts-de-France"


def test_english_text(gaz: Gazetteer) -> None:
    loc = gaz.locate(
        "Grenoble and Montreal launch joint AI research programme",
        "Grenoble's MIAI institute and Mila in Montreal will share PhD students.",
    )
    assert loc.regions == ("Auvergne-Rhône-Alpes",)
    assert loc.countries == ("CA",)


def test_no_place(gaz: Gazetteer) -> None:
    loc = gaz.locate("L'IA générative progresse", "Les modèles de langage deviennent plus sobres.")
    assert loc.regions == () and loc.countries == () and not loc.national
    assert gaz.locate("", "").regions == ()


def test_huge_text_and_html_soup(gaz: Gazetteer) -> None:
    big = ("Lorem ipsum à Lille dolor sit amet, Euratechnologies. " * 100_000)[:5_000_000]
    soup = "<div class='x'><script>var Paris=1;</script>" * 50_000 + "<p>Rennes</p" * 10_000
    t0 = time.perf_counter()
    assert gaz.locate("Titre", big).regions == ("Hauts-de-France",)
    gaz.locate("<b>Titre</b>", soup)
    gaz.find(soup)
    assert time.perf_counter() - t0 < 10  # generous: a crash or quadratic blow-up is the bug


def test_load_builds_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "g.json.gz"
    gaz = Gazetteer.load(path)
    assert path.exists() and path.stat().st_size < 5_000_000
    assert gaz.resolve_region("Brest") == "Bretagne"


def test_keys_that_start_with_a_common_word_and_keys_at_the_very_end(gaz: Gazetteer) -> None:
    """Matching starts only where a key or a key's first two words begin: neither "thonon"
    nor "thonon les" is a place, "Thonon-les-Bains" is; the last word of a text has no next
    word and still matches."""
    loc = gaz.locate("", "Un atelier sur la donnée se tient à Thonon-les-Bains mardi")
    assert loc.regions == ("Auvergne-Rhône-Alpes",)
    assert gaz.locate("", "La start-up vient de Brest").regions == ("Bretagne",)
    assert gaz.locate("", "Rendez-vous mardi à Besançon").regions == ("Bourgogne-Franche-Comté",)
    assert gaz.locate("Fonds", "Le gouvernement dévoile un plan national").national
