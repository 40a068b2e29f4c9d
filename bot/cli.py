"""The `veille` command: poll, feeds, items, run, demo, train, evaluate, classify, retag, ask."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bot.config import Settings, load_settings
from bot.errors import VeilleError
from bot.feeds import opml
from bot.logs import setup_logging
from bot.service import Runtime
from classifiers.taxonomy import TYPES
from classifiers.text import page_parts, visible_text

console = Console()
TABLE_LIMIT = 30


def parse_since(value: str) -> timedelta:
    """'7d', '12h', '30m' or '2w' as a timedelta."""
    match = re.fullmatch(r"\s*(\d+)\s*([mhdw])\s*", value or "")
    if not match:
        raise argparse.ArgumentTypeError(
            f"expected a duration such as 7d, 12h or 2w, got {value!r}"
        )
    n, unit = int(match.group(1)), match.group(2)
    return {
        "m": timedelta(minutes=n),
        "h": timedelta(hours=n),
        "d": timedelta(days=n),
        "w": timedelta(weeks=n),
    }[unit]


def _settings(args: argparse.Namespace, environ: dict[str, str]) -> Settings:
    return load_settings(environ, feeds_file=args.feeds)


# ---- poll / run ---------------------------------------------------------------------------


async def _poll_once(
    rt: Runtime, *, tag: bool | None = None, quiet: bool = False
) -> tuple[Any, Any]:
    """Poll every feed now; then read the article pages of the new items (the feed poll is
    over by then, so pages never slow it). Returns both reports."""
    rt.store.force_due(rt.clock())
    async with rt.poller(tag=tag) as poller:
        report = await _poll_feeds(poller, len(rt.store.due_feeds(rt.clock())), quiet=quiet)
        articles = await poller.articles.run_pending() if poller.articles is not None else None
        return report, articles


async def _poll_feeds(poller: Any, due: int, *, quiet: bool) -> Any:
    if quiet or due < 5:
        return await poller.poll_due()
    with Progress(
        TextColumn("polling"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[last]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("poll", total=due, last="")

        def advance(feed_id: str, outcome: str) -> None:
            progress.update(task, advance=1, last=f"{feed_id}: {outcome}")

        return await poller.poll_due(progress=advance)


def _print_report(reports: tuple[Any, Any]) -> None:
    report, articles = reports
    console.print(
        f"[bold]{report.feeds}[/] feeds polled in {report.seconds:.1f} s: "
        f"[green]{report.ok} ok[/], {report.not_modified} not modified, {report.unchanged} unchanged, "
        f"[red]{report.failed} failed[/]; [bold]{report.new_items}[/] new items, {report.tagged} tagged"
    )
    for feed_id, error in sorted(report.errors.items())[:20]:
        console.print(f"  [red]✗[/] {feed_id}: {error}")
    if articles is not None and articles.items:
        statuses = ", ".join(f"{n} {status}" for status, n in sorted(articles.statuses.items()))
        console.print(
            f"article pages: [bold]{articles.items}[/] items looked at in {articles.seconds:.1f} s "
            f"({articles.fetched} fetched, {articles.from_cache} from cache): {statuses}; "
            f"{articles.retagged} re-tagged on their article"
        )


def cmd_poll(args: argparse.Namespace, environ: dict[str, str]) -> int:
    """Poll feeds: once (--once) or on the scheduler until stopped."""
    rt = Runtime.open(_settings(args, environ))
    try:
        if args.once:
            _print_report(asyncio.run(_poll_once(rt, tag=False if args.no_tag else None)))
            return 0
        from bot.runner import run_service

        asyncio.run(
            run_service(rt, role="poller", telegram=False, tag=False if args.no_tag else None)
        )
        return 0
    finally:
        rt.close()


def cmd_run(args: argparse.Namespace, environ: dict[str, str]) -> int:
    """The long-running service: scheduler, poller, tagger and (with a token) the Telegram bot."""
    from bot.runner import run_service

    rt = Runtime.open(_settings(args, environ))
    try:
        asyncio.run(run_service(rt, role=args.role, telegram=True))
    finally:
        rt.close()
    return 0


# ---- feeds / items ------------------------------------------------------------------------


def cmd_feeds(args: argparse.Namespace, environ: dict[str, str]) -> int:
    """Feed health table; import/export OPML."""
    settings = _settings(args, environ)
    if args.action == "import":
        added = opml.import_into_yaml(Path(args.file), settings.feeds_file)
        console.print(
            f"added {len(added)} feed(s) to {settings.feeds_file}: {', '.join(added) or '-'}"
        )
        return 0
    if args.action == "export":
        from bot.config import load_feeds

        sys.stdout.write(opml.export(load_feeds(settings.feeds_file).feeds))
        return 0
    rt = Runtime.open(settings)
    try:
        table = Table(title=f"Feeds ({settings.feeds_file})")
        for col in ("id", "status", "items", "last success", "next check", "errors", "last error"):
            table.add_column(col, overflow="fold")
        now = rt.clock()
        for f in rt.store.feed_states():
            status = {
                "ok": "[green]ok[/]",
                "failing": "[red]failing[/]",
                "dead": "[red]disabled[/]",
                "disabled": "[dim]disabled[/]",
            }.get(f.status, f.status)
            if f.status == "failing" and f.failing_since:
                status += f" since {f.failing_since:%Y-%m-%d %H:%M}"
            table.add_row(
                f.id,
                status,
                str(f.items_total),
                f"{f.last_success_at:%Y-%m-%d %H:%M}" if f.last_success_at else "-",
                _ago(f.next_check_at - now) if f.enabled else "-",
                str(f.consecutive_errors),
                (f.last_error or "")[:80],
            )
        console.print(table)
        return 0
    finally:
        rt.close()


def _ago(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return (
        "due" if minutes <= 0 else f"in {minutes} min" if minutes < 120 else f"in {minutes // 60} h"
    )


def cmd_items(args: argparse.Namespace, environ: dict[str, str]) -> int:
    """Stored items, newest first, filtered by region, type, period or words."""
    rt = Runtime.open(_settings(args, environ), with_feeds=False)
    try:
        region = None
        if args.region:
            region = rt.gazetteer.resolve_region(args.region)
            if region is None:
                hint = ", ".join(rt.gazetteer.suggest_regions(args.region))
                console.print(
                    f"[red]unknown region {args.region!r}[/]"
                    + (f"; closest: {hint}" if hint else "")
                )
                return 2
        export = args.format != "table"
        items = rt.store.recent_items(
            since=rt.clock() - args.since,
            regions=[region] if region else [],
            types=[args.type] if args.type else [],
            search=args.search,
            # An export is the whole watch (duplicates flagged), unless --limit says otherwise.
            limit=args.limit if args.limit is not None or export else TABLE_LIMIT,
            topic_only=not args.all,
            include_duplicates=export,
        )
        if export:
            from bot import export as exporter

            details = rt.store.item_details([i.id for i in items])
            records = (exporter.record(i, details.get(i.id, {})) for i in items)
            write = exporter.to_jsonl if args.format == "jsonl" else exporter.to_csv
            for chunk in write(records):
                sys.stdout.write(chunk)
            sys.stdout.flush()
            return 0
        table = Table(title=f"{len(items)} item(s)" + (f" — {region}" if region else ""))
        for col in ("date", "source", "title", "regions", "type", "story"):
            table.add_column(col, overflow="fold")
        for i in items:
            table.add_row(
                f"{i.published_at:%Y-%m-%d}",
                i.feed_name,
                i.title,
                ", ".join(i.regions) or ("national" if i.national else "-"),
                i.primary_type or "-",
                str(i.story_id) if i.story_id is not None else "-",
            )
        console.print(table)
        return 0
    finally:
        rt.close()


# ---- tagger -------------------------------------------------------------------------------


def cmd_train(args: argparse.Namespace, environ: dict[str, str]) -> int:
    """Fit the tagger on seeds + corpus + stored corrections, save it under state/models/."""
    from bot.store.corrections import correction_examples
    from classifiers.train import train

    rt = Runtime.open(_settings(args, environ), with_feeds=False)
    try:
        extra = correction_examples(rt.store)
        with console.status("training…"):
            info = train(rt.settings.models_dir, extra=extra)
        console.print(
            f"model [bold]{info.version}[/] trained on {info.examples} examples "
            f"({len(extra)} corrections) → {rt.settings.models_dir}"
        )
        console.print_json(json.dumps(info.metrics))
        return 0
    finally:
        rt.close()


def cmd_evaluate(args: argparse.Namespace, environ: dict[str, str]) -> int:
    """Per-label precision/recall/F1 on a labelled JSONL file, or, side by side, on the held-out
    split, the seeds and the press-style set (one model that saw none of them)."""
    if args.stories:
        return _evaluate_stories(args)
    from classifiers.corpus import load_examples, read_jsonl
    from classifiers.evaluate import score
    from classifiers.train import evaluation_report, gold

    if args.file:
        rt = Runtime.open(_settings(args, environ), with_feeds=False)
        tagger = rt.tagger()
        examples = list(read_jsonl(Path(args.file), source="eval"))
        pred = [
            r.to_dict()
            for r in tagger.tag_batch([(e.title, e.text, None) for e in examples], evidence=False)
        ]
        metrics = score([gold(e) for e in examples], pred)
        rt.close()
    else:
        with console.status("fitting on the training split…"):
            report = evaluation_report(load_examples())
        _print_evaluation(report)
        for name, m in report.items():
            console.print(f"[bold]{name}[/]")
            _print_metrics(m)
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False))
        return 0
    _print_metrics(metrics)
    if args.json:
        Path(args.json).write_text(json.dumps(metrics, indent=2, ensure_ascii=False))
    return 0


_HEADLINE = (
    ("articles", "n"),
    ("region micro-F1", "region_micro_f1"),
    ("country micro-F1", "country_micro_f1"),
    ("type macro-F1", "type_macro_f1"),
    ("primary accuracy", "primary_type_accuracy"),
    ("topic macro-F1", "topic_macro_f1"),
    ("national F1", "national_f1"),
)


def _print_evaluation(report: dict[str, dict[str, Any]]) -> None:
    table = Table(title="unseen by the model: held-out split, seeds, press-style set")
    table.add_column("measure")
    for name in report:
        table.add_column(name)
    for label, key in _HEADLINE:
        table.add_row(label, *(str(m.get(key, "–")) for m in report.values()))
    console.print(table)


def _evaluate_stories(args: argparse.Namespace) -> int:
    """Pairwise same-story precision/recall of the clustering on a labelled JSONL file."""
    from bot.stories import JOIN_THRESHOLD, LABELLED_SET, LabelledItem, evaluate_labelled

    path = Path(args.file) if args.file else LABELLED_SET
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        records = [LabelledItem.from_json(json.loads(line)) for line in lines if line.strip()]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        console.print(f"[red]cannot read labelled stories from {path}: {exc}[/]")
        return 2
    from classifiers.gazetteer import Gazetteer

    # The regions the tagger gives an item (its gazetteer part), as the poller's items have them.
    gazetteer = Gazetteer.load()
    metrics = evaluate_labelled(
        records,
        args.threshold or JOIN_THRESHOLD,
        lambda title, lead: gazetteer.locate(title, lead).regions,
    )
    console.print(
        f"[bold]{metrics['items']}[/] items in {metrics['stories']} stories "
        f"({metrics['predicted_stories']} found) — pairwise precision "
        f"[bold]{metrics['precision']}[/], recall [bold]{metrics['recall']}[/], "
        f"F1 {metrics['f1']} ({metrics['pairs_true']} same-story pairs)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(metrics, indent=2, ensure_ascii=False))
    return 0


def _print_metrics(m: dict[str, Any]) -> None:
    console.print(
        f"[bold]{m['n']}[/] articles — region micro-F1 [bold]{m['region_micro_f1']}[/], "
        f"country micro-F1 [bold]{m['country_micro_f1']}[/], type macro-F1 "
        f"[bold]{m['type_macro_f1']}[/], primary accuracy [bold]{m['primary_type_accuracy']}[/], "
        f"topic macro-F1 [bold]{m['topic_macro_f1']}[/], national F1 {m['national_f1']}"
    )
    for group in ("regions", "countries", "types"):
        table = Table(title=group)
        for col in ("label", "precision", "recall", "f1", "support"):
            table.add_column(col)
        for label, v in m[group]["labels"].items():
            table.add_row(
                label, str(v["precision"]), str(v["recall"]), str(v["f1"]), str(v["support"])
            )
        console.print(table)
    conf = Table(title="primary type: gold (rows) × predicted (columns)")
    names = list(m["primary_confusion"])
    conf.add_column("gold")
    for n in names:
        conf.add_column(n[:8])
    for g in names:
        conf.add_row(g, *(str(m["primary_confusion"][g].get(p, 0) or ".") for p in names))
    console.print(conf)


def _read_source(source: str, settings: Settings) -> tuple[str, str]:
    """(title, text) of a file, '-' (stdin) or an http(s) URL; an HTML page gives its headline.

    A URL goes through the feed fetcher (body cap, timeouts) and the private-address check.
    """
    if source == "-":
        raw = sys.stdin.read()
    elif re.match(r"^https?://", source):
        from datetime import UTC, datetime

        from bot.feeds.user_url import fetch_user_url

        result = asyncio.run(fetch_user_url(settings, source, now=datetime.now(UTC)))
        raw = (result.body or b"").decode("utf-8", errors="replace")
    else:
        try:
            raw = Path(source).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise VeilleError(f"cannot read {source}: {exc.strerror or exc}") from exc
    if re.search(r"<(html|body|article|h1)\b", raw[:20000], re.IGNORECASE):
        return page_parts(raw)
    lines = [ln.strip() for ln in raw.splitlines() if ln.strip()]
    title = next((ln for ln in lines[:5] if len(ln.split()) >= 4), lines[0] if lines else "")
    return title, raw


def cmd_classify(args: argparse.Namespace, environ: dict[str, str]) -> int:
    """Tag one article (file, URL or -) or a JSONL stream (--jsonl) and print JSON."""
    rt = Runtime.open(_settings(args, environ), with_feeds=False)
    try:
        tagger = rt.tagger()
        if args.jsonl:
            src = sys.stdin if args.jsonl == "-" else open(args.jsonl, encoding="utf-8")  # noqa: SIM115
            out = sys.stdout
            with src:
                batch: list[dict[str, Any]] = []
                for line in src:
                    if line.strip():
                        batch.append(json.loads(line))
                    if len(batch) >= 256:
                        _classify_batch(tagger, batch, out)
                        batch = []
                _classify_batch(tagger, batch, out)
            return 0
        if not args.source:
            console.print("[red]give a FILE, a URL, - for stdin, or --jsonl IN.jsonl[/]")
            return 2
        title, text = _read_source(args.source, rt.settings)
        result = tagger.tag(title, text).to_dict()
        sys.stdout.write(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
        return 0
    finally:
        rt.close()


def _classify_batch(tagger: Any, batch: list[dict[str, Any]], out: Any) -> None:
    if not batch:
        return
    results = tagger.tag_batch(
        [(str(o.get("title") or ""), str(o.get("text") or ""), None) for o in batch]
    )
    for obj, res in zip(batch, results, strict=True):
        row = res.to_dict()
        if "id" in obj:
            row = {"id": obj["id"], **row}
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
    out.flush()


def cmd_retag(args: argparse.Namespace, environ: dict[str, str]) -> int:
    """Re-tag every stored item with the current model."""
    from bot.feeds.workers import make_parse_pool
    from bot.tagging import TaggingService

    rt = Runtime.open(_settings(args, environ), with_feeds=False)
    pool = make_parse_pool(rt.settings.parse_workers, idle_seconds=rt.settings.worker_idle_seconds)
    try:
        tagger = rt.tagger()
        service = TaggingService(rt.store, rt.settings.models_dir, pool, tagger.version, rt.clock)
        with console.status("tagging…"):
            n = asyncio.run(service.tag_ids(None, untagged_only=False))
        console.print(f"re-tagged {n} item(s) with model {tagger.version}")
        return 0
    finally:
        pool.shutdown()
        rt.close()


def cmd_ask(args: argparse.Namespace, environ: dict[str, str]) -> int:
    """Print the reply the bot would send to a command, rendered for the terminal."""
    from bot.commands.routes import terminal_answer

    rt = Runtime.open(_settings(args, environ), with_feeds=False)
    try:
        reply = terminal_answer(
            rt.settings,
            rt.store,
            rt.gazetteer,
            rt.clock(),
            args.command,
            lang=args.lang,
            chat_id=args.chat,
        )
        print_reply(reply)
        return 0
    finally:
        rt.close()


def print_reply(reply: Any) -> None:
    """A Reply as terminal text with its buttons listed."""
    for message in reply.messages:
        console.print(visible_text(message), markup=False, highlight=False)
        console.print()
    for row in reply.buttons:
        console.print("  ".join(f"[{b.text}]" for b in row), markup=False)


def cmd_demo(args: argparse.Namespace, environ: dict[str, str]) -> int:
    """Serve the bundled sample feeds on loopback, poll, tag, and print a digest and /region."""
    from bot.demo.run import run_demo

    return run_demo(_settings(args, environ), console)


# ---- entry point --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (every command takes --feeds)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--feeds", default=None, help="feeds file (default: feeds.yaml, or $VEILLE_FEEDS)"
    )
    common.add_argument("--log-level", default=os.environ.get("VEILLE_LOG_LEVEL", "WARNING"))
    parser = argparse.ArgumentParser(
        prog="veille",
        parents=[common],
        description="Veille: AI and digital-innovation news of the French regions.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("poll", parents=[common], help="poll the feeds")
    p.add_argument("--once", action="store_true", help="poll every feed now, once, then exit")
    p.add_argument("--no-tag", action="store_true", help="store items without tagging them")
    p.set_defaults(func=cmd_poll)

    p = sub.add_parser("run", parents=[common], help="run the service (scheduler, poller, bot)")
    p.add_argument("--role", choices=["all", "poller", "sender", "bot"], default="all")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("feeds", parents=[common], help="feed health; OPML import/export")
    p.add_argument("action", nargs="?", choices=["list", "import", "export"], default="list")
    p.add_argument("file", nargs="?", help="OPML file to import")
    p.set_defaults(func=cmd_feeds)

    p = sub.add_parser("items", parents=[common], help="list stored items")
    p.add_argument("--region")
    p.add_argument(
        "--type",
        choices=list(TYPES),
    )
    p.add_argument("--since", type=parse_since, default=timedelta(days=7))
    p.add_argument("--search")
    p.add_argument(
        "--limit", type=int, default=None, help=f"at most N items (table: {TABLE_LIMIT})"
    )
    p.add_argument("--all", action="store_true", help="include off-topic items")
    p.add_argument(
        "--format",
        choices=["table", "jsonl", "csv"],
        default="table",
        help="jsonl / csv: one record per item with the TAXONOMY fields and scores",
    )
    p.set_defaults(func=cmd_items)

    p = sub.add_parser("train", parents=[common], help="train the tagger")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", parents=[common], help="evaluate the tagger or the stories")
    p.add_argument("file", nargs="?", help="labelled JSONL (default: the held-out split)")
    p.add_argument("--json", help="also write the metrics to this file")
    p.add_argument(
        "--stories",
        action="store_true",
        help="pairwise same-story precision/recall (default file: the labelled story set)",
    )
    p.add_argument("--threshold", type=float, help="story join threshold (with --stories)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("classify", parents=[common], help="tag an article or a JSONL stream")
    p.add_argument("source", nargs="?", help="FILE, URL or -")
    p.add_argument("--jsonl", help="IN.jsonl (or -): objects with title, text, optional id")
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser("retag", parents=[common], help="re-tag all stored items")
    p.set_defaults(func=cmd_retag)

    p = sub.add_parser("ask", parents=[common], help="print the bot's reply to a command")
    p.add_argument("command", help='e.g. "/region Hauts-de-France"')
    p.add_argument("--lang", default="fr", choices=["fr", "en"])
    p.add_argument(
        "--chat", type=int, default=0, help="act as this chat id (for /settings, /digest)"
    )
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("demo", parents=[common], help="offline end-to-end demo")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None, environ: dict[str, str] | None = None) -> None:
    """Entry point of the `veille` command."""
    args = build_parser().parse_args(argv)
    env = dict(os.environ if environ is None else environ)
    redactor = setup_logging(
        args.log_level.upper(), secrets=[env.get("TELEGRAM_BOT_TOKEN", "").strip()]
    )
    func: Callable[[argparse.Namespace, dict[str, str]], int] = args.func
    try:
        code = func(args, env)
    except VeilleError as exc:
        console.print(f"[red]error:[/] {redactor.redact(str(exc))}", markup=True, highlight=False)
        code = 2
    except KeyboardInterrupt:
        code = 130
    except Exception as exc:  # an unexpected crash: report it without leaking the token
        import traceback

        sys.stderr.write(redactor.redact("".join(traceback.format_exception(exc))))
        code = 1
    sys.exit(code)
