"""User-facing strings in French (default) and English."""

from __future__ import annotations

from typing import Any

from classifiers.taxonomy import TYPE_LABELS_EN, TYPE_LABELS_FR

WEEKDAYS = {
    "fr": ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"],
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
}

MESSAGES: dict[str, dict[str, str]] = {
    "fr": {
        "help": (
            "<b>Veille IA &amp; innovation dans les régions</b>\n"
            "Je surveille la presse et les sites des régions, agences et pôles, et je repère les "
            "initiatives en intelligence artificielle et innovation numérique, par région et par type "
            "(stratégie, financement, recherche, formation, accompagnement, partenariat, événement).\n\n"
            "<b>S'abonner</b>\n"
            "/subscribe — choisir régions, types, alertes et synthèse\n"
            '/subscribe Hauts-de-France · /subscribe partenariat · /subscribe mot "jumeau numérique"\n'
            '/subscribe -mot "cybersécurité" (exclure) · /subscribe alertes · /subscribe hebdo\n'
            "/unsubscribe [même chose, ou rien pour tout arrêter] · /settings · /stop (efface tout)\n\n"
            "<b>Chercher</b>\n"
            "/region Hauts-de-France (ou HDF, Lille…) · /type financement · /search jumeau numérique\n"
            "/latest · /regions (compte sur 7 jours) · /digest (aperçu) · /why 123 (pourquoi ces étiquettes)\n"
            "/lang en — English"
        ),
        "digest_title": "Veille IA & innovation — synthèse de la semaine",
        "digest_daily_title": "Veille IA & innovation — synthèse du jour",
        "digest_preview_title": "Aperçu de votre synthèse",
        "digest_total": "{n} article(s)",
        "digest_empty": "Aucun article sur la période pour vos abonnements.",
        "chart_title": "Veille IA & innovation — la semaine en un coup d'œil",
        "also_in": "aussi dans :",
        "region_title": "📍 <b>{region}</b> — derniers articles",
        "region_none": "Aucun article récent pour {region}.",
        "region_unknown": "Région inconnue : « {query} ».",
        "region_suggest": "Vouliez-vous dire : {names} ?",
        "region_usage": "Usage : /region &lt;nom&gt; — par ex. /region Hauts-de-France, /region HDF, /region Lille",
        "type_title": "🏷 <b>{type}</b> — derniers articles",
        "type_unknown": "Type inconnu : « {query} ». Types : {names}.",
        "type_usage": "Usage : /type &lt;type&gt; — {names}",
        "search_title": "🔎 <b>{query}</b>",
        "search_usage": "Usage : /search &lt;mots&gt; — par ex. /search jumeau numérique",
        "search_none": "Aucun article ne contient « {query} ».",
        "latest_title": "🆕 <b>Derniers articles</b>",
        "none": "Aucun article pour le moment.",
        "regions_title": "📊 <b>Articles par région, 7 derniers jours</b>",
        "page": "page {page}",
        "more": "Suivant ▶",
        "prev": "◀ Précédent",
        "settings_title": "⚙️ <b>Vos réglages</b>",
        "settings_regions": "Régions : {v}",
        "settings_types": "Types : {v}",
        "settings_keywords": "Mots-clés : {v}",
        "settings_excludes": "Exclus : {v}",
        "settings_alerts": "Alertes immédiates : {v}",
        "settings_digest": "Synthèse : {v}",
        "all": "toutes",
        "none_set": "aucun",
        "on": "oui",
        "off": "non",
        "digest_off": "désactivée",
        "digest_daily": "quotidienne à {hour} h",
        "digest_weekly": "hebdomadaire, le {day} à {hour} h",
        "sub_keyboard": "Cochez régions et types (rien coché = tout), puis choisissez alertes et synthèse.",
        "sub_done": "✅ C'est noté.",
        "subscribed": "✅ Abonné : {what}.",
        "unsubscribed": "Désabonné : {what}.",
        "unsubscribed_all": "Vous ne recevrez plus rien. /subscribe pour reprendre.",
        "default_digest": "Vous recevrez une synthèse hebdomadaire le lundi à 8 h (/subscribe alertes pour des alertes immédiates).",
        "stopped": "Toutes vos données ont été effacées. Au revoir ! (/start pour revenir)",
        "lang_set": "Langue : français.",
        "why_usage": "Usage : /why &lt;numéro d'article&gt; (le numéro figure sous chaque article).",
        "why_unknown": "Article {id} introuvable.",
        "why_title": "🧐 <b>Pourquoi ces étiquettes ?</b>",
        "why_untagged": "Cet article n'a pas encore été étiqueté.",
        "why_fix": "Corriger la région ou le type :",
        "fix_region": "Corriger la région",
        "fix_type": "Corriger le type",
        "fix_offtopic": "Hors sujet",
        "fix_pick_region": "Quelle est la bonne région ?",
        "fix_pick_type": "Quel est le bon type ?",
        "fix_saved": "Merci ! Correction enregistrée : elle servira au prochain entraînement.",
        "admin_only": "Commande réservée aux administrateurs.",
        "feeds_title": "📡 <b>Sources</b> — {ok} ok, {failing} en erreur, {off} désactivées",
        "addfeed_usage": "Usage : /addfeed &lt;url&gt;",
        "addfeed_ok": "✅ Source ajoutée : {name} ({n} articles lus).",
        "addfeed_refused": "❌ Refusé : {reason}",
        "removefeed_usage": "Usage : /removefeed &lt;id&gt;",
        "removefeed_ok": "Source {id} désactivée (ses articles restent).",
        "removefeed_unknown": "Source inconnue : {id}.",
        "stats_title": "📈 <b>Statistiques</b>",
        "btn_alerts": "Alertes",
        "btn_daily": "Quotidien",
        "btn_weekly": "Hebdo",
        "btn_off": "Pas de synthèse",
        "btn_day": "Jour : {day}",
        "btn_hour": "Heure : {hour} h",
        "btn_done": "Terminé",
        "menu_start": "Présentation",
        "menu_help": "Aide et exemples",
        "menu_subscribe": "S'abonner (régions, types, mots-clés)",
        "menu_unsubscribe": "Se désabonner",
        "menu_settings": "Mes réglages",
        "menu_region": "Articles d'une région",
        "menu_type": "Articles d'un type d'initiative",
        "menu_search": "Recherche plein texte",
        "menu_latest": "Derniers articles",
        "menu_regions": "Articles par région (7 jours)",
        "menu_digest": "Aperçu de ma synthèse",
        "menu_why": "Pourquoi ces étiquettes ?",
        "menu_lang": "Langue (fr/en)",
        "menu_stop": "Effacer mes données",
        "unknown_command": "Commande inconnue : /{name}",
        "button_expired": "Ce bouton n'est plus valable : renvoyez la commande.",
        "internal_error": "⚠️ Erreur interne, réessayez plus tard. / Internal error.",
        "yes": "oui",
        "no": "non",
        "why_national": "national",
        "why_topic": "IA",
        "quoted": "« {v} »",
        "too_many_terms": "Trop de termes à la fois (au plus {n}) : rien n'a été changé.",
        "keyword_too_long": "Mot-clé trop long (au plus {max} caractères) : « {v} ». Rien n'a été changé.",
        "too_many_keywords": "Au plus {max} mots-clés et exclusions par conversation : rien n'a été changé. /unsubscribe pour en retirer.",
        "feeds_failing": "❌ <code>{id}</code> depuis {since} — {error}",
        "stats_items": "items: {n}",
        "stats_feeds": "feeds: {n} ({ok} ok)",
        "stats_types": "types (7 j): {v}",
        "chart_regions": "Articles par région",
        "chart_types": "Articles par type d'initiative",
        "group_national": "France entière",
        "group_elsewhere": "Autres",
    },
    "en": {
        "help": (
            "<b>AI &amp; innovation watch in the French regions</b>\n"
            "I follow the press and the sites of regions, agencies and clusters, and spot artificial "
            "intelligence and digital-innovation initiatives, by region and by type (strategy, "
            "funding, research, training, business support, partnership, event).\n\n"
            "<b>Subscribe</b>\n"
            "/subscribe — pick regions, types, alerts and digest\n"
            '/subscribe Hauts-de-France · /subscribe partnership · /subscribe keyword "digital twin"\n'
            '/subscribe -keyword "cybersecurity" (exclude) · /subscribe alerts · /subscribe weekly\n'
            "/unsubscribe [same, or nothing to stop everything] · /settings · /stop (deletes everything)\n\n"
            "<b>Look up</b>\n"
            "/region Hauts-de-France (or HDF, Lille…) · /type funding · /search digital twin\n"
            "/latest · /regions (7-day counts) · /digest (preview) · /why 123 (why these tags)\n"
            "/lang fr — français"
        ),
        "digest_title": "AI & innovation watch — weekly digest",
        "digest_daily_title": "AI & innovation watch — daily digest",
        "digest_preview_title": "Preview of your digest",
        "digest_total": "{n} article(s)",
        "digest_empty": "No article in this period for your subscriptions.",
        "chart_title": "AI & innovation watch — the week at a glance",
        "also_in": "also in:",
        "region_title": "📍 <b>{region}</b> — latest articles",
        "region_none": "No recent article for {region}.",
        "region_unknown": "Unknown region: “{query}”.",
        "region_suggest": "Did you mean: {names}?",
        "region_usage": "Usage: /region &lt;name&gt; — e.g. /region Hauts-de-France, /region HDF, /region Lille",
        "type_title": "🏷 <b>{type}</b> — latest articles",
        "type_unknown": "Unknown type: “{query}”. Types: {names}.",
        "type_usage": "Usage: /type &lt;type&gt; — {names}",
        "search_title": "🔎 <b>{query}</b>",
        "search_usage": "Usage: /search &lt;words&gt; — e.g. /search digital twin",
        "search_none": "No article contains “{query}”.",
        "latest_title": "🆕 <b>Latest articles</b>",
        "none": "No article yet.",
        "regions_title": "📊 <b>Articles per region, last 7 days</b>",
        "page": "page {page}",
        "more": "Next ▶",
        "prev": "◀ Previous",
        "settings_title": "⚙️ <b>Your settings</b>",
        "settings_regions": "Regions: {v}",
        "settings_types": "Types: {v}",
        "settings_keywords": "Keywords: {v}",
        "settings_excludes": "Excluded: {v}",
        "settings_alerts": "Instant alerts: {v}",
        "settings_digest": "Digest: {v}",
        "all": "all",
        "none_set": "none",
        "on": "on",
        "off": "off",
        "digest_off": "off",
        "digest_daily": "daily at {hour}:00",
        "digest_weekly": "weekly, on {day} at {hour}:00",
        "sub_keyboard": "Tick regions and types (nothing ticked = everything), then choose alerts and digest.",
        "sub_done": "✅ Saved.",
        "subscribed": "✅ Subscribed: {what}.",
        "unsubscribed": "Unsubscribed: {what}.",
        "unsubscribed_all": "You will receive nothing more. /subscribe to start again.",
        "default_digest": "You will get a weekly digest on Monday at 8:00 (/subscribe alerts for instant alerts).",
        "stopped": "All your data has been deleted. Goodbye! (/start to come back)",
        "lang_set": "Language: English.",
        "why_usage": "Usage: /why &lt;article number&gt; (shown under each article).",
        "why_unknown": "Article {id} not found.",
        "why_title": "🧐 <b>Why these tags?</b>",
        "why_untagged": "This article has not been tagged yet.",
        "why_fix": "Correct the region or the type:",
        "fix_region": "Fix region",
        "fix_type": "Fix type",
        "fix_offtopic": "Off topic",
        "fix_pick_region": "Which region is right?",
        "fix_pick_type": "Which type is right?",
        "fix_saved": "Thanks! Correction saved: the next training will use it.",
        "admin_only": "This command is for administrators only.",
        "feeds_title": "📡 <b>Sources</b> — {ok} ok, {failing} failing, {off} disabled",
        "addfeed_usage": "Usage: /addfeed &lt;url&gt;",
        "addfeed_ok": "✅ Source added: {name} ({n} articles read).",
        "addfeed_refused": "❌ Refused: {reason}",
        "removefeed_usage": "Usage: /removefeed &lt;id&gt;",
        "removefeed_ok": "Source {id} disabled (its articles stay).",
        "removefeed_unknown": "Unknown source: {id}.",
        "stats_title": "📈 <b>Statistics</b>",
        "btn_alerts": "Alerts",
        "btn_daily": "Daily",
        "btn_weekly": "Weekly",
        "btn_off": "No digest",
        "btn_day": "Day: {day}",
        "btn_hour": "Hour: {hour}:00",
        "btn_done": "Done",
        "menu_start": "About",
        "menu_help": "Help and examples",
        "menu_subscribe": "Subscribe (regions, types, keywords)",
        "menu_unsubscribe": "Unsubscribe",
        "menu_settings": "My settings",
        "menu_region": "Articles of a region",
        "menu_type": "Articles of an initiative type",
        "menu_search": "Full-text search",
        "menu_latest": "Latest articles",
        "menu_regions": "Articles per region (7 days)",
        "menu_digest": "Preview my digest",
        "menu_why": "Why these tags?",
        "menu_lang": "Language (fr/en)",
        "menu_stop": "Delete my data",
        "unknown_command": "Unknown command: /{name}",
        "button_expired": "This button is no longer valid: send the command again.",
        "internal_error": "⚠️ Erreur interne, réessayez plus tard. / Internal error.",
        "yes": "yes",
        "no": "no",
        "why_national": "national",
        "why_topic": "AI",
        "quoted": "“{v}”",
        "too_many_terms": "Too many terms at once (at most {n}): nothing was changed.",
        "keyword_too_long": "Keyword too long (at most {max} characters): “{v}”. Nothing was changed.",
        "too_many_keywords": "At most {max} keywords and exclusions per chat: nothing was changed. /unsubscribe to remove some.",
        "feeds_failing": "❌ <code>{id}</code> since {since} — {error}",
        "stats_items": "items: {n}",
        "stats_feeds": "feeds: {n} ({ok} ok)",
        "stats_types": "types (7 d): {v}",
        "chart_regions": "Articles per region",
        "chart_types": "Articles per initiative type",
        "group_national": "Nationwide",
        "group_elsewhere": "Elsewhere",
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


def lang_of(language_code: str | None) -> str:
    """'en' for English-speaking Telegram users, French otherwise."""
    return "en" if (language_code or "").lower().startswith("en") else "fr"
