"""The live pipeline on labelled articles: teaser feeds on loopback -> poll -> export -> scores.

Each article of a labelled JSONL file (TAXONOMY fields + "title", "text", "lang"; kept outside
the repository) is served on 127.0.0.1 as an RSS item of a teaser feed (title + about 200
characters) linking to an HTML article page with ordinary page furniture (menu, cookie banner,
share bar, related links, newsletter box, footer; three layouts). Then, for each full_text mode:

    veille poll --once --feeds FILE        (a fresh database; the model of --state-dir)
    veille items --format jsonl --all --since 3650d

and the exported tags are scored against the labels (region/country micro-F1, type macro-F1,
primary-type accuracy, topic macro-F1, national accuracy). The same articles given whole to
`veille classify --jsonl` are the reference ("full_text_direct"). Prints one JSON object; the
deltas compare each mode with full_text: never in the same run.

    .venv/bin/python bench/live_pipeline.py /work/realdev/realdev_text.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.feeds.normalize import shorten
from classifiers.evaluate import score
from tests.support.feedserver import FeedServer, Route

TEASER_CHARS = 200
MEASURES = (
    "region_micro_f1",
    "country_micro_f1",
    "type_macro_f1",
    "primary_type_accuracy",
    "topic_macro_f1",
    "national_accuracy",
)
TARGETS = {
    "region_micro_f1": 0.90,
    "country_micro_f1": 0.75,
    "type_macro_f1": 0.74,
    "primary_type_accuracy": 0.72,
    "topic_macro_f1": 0.95,
}
NAV = {
    "fr": "Accueil · Actualité · Économie · Politique · Sport · Culture · Faits divers · Éditions "
    "locales : Lille, Lyon, Nantes, Marseille · Newsletters · Se connecter",
    "en": "Home · News · Business · Politics · Sport · Culture · Local editions · Sign in",
}
COOKIES = {
    "fr": "Nous utilisons des cookies et des technologies similaires pour mesurer l'audience, "
    "personnaliser les contenus et la publicité. Vous pouvez accepter, refuser ou paramétrer "
    "vos choix à tout moment. Tout accepter · Tout refuser · Paramétrer",
    "en": "We use cookies and similar technologies to measure our audience and personalise "
    "content and advertising. You can accept, refuse or manage your choices at any time. "
    "Accept all · Reject all · Manage",
}
RELATED = {
    "fr": (
        "Le marché de Noël ouvre ses portes ce week-end",
        "Football : victoire à domicile pour le club local",
        "Travaux : la circulation perturbée sur le périphérique",
        "Météo : un week-end pluvieux attendu",
    ),
    "en": (
        "Christmas market opens this weekend",
        "Football: home win for the local club",
        "Roadworks disrupt traffic on the ring road",
        "Weather: a rainy weekend ahead",
    ),
}
SHARE = {"fr": "Partager : Facebook · X · LinkedIn · E-mail · Copier le lien", "en": "Share"}
NEWSLETTER = {
    "fr": "Recevez chaque matin l'essentiel de l'actualité. Inscrivez-vous à notre newsletter "
    "gratuite. Votre adresse e-mail",
    "en": "Get the day's news every morning. Sign up to our free newsletter. Your e-mail",
}
FOOTER = {
    "fr": "Mentions légales · Politique de confidentialité · Gestion des cookies · Contact · "
    "Plan du site · © 2026 Le Journal",
    "en": "Legal notice · Privacy · Cookies · Contact · Sitemap · © 2026 The Journal",
}


def page(record: dict[str, Any], layout: int) -> bytes:
    """An article page around the record's text, in one of three layouts."""
    lang = "en" if record.get("lang") == "en" else "fr"
    title = escape(record["title"])
    paragraphs = [p.strip() for p in record["text"].split("\n") if p.strip()]
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    related = "".join(
        f'<li><a href="/r/{i}">{escape(t)}</a></li>' for i, t in enumerate(RELATED[lang])
    )
    cookie = f'<div id="cookie-banner" class="cookie-consent"><p>{COOKIES[lang]}</p></div>'
    nav = f'<nav class="menu">{escape(NAV[lang])}</nav>'
    share = f'<div class="share-bar">{escape(SHARE[lang])}</div>'
    newsletter = f'<div class="newsletter-box"><p>{escape(NEWSLETTER[lang])}</p><input></div>'
    footer = f"<footer><p>{escape(FOOTER[lang])}</p></footer>"
    date = '<p class="byline">Par la rédaction · publié le 12/11/2026 à 09:30</p>'
    if layout == 0:  # semantic HTML5
        main = (
            f"<main><article><h1>{title}</h1>{date}{share}{body}</article>"
            f"<aside><h2>À lire aussi</h2><ul>{related}</ul></aside>{newsletter}</main>"
        )
    elif layout == 1:  # a CMS's div soup
        main = (
            f'<div id="page"><div class="col-main"><div class="post"><h1 class="post-title">'
            f'{title}</h1>{date}<div class="post-content entry-content">{body}</div>{share}</div>'
            f'<div class="related-posts"><h3>Sur le même sujet</h3><ul>{related}</ul></div></div>'
            f'<div class="sidebar widget-area"><h3>Les plus lus</h3><ul>{related}</ul>'
            f"{newsletter}</div></div>"
        )
    else:  # a public body's page: breadcrumbs, a lede, a contact box
        main = (
            '<div class="breadcrumb"><a href="/">Accueil</a> › <a href="/actu">Actualités</a></div>'
            f'<div class="content"><h1>{title}</h1>{date}<div class="text">{body}</div>'
            '<div class="contact-box"><p>Contact presse : service communication</p></div>'
            f'</div><div class="more"><ul>{related}</ul></div>{newsletter}'
        )
    html = (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>'
        f"</head><body><header>{nav}</header>{cookie}{main}{footer}</body></html>"
    )
    return html.encode("utf-8")


