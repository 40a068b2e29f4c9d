"""The label scheme of ../shared/TAXONOMY.md: the exact names the tagger outputs."""

from __future__ import annotations

import hashlib
import json

REGIONS: tuple[str, ...] = (
    "Auvergne-Rhône-Alpes",
    "Bourgogne-Franche-Comté",
    "Bretagne",
    "Centre-Val de Loire",
    "Corse",
    "Grand Est",
    "Hauts-de-France",
    "Île-de-France",
    "Normandie",
    "Nouvelle-Aquitaine",
    "Occitanie",
    "Pays de la Loire",
    "Provence-Alpes-Côte d'Azur",
    "Guadeloupe",
    "Martinique",
    "Guyane",
    "La Réunion",
    "Mayotte",
)

TYPES: tuple[str, ...] = (
    "strategy",
    "funding",
    "research",
    "training",
    "business_support",
    "partnership",
    "event",
)

# French names users type, and the ones the bot shows.
TYPE_LABELS_FR: dict[str, str] = {
    "strategy": "stratégie",
    "funding": "financement",
    "research": "recherche",
    "training": "formation",
    "business_support": "accompagnement",
    "partnership": "partenariat",
    "event": "événement",
}
TYPE_LABELS_EN: dict[str, str] = {
    "strategy": "strategy",
    "funding": "funding",
    "research": "research",
    "training": "training",
    "business_support": "business support",
    "partnership": "partnership",
    "event": "event",
}

# Every name a user may type for a type (French, English, plurals, synonyms), lowercase;
# accents are optional when looked up (bot.query folds both sides).
TYPE_ALIASES: dict[str, str] = {
    **{v: k for k, v in TYPE_LABELS_FR.items()},
    **{v: k for k, v in TYPE_LABELS_EN.items()},
    **{k: k for k in TYPES},
    "strategie": "strategy",
    "plan": "strategy",
    "financements": "funding",
    "financement": "funding",
    "subvention": "funding",
    "appel a projets": "funding",
    "evenement": "event",
    "événements": "event",
    "evenements": "event",
    "evenementiel": "event",
    "partenariats": "partnership",
    "cooperation": "partnership",
    "coopération": "partnership",
    "formations": "training",
    "accompagnement": "business_support",
    "soutien": "business_support",
    "business-support": "business_support",
    "support": "business_support",
    "entreprises": "business_support",
    "recherches": "research",
    "labo": "research",
}


def taxonomy_hash() -> str:
    """A short hash of the label scheme, stored with models so a changed scheme is detected."""
    blob = json.dumps({"regions": REGIONS, "types": TYPES}, ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
