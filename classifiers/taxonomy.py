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


def taxonomy_hash() -> str:
    """A short hash of the label scheme, stored with models so a changed scheme is detected."""
    blob = json.dumps({"regions": REGIONS, "types": TYPES}, ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
