"""feeds.yaml validation and settings from an environ mapping."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.config import Settings, load_feeds, load_settings
from bot.errors import ConfigError
from classifiers.taxonomy import REGIONS

REPO_FEEDS = Path(__file__).resolve().parent.parent / "feeds.yaml"

GOOD = """\
defaults:
  min_interval_minutes: 20
  max_interval_minutes: 600

feeds:
  - id: usine-digitale
    name: L'Usine Digitale
    url: https://www.usine-digitale.fr/rss
    tags: [tech, national]

  - id: region-bretagne
    name: Région Bretagne
    url: https://www.bretagne.bzh/feed/
    region: Bretagne
    language: fr
    max_interval_minutes: 1440
    enabled: false
"""


def write(tmp_path: Path, text: str, name: str = "feeds.yaml") -> Path:
    """Write a feeds file and return its path."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_repository_feeds_file_is_valid() -> None:
    feeds = load_feeds(REPO_FEEDS)
    assert len(feeds.feeds) >= 30
    ids = [f.id for f in feeds.feeds]
    assert len(ids) == len(set(ids))
    assert all(f.url.startswith(("http://", "https://")) for f in feeds.feeds)
    assert all(f.region is None or f.region in REGIONS for f in feeds.feeds)
    assert any(f.enabled for f in feeds.feeds)


def test_defaults_apply_and_entries_override_them(tmp_path: Path) -> None:
    feeds = load_feeds(write(tmp_path, GOOD)).by_id()
    usine, bretagne = feeds["usine-digitale"], feeds["region-bretagne"]
    assert (usine.min_interval_minutes, usine.max_interval_minutes) == (20, 600)
    assert usine.tags == ("tech", "national")
    assert usine.language == "fr" and usine.region is None and usine.enabled
    assert bretagne.region == "Bretagne"
    assert bretagne.max_interval_minutes == 1440
    assert not bretagne.enabled


def test_feed_configs_are_frozen(tmp_path: Path) -> None:
    feed = load_feeds(write(tmp_path, GOOD)).feeds[0]
    with pytest.raises(ValidationError, match="frozen"):
        feed.url = "https://elsewhere.example/"


def test_bad_region_names_file_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("region: Bretagne", "region: Bretagnee"))
    with pytest.raises(ConfigError) as caught:
        load_feeds(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:14: feeds[1].region:")
    assert "unknown region 'Bretagnee'" in message
    assert "Bretagne" in message.split("expected one of:")[1]


def test_duplicate_id_names_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("id: region-bretagne", "id: usine-digitale"))
    with pytest.raises(
        ConfigError,
        match=r":11: feeds\[1\]\.id: duplicate id 'usine-digitale' "
        r"\(first at line 6\)",
    ) as caught:
        load_feeds(path)
    assert str(caught.value).startswith(str(path))


def test_missing_url_names_the_entry(tmp_path: Path) -> None:
    path = write(tmp_path, "feeds:\n  - id: a\n    name: A\n  - id: b\n    name: B\n")
    with pytest.raises(ConfigError) as caught:
        load_feeds(path)
    assert str(caught.value) == f"{path}:2: feeds[0].url: Field required"


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "feeds:\n  - id: a\n  name: A\n    url: x\n")
    with pytest.raises(ConfigError, match=r":3: invalid YAML") as caught:
        load_feeds(path)
    assert str(caught.value).startswith(str(path))


@pytest.mark.parametrize(
    ("entry", "where", "text"),
    [
        ("    url: ftp://x.org/feed\n", ":4: feeds[0].url:", "http(s) URL"),
        ("    url: http://x.org/\n    colour: red\n", ":5: feeds[0].colour:", "Extra inputs"),
        (
            "    url: http://x.org/\n    min_interval_minutes: 0\n",
            ":5: feeds[0].min_interval_minutes:",
            "greater than or equal to 1",
        ),
        (
            "    url: http://x.org/\n    min_interval_minutes: 100\n    max_interval_minutes: 50\n",
            ":2: feeds[0].min_interval_minutes:",
            "greater than max_interval_minutes",
        ),
        ("    url: http://x.org/\n    enabled: maybe\n", ":5: feeds[0].enabled:", "boolean"),
        (
            "    url: http://x.org/\n    full_text: sometimes\n",
            ":5: feeds[0].full_text:",
            "'auto', 'always' or 'never'",
        ),
    ],
)
def test_invalid_fields_name_file_line_and_field(
    tmp_path: Path, entry: str, where: str, text: str
) -> None:
    path = write(tmp_path, "feeds:\n  - id: a\n    name: A\n" + entry)
    with pytest.raises(ConfigError) as caught:
        load_feeds(path)
    assert str(caught.value).startswith(f"{path}{where}")
    assert text in str(caught.value)


