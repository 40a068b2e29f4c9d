"""`veille items --format jsonl|csv`: one record per stored item, read back the same both ways."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.export import from_csv_row
from bot.store.repo import Store
from tests.conftest import feed_config
from tests.test_store import item

RESULTS = {
    "bzh": {
        "regions": ["Bretagne", "Pays de la Loire"],
        "countries": ["CA"],
        "national": False,
        "types": ["funding", "partnership"],
        "primary_type": "funding",
        "topic_ai": True,
        "scores": {
            "regions": {"Bretagne": 0.97, "Pays de la Loire": 0.61},
            "countries": {"CA": 0.7},
            "types": {"funding": 0.91, "partnership": 0.55, "event": 0.12},
            "primary_type": 0.8,
            "topic_ai": 0.99,
        },
    },
    "foot": {
        "regions": ["Occitanie"],
        "countries": [],
        "national": False,
        "types": [],
        "primary_type": None,
        "topic_ai": False,
        "scores": {"regions": {"Occitanie": 0.9}, "types": {}, "topic_ai": 0.03},
    },
}


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """A state folder with three items (one tagged on topic, one off topic, one old), as environ."""
    store = Store.open(f"sqlite:///{tmp_path / 'state' / 'veille.db'}")
    now = datetime.now(UTC)  # the command's clock is the real one
    store.sync_feeds([feed_config("alpha", "https://alpha.example/rss", name="Alpha")], now)
    ids = store.insert_items(
        "alpha",
        [
            item(
                "bzh",
                "La Bretagne, le Québec et l'IA",
                summary="Un accord, « guillemets »; ok",
                published=now - timedelta(hours=2),
            ),
            item(
                "foot", "Match nul à Toulouse", summary="Sport.", published=now - timedelta(hours=3)
            ),
            item("old", "Archive de 2016", published=now - timedelta(days=3000)),
        ],
        now,
    )
    store.save_tags(
        [(ids[0], RESULTS["bzh"]), (ids[1], RESULTS["foot"])], now, model_version="test"
    )
    store.close()
    return {"VEILLE_STATE_DIR": str(tmp_path / "state")}


def veille(capsys: pytest.CaptureFixture[str], env: dict[str, str], *args: str) -> str:
    """Run the command in-process; its standard output."""
    with pytest.raises(SystemExit) as exit_:
        main(["items", *args], environ=env)
    out = capsys.readouterr().out
    assert exit_.value.code == 0, out
    return out


def test_jsonl_and_csv_give_the_same_records(
    home: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    jsonl = veille(capsys, home, "--format", "jsonl", "--all", "--since", "3650d")
    records = [json.loads(line) for line in jsonl.splitlines()]
    assert [r["title"] for r in records][-1] == "Archive de 2016"
    by_title = {r["title"]: r for r in records}
    bzh = by_title["La Bretagne, le Québec et l'IA"]
    expected = RESULTS["bzh"]
    for field in ("regions", "countries", "national", "types", "primary_type", "topic_ai"):
        assert bzh[field] == expected[field], field  # labels come best score first
    assert bzh["scores"]["types"]["funding"] == 0.91
    assert (bzh["feed"], bzh["feed_name"], bzh["text_source"]) == ("alpha", "Alpha", "feed")
    assert bzh["link"] == "https://example.org/bzh"
    untagged = by_title["Archive de 2016"]
    assert (untagged["topic_ai"], untagged["regions"], untagged["scores"]) == (None, [], {})

    table = veille(capsys, home, "--format", "csv", "--all", "--since", "3650d")
    rows = [from_csv_row(r) for r in csv.DictReader(io.StringIO(table))]
    assert rows == records


def test_export_honours_the_table_filters(
    home: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    on_topic = veille(capsys, home, "--format", "jsonl", "--since", "3650d")
    assert [json.loads(x)["title"] for x in on_topic.splitlines()] == [
        "La Bretagne, le Québec et l'IA",
        "Archive de 2016",  # untagged items are shown, as in the table
    ]
    recent = veille(capsys, home, "--format", "jsonl", "--all", "--since", "7d")
    assert len(recent.splitlines()) == 2
    typed = veille(
        capsys, home, "--format", "csv", "--all", "--since", "3650d", "--type", "funding"
    )
    assert [r["title"] for r in csv.DictReader(io.StringIO(typed))] == [
        "La Bretagne, le Québec et l'IA"
    ]
    assert veille(capsys, home, "--format", "csv", "--region", "Corse").splitlines() == [
        ",".join(
            [
                "id",
                "link",
                "title",
                "feed",
                "feed_name",
                "published",
                "text_source",
                "article_status",
                "duplicate_of",
                "story_id",
                "regions",
                "countries",
                "national",
                "types",
                "primary_type",
                "topic_ai",
                "scores",
            ]
        )
    ]
