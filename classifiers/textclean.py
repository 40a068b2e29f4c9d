"""Article text as the tagger should read it: HTML turned into text, page furniture removed.

Scraped pages carry navigation, "Lire aussi" links, related-article lists, newsletter and cookie
blocks; the places and words in them are not the article's, so they are cut before tagging.
"""

from __future__ import annotations

import re

from classifiers.text import html_to_text as text_of_html

MAX_INPUT_CHARS = 200_000
_TAG = re.compile(r"<[a-zA-Z!/][^>]*>")

# A line starting with one of these ends the article: what follows is page furniture.
_FOOTER = re.compile(
    r"^\s*(?:sur le m[eê]me (?:sujet|th[eè]me)|articles? (?:similaires|li[ée]s|connexes|recommand[ée]s)"
    r"|dans la m[eê]me rubrique|les plus (?:lus|partag[ée]s|populaires)|(?:nos )?derniers articles"
    r"|[àa] (?:lire|voir|d[ée]couvrir) (?:aussi|[ée]galement)|vous aimerez aussi|pour aller plus loin\s*$"
    r"|[àa] propos de (?:l'auteur|l’auteur|nous)|réagir à cet article|commentaires?\s*(?:\(\d+\))?\s*$"
    r"|\d+ commentaires?\s*$|recevez (?:gratuitement|chaque)|inscrivez-vous [àa] (?:notre|la) newsletter"
    r"|abonnez-vous [àa] (?:notre|la) newsletter|suivez la newsletter|newsletter\s*$|partager (?:l'|l’)?(?:article|cet article)?\s*$"
    r"|nous utilisons des cookies|ce site utilise des cookies|mentions l[ée]gales|tous droits r[ée]serv[ée]s"
    r"|reproduction interdite|cet article est r[ée]serv[ée] aux abonn[ée]s|related (?:articles|posts|stories)"
    r"|read (?:more|also|next)|you (?:may|might) also like|more from|share this|sign up for our newsletter"
    r"|subscribe to our newsletter|we use cookies|all rights reserved|tags?\s*:|mots[- ]cl[ée]s\s*:)",
    re.IGNORECASE,
)
# Single lines to drop wherever they are.
_LINE = re.compile(
    r"^\s*(?:(?:[àa] )?(?:lire|voir) (?:aussi|[ée]galement)|read (?:also|more)|lire la suite|related)\s*[:\-–—>]"
    r"|(?:[^|\n]*\|){3,}",  # navigation bars: "Accueil | Info locale | Économie | ..."
    re.IGNORECASE,
)
FOOTER_MIN_SHARE = 0.25
FURNITURE_TAGS = "script, style, noscript, nav, footer, aside"
ARTICLE_BLOCKS = "p, div, br, li, h1, h2, h3, h4, tr, section, article"


def html_to_text(text: str) -> str:
    """Plain text of HTML soup (scripts and page navigation dropped), or the text when not HTML."""
    head = text[:5000]
    if "<" not in head or len(_TAG.findall(head)) < 3:
        return text
    return text_of_html(
        text, limit=len(text), dropped=FURNITURE_TAGS, blocks=ARTICLE_BLOCKS, fold_spaces=False
    )


def strip_furniture(text: str) -> str:
    """Drop 'Lire aussi' lines and navigation bars; cut at the first footer block after the body."""
    lines = text.split("\n")
    total = max(1, len(text))
    kept: list[str] = []
    seen = 0
    for line in lines:
        if seen / total >= FOOTER_MIN_SHARE and _FOOTER.match(line):
            break
        seen += len(line) + 1
        if _LINE.match(line):
            continue
        kept.append(line)
    return "\n".join(kept)


def clean_text(text: str | None) -> str:
    """The article as the tagger reads it."""
    text = html_to_text((text or "")[:MAX_INPUT_CHARS])
    if "\n" in text:
        text = strip_furniture(text)
    return text