def test_bad_feed_id(tmp_path: Path) -> None:
    path = write(tmp_path, "feeds:\n  - id: Usine_Digitale\n    name: A\n    url: http://x.org/\n")
    with pytest.raises(ConfigError, match=r":2: feeds\[0\]\.id: .*lowercase letters"):
        load_feeds(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", ":1: expected a mapping with a 'feeds' list"),
        ("feeds: nope\n", ":1: expected a mapping with a 'feeds' list"),
        ("defaults: 3\nfeeds: []\n", ":1: 'defaults' must be a mapping"),
        ("feeds:\n  - just a string\n", ":2: feeds[0] must be a mapping"),
    ],
)
def test_wrong_shapes_are_reported(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_feeds(path)
    assert str(caught.value) == f"{path}{message}"


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read feeds file"):
        load_feeds(tmp_path / "absent.yaml")


def test_empty_file_has_no_feeds(tmp_path: Path) -> None:
    assert load_feeds(write(tmp_path, "")).feeds == ()


def test_settings_defaults() -> None:
    settings = load_settings({})
    assert settings == Settings()
    assert settings.db_url == "sqlite:///state/veille.db"
    assert settings.telegram_token is None
    assert settings.max_body_bytes == 10 * 1024 * 1024
    assert settings.admin_chat_ids == frozenset()


def test_settings_from_environ(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "VEILLE_STATE_DIR": str(tmp_path),
            "VEILLE_ADMIN_CHAT_IDS": "12345, -100200300 42",
            "VEILLE_ALLOW_PRIVATE_FEEDS": "yes",
            "VEILLE_MAX_BODY_BYTES": "1000",
            "VEILLE_FETCH_TIMEOUT": "2.5",
            "VEILLE_PER_HOST": "2",
            "VEILLE_DISABLE_AFTER_DAYS": "3",
            "VEILLE_METRICS_PORT": "9100",
            "TELEGRAM_BOT_TOKEN": "123:secret",
            "VEILLE_FEEDS": "other.yaml",
        }
    )
    assert settings.admin_chat_ids == frozenset({12345, -100200300, 42})
    assert settings.allow_private_feeds is True
    assert (settings.max_body_bytes, settings.fetch_timeout) == (1000, 2.5)
    assert (settings.per_host_concurrency, settings.disable_after_days) == (2, 3)
    assert settings.metrics_port == 9100
    assert settings.db_url == f"sqlite:///{tmp_path / 'veille.db'}"
    assert settings.models_dir == tmp_path / "models"
    assert settings.feeds_file == Path("other.yaml")
    assert settings.token_value() == "123:secret"
    assert "123:secret" not in repr(settings) and "123:secret" not in str(settings)


def test_feeds_file_argument_wins_over_environ() -> None:
    settings = load_settings({"VEILLE_FEEDS": "env.yaml"}, feeds_file="arg.yaml")
    assert settings.feeds_file == Path("arg.yaml")


def test_database_url_overrides_sqlite() -> None:
    url = "postgresql://veille:pw@db/veille"
    assert load_settings({"VEILLE_DATABASE_URL": url}).db_url == url


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("TRUE", True), ("on", True), ("0", False), ("no", False), ("", False)],
)
def test_boolean_values(raw: str, expected: bool) -> None:
    assert load_settings({"VEILLE_ALLOW_PRIVATE_FEEDS": raw}).allow_private_feeds is expected


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("VEILLE_ALLOW_PRIVATE_FEEDS", "perhaps", "expected true or false"),
        ("VEILLE_MAX_BODY_BYTES", "10MB", "expected an integer"),
        ("VEILLE_ADMIN_CHAT_IDS", "123,abc", "expected an integer"),
        ("VEILLE_METRICS_PORT", "http", "expected an integer"),
        ("VEILLE_FETCH_TIMEOUT", "fast", "expected a number"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({name: value})
    assert str(caught.value).startswith(f"environment variable {name}=")
    assert expected in str(caught.value)


def test_settings_are_frozen() -> None:
    settings = load_settings({})
    with pytest.raises(ValidationError, match="frozen"):
        settings.max_body_bytes = 1  # type: ignore[misc]


def test_each_setting_reads_its_variable_and_an_empty_one_means_unset() -> None:
    settings = load_settings(
        {"VEILLE_CONCURRENCY": "8", "VEILLE_TAGGING": "off", "VEILLE_METRICS_PORT": " "}
    )
    assert (settings.global_concurrency, settings.tagging, settings.metrics_port) == (
        8,
        False,
        None,
    )
    with pytest.raises(ConfigError, match="VEILLE_POLL_BATCH='0': must be at least 1"):
        load_settings({"VEILLE_POLL_BATCH": "0"})


def test_a_webhook_needs_its_secret() -> None:
    with pytest.raises(ConfigError, match="VEILLE_WEBHOOK_SECRET is missing"):
        load_settings({"VEILLE_WEBHOOK_URL": "https://bot.example.org/hook"})
    settings = load_settings(
        {"VEILLE_WEBHOOK_URL": "https://bot.example.org/hook", "VEILLE_WEBHOOK_SECRET": "s3"}
    )
    assert settings.webhook_secret is not None and "s3" not in repr(settings)


def test_the_process_environment_is_never_read_behind_our_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VEILLE_CONCURRENCY", "3")
    assert load_settings({}).global_concurrency == 64
