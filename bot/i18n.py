"""User-facing strings in French (default) and English."""

from __future__ import annotations

from typing import Any

from classifiers.taxonomy import TYPE_LABELS_EN, TYPE_LABELS_FR

MESSAGES: dict[str, dict[str, str]] = {
    "fr": {
        "digest_title": "Veille IA & innovation — synthèse de la semaine",
        "digest_daily_title": "Veille IA & innovation — synthèse du jour",
        "digest_preview_title": "Aperçu de votre synthèse",
        "digest_total": "{n} article(s)",
        "digest_empty": "Aucun article sur la période pour vos abonnements.",
        "also_in": "aussi dans :",
        "region_title": "📍 <b>{region}</b> — derniers articles",
        "region_none": "Aucun article récent pour {region}.",
        "region_unknown": "Région inconnue : « {query} ».",
        "region_suggest": "Vouliez-vous dire : {names} ?",
        "region_usage": "Usage : /region &lt;nom&gt; — par ex. /region Hauts-de-France, /region HDF, /region Lille",
        "page": "page {page}",
        "more": "Suivant ▶",
        "prev": "◀ Précédent",
    },
    "en": {
        "digest_title": "AI & innovation watch — weekly digest",
        "digest_daily_title": "AI & innovation watch — daily digest",
        "digest_preview_title": "Preview of your digest",
        "digest_total": "{n} article(s)",
        "digest_empty": "No article in this period for your subscriptions.",
        "also_in": "also in:",
        "region_title": "📍 <b>{region}</b> — latest articles",
        "region_none": "No recent article for {region}.",
        "region_unknown": "Unknown region: “{query}”.",
        "region_suggest": "Did you mean: {names}?",
        "region_usage": "Usage: /region &lt;name&gt; — e.g. /region Hauts-de-France, /region HDF, /region Lille",
        "page": "page {page}",
        "more": "Next ▶",
        "prev": "◀ Previous",
    },
}


def t(lang: str, key: str, **values: Any) -> str:
    """The message `key` in `lang` (French when unknown), formatted with values."""
    table = MESSAGES.get(lang) or MESSAGES["fr"]
    text = table.get(key) or MESSAGES["fr"].get(key) or key
    return text.format(**values) if values else text


def type_label(kind: str, lang: str) -> str:
    """Human name of an initiative type."""
    labels = TYPE_LABELS_EN if lang == "en" else TYPE_LABELS_FR
    return labels.get(kind, kind)