def teaser_feed(records: list[dict[str, Any]], base: str, now: datetime, lang: str) -> bytes:
    """An RSS feed of teasers (title + about 200 characters) linking to the article pages."""
    entries = []
    for n, rec in enumerate(records):
        link = f"{base}/articles/{rec['id']}.html"
        when = format_datetime(now - timedelta(minutes=5 * n + 5), usegmt=True)
        teaser = shorten(rec["text"], TEASER_CHARS)
        entries.append(
            f"<item><title>{escape(rec['title'])}</title><link>{link}</link>"
            f"<guid>{link}</guid><pubDate>{when}</pubDate>"
            f"<description>{escape(teaser)}</description></item>"
        )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Le Journal ({lang})</title><link>{base}/</link><language>{lang}</language>"
        f"{''.join(entries)}</channel></rss>"
    ).encode()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSONL file (blank lines skipped)."""
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def child_env(state_dir: str) -> dict[str, str]:
    """This environment without Veille or Telegram settings, pointed at state_dir's model."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VEILLE_", "TELEGRAM_"))}
    env.update(VEILLE_STATE_DIR=str(Path(state_dir).resolve()), NO_COLOR="1", TERM="dumb")
    return env


def veille(args: list[str], env: dict[str, str], stdin: str | None = None) -> str:
    """Run the `veille` command; its standard output (fails loudly on a non-zero exit)."""
    done = subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"veille {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def run_mode(
    mode: str, records: list[dict[str, Any]], base: str, env: dict[str, str], work: Path
) -> dict[str, Any]:
    """Poll the teaser feeds with full_text: mode into a fresh database; scores and statuses."""
    feeds = work / f"feeds-{mode}.yaml"
    lines = ["feeds:"]
    for lang in ("fr", "en"):
        lines += [
            f"  - id: journal-{lang}",
            f"    name: Le Journal ({lang})",
            f"    url: {base}/feeds/{lang}.xml",
            f"    language: {lang}",
            f"    full_text: {mode}",
        ]
    feeds.write_text("\n".join(lines) + "\n", encoding="utf-8")
    db = work / f"live-{mode}.db"
    env = {**env, "VEILLE_DATABASE_URL": f"sqlite:///{db}"}
    started = time.perf_counter()
    veille(["poll", "--once", "--feeds", str(feeds)], env)
    seconds = time.perf_counter() - started
    out = veille(
        ["items", "--format", "jsonl", "--all", "--since", "3650d", "--feeds", str(feeds)], env
    )
    exported = [json.loads(line) for line in out.splitlines() if line.strip()]
    by_id = {Path(r["link"]).stem: r for r in exported}
    missing = [r["id"] for r in records if r["id"] not in by_id]
    predicted = [by_id.get(r["id"], {}) for r in records]
    statuses: dict[str, int] = {}
    for r in exported:
        key = f"{r['text_source']}:{r['article_status']}"
        statuses[key] = statuses.get(key, 0) + 1
    metrics = score(records, predicted)
    return {
        **{m: metrics[m] for m in MEASURES},
        "types": {t: v["f1"] for t, v in metrics["types"]["labels"].items()},
        "items_exported": len(exported),
        "missing": missing,
        "text_statuses": statuses,
        "poll_seconds": round(seconds, 1),
    }


def main(argv: list[str] | None = None) -> None:
    """Serve, poll for each mode, score, print JSON."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("labelled", type=Path, help="JSONL: TAXONOMY labels + title, text, lang")
    parser.add_argument("--modes", default="never,auto", help="full_text modes to run")
    parser.add_argument("--state-dir", default="state", help="where the trained model lives")
    args = parser.parse_args(argv)
    records = read_jsonl(args.labelled)
    env = child_env(args.state_dir)
    now = datetime.now(UTC)
    result: dict[str, Any] = {"n": len(records), "targets": TARGETS}
    with FeedServer() as server, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for n, rec in enumerate(records):
            server.add(
                f"/articles/{rec['id']}.html",
                Route(body=page(rec, n % 3), content_type="text/html; charset=utf-8"),
            )
        for lang in ("fr", "en"):
            mine = [r for r in records if (r.get("lang") or "fr") == lang]
            server.add(f"/feeds/{lang}.xml", Route(body=teaser_feed(mine, server.base, now, lang)))
        direct_in = work / "direct.jsonl"
        direct_in.write_text(
            "".join(
                json.dumps(
                    {"id": r["id"], "title": r["title"], "text": r["text"]}, ensure_ascii=False
                )
                + "\n"
                for r in records
            ),
            encoding="utf-8",
        )
        out = veille(["classify", "--jsonl", str(direct_in)], env)
        direct = {o["id"]: o for o in map(json.loads, out.splitlines())}
        metrics = score(records, [direct[r["id"]] for r in records])
        result["full_text_direct"] = {m: metrics[m] for m in MEASURES}
        for mode in args.modes.split(","):
            result[f"full_text_{mode}"] = run_mode(mode, records, server.base, env, work)
    baseline = result.get("full_text_never")
    if baseline:
        for mode in args.modes.split(","):
            if mode != "never":
                result[f"delta_{mode}_vs_never"] = {
                    m: round(result[f"full_text_{mode}"][m] - baseline[m], 3) for m in MEASURES
                }
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
