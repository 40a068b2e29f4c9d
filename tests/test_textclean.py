"""Page furniture is removed before tagging; the article body stays."""

from __future__ import annotations

from classifiers.textclean import clean_text

BODY = (
    "Toulouse, le 3 mars. La start-up toulousaine Kyvea lève 12 millions d'euros pour son IA "
    "de maintenance aéronautique, avec le soutien de la Région Occitanie. "
) * 4


def test_related_articles_and_newsletter_blocks_are_cut() -> None:
    page = (
        f"Accueil | Info locale | Économie | Sports\n{BODY}\n\nLire aussi : À Bordeaux, une fintech "
        f"lève 8 millions\n{BODY}\n\nSur le même sujet\nCaen : le tramway reprend\n"
        "Inscrivez-vous à notre newsletter\nNous utilisons des cookies."
    )
    text = clean_text(page)
    assert "Kyvea" in text and text.count("Kyvea") == 8
    for gone in ("Bordeaux", "Caen", "newsletter", "cookies", "Accueil |"):
        assert gone not in text


def test_a_marker_at_the_top_does_not_cut_the_article() -> None:
    page = f"Partager l'article\n{BODY}"
    assert "Kyvea" in clean_text(page)


def test_html_soup_becomes_text() -> None:
    page = (
        f"<html><body><nav>Menu Lyon</nav><p>{BODY}</p><script>var x='Brest'</script></body></html>"
    )
    text = clean_text(page)
    assert "Kyvea" in text and "Brest" not in text and "<p>" not in text


def test_plain_text_is_kept() -> None:
    assert clean_text("Une phrase simple.") == "Une phrase simple."
    assert clean_text(None) == "" and clean_text("") == ""
