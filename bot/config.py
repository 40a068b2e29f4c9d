"""Settings, read once at start from an injectable environ mapping and feeds.yaml, then frozen.

Errors name the variable, or the file, line and field of feeds.yaml.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from bot.errors import ConfigError
from classifiers.taxonomy import REGIONS

DEFAULT_TELEGRAM_API_URL = "https://api.telegram.org/bot"
FEED_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


class FeedConfig(BaseModel):
    """One source of feeds.yaml."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    url: str
    language: str = "fr"
    region: str | None = None
    tags: tuple[str, ...] = ()
    min_interval_minutes: int = Field(default=15, ge=1, le=10080)
    max_interval_minutes: int = Field(default=1440, ge=1, le=43200)
    enabled: bool = True

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not FEED_ID.match(value):
            raise ValueError("must be lowercase letters, digits and hyphens (e.g. usine-digitale)")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is not None and value not in REGIONS:
            raise ValueError(f"unknown region {value!r}; expected one of: {', '.join(REGIONS)}")
        return value


@dataclass(frozen=True)
class FeedList:
    """The validated content of a feeds file."""

    path: Path
    feeds: tuple[FeedConfig, ...]

    def by_id(self) -> dict[str, FeedConfig]:
        """Feeds keyed by id."""
        return {f.id: f for f in self.feeds}


def _line_of(node: yaml.Node | None, path: tuple[Any, ...]) -> int | None:
    """The 1-based line of the YAML node at `path`, or of its closest existing parent."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in path:
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            found = node.value[key]
        else:
            found = None
        if found is None:
            break
        node = found
        line = node.start_mark.line + 1
    return line


def load_feeds(path: Path | str) -> FeedList:
    """Read and validate a feeds file; a ConfigError names the file, line and field."""
    path = Path(path)
    try:
        raw_text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read feeds file: {exc.strerror or exc}") from exc
    try:
        root = yaml.compose(raw_text)
        data = yaml.safe_load(raw_text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: invalid YAML: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict) or not isinstance(data.get("feeds", []), list):
        raise ConfigError(f"{path}:1: expected a mapping with a 'feeds' list")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise ConfigError(f"{path}:{_line_of(root, ('defaults',))}: 'defaults' must be a mapping")
    feeds: list[FeedConfig] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(data.get("feeds") or []):
        line = _line_of(root, ("feeds", index))
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}:{line}: feeds[{index}] must be a mapping")
        try:
            feed = FeedConfig(**{**defaults, **entry})
        except ValidationError as exc:
            err = exc.errors()[0]
            field_name = ".".join(str(p) for p in err["loc"]) or "?"
            fline = _line_of(root, ("feeds", index, *err["loc"])) or line
            raise ConfigError(f"{path}:{fline}: feeds[{index}].{field_name}: {err['msg']}") from exc
        if feed.min_interval_minutes > feed.max_interval_minutes:
            raise ConfigError(
                f"{path}:{line}: feeds[{index}].min_interval_minutes: "
                "is greater than max_interval_minutes"
            )
        if feed.id in seen:
            raise ConfigError(
                f"{path}:{line}: feeds[{index}].id: duplicate id {feed.id!r} "
                f"(first at line {seen[feed.id]})"
            )
        seen[feed.id] = line or 0
        feeds.append(feed)
    return FeedList(path=path, feeds=tuple(feeds))


def _bool(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"environment variable {name}={value!r}: expected true or false")


def _positive(value: str, name: str) -> int:
    number = _int(value, name)
    if number < 1:
        raise ConfigError(f"environment variable {name}={value!r}: must be at least 1")
    return number


def _int(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError as exc:
        raise ConfigError(f"environment variable {name}={value!r}: expected an integer") from exc


def _float(value: str, name: str) -> float:
    try:
        return float(value)
    except ValueError as exc:
        raise ConfigError(f"environment variable {name}={value!r}: expected a number") from exc


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from its environment, validated once."""

    state_dir: Path = Path("state")
    database_url: str = ""
    feeds_file: Path = Path("feeds.yaml")
    telegram_token: SecretStr | None = None
    telegram_api_url: str = DEFAULT_TELEGRAM_API_URL
    admin_chat_ids: frozenset[int] = frozenset()
    allow_private_feeds: bool = False
    timezone: str = "Europe/Paris"
    max_body_bytes: int = 10 * 1024 * 1024
    fetch_timeout: float = 20.0
    max_redirects: int = 5
    global_concurrency: int = 64
    per_host_concurrency: int = 4
    disable_after_days: int = 14
    poll_tick_seconds: int = 60
    lease_seconds: int = 600
    poll_batch: int = 500  # feeds leased at a time: several pollers share a round batch by batch
    tagging: bool = True  # tag new items as they are polled (needs a model; off for benchmarks)
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = 8443
    parse_workers: int = 0  # 0: one per core
    metrics_port: int | None = None
    user_agent: str = "Veille/0.1 (+https://github.com/veille-bot; news monitoring)"

    @property
    def db_url(self) -> str:
        """The SQLAlchemy URL: VEILLE_DATABASE_URL, else SQLite in the state folder."""
        return self.database_url or f"sqlite:///{self.state_dir / 'veille.db'}"

    @property
    def models_dir(self) -> Path:
        """Where trained models live."""
        return self.state_dir / "models"

    def token_value(self) -> str | None:
        """The bot token, for the one place that needs it (never log it)."""
        return self.telegram_token.get_secret_value() if self.telegram_token else None


def load_settings(environ: Mapping[str, str], *, feeds_file: Path | str | None = None) -> Settings:
    """Build Settings from an environ mapping (pass os.environ at the edge only)."""
    env = environ
    if (
        env.get("VEILLE_WEBHOOK_URL", "").strip()
        and not env.get("VEILLE_WEBHOOK_SECRET", "").strip()
    ):
        raise ConfigError(
            "VEILLE_WEBHOOK_URL is set but VEILLE_WEBHOOK_SECRET is missing: "
            "webhook mode requires Telegram's secret-token header"
        )
    admins: set[int] = set()
    for part in re.split(r"[,\s]+", env.get("VEILLE_ADMIN_CHAT_IDS", "").strip()):
        if part:
            admins.add(_int(part, "VEILLE_ADMIN_CHAT_IDS"))
    token = env.get("TELEGRAM_BOT_TOKEN", "").strip()
    metrics = env.get("VEILLE_METRICS_PORT", "").strip()
    state_dir = Path(env.get("VEILLE_STATE_DIR", "state"))
    return Settings(
        state_dir=state_dir,
        database_url=env.get("VEILLE_DATABASE_URL", "").strip(),
        feeds_file=Path(feeds_file or env.get("VEILLE_FEEDS", "feeds.yaml")),
        telegram_token=SecretStr(token) if token else None,
        telegram_api_url=env.get("TELEGRAM_API_URL", "").strip() or DEFAULT_TELEGRAM_API_URL,
        admin_chat_ids=frozenset(admins),
        allow_private_feeds=_bool(
            env.get("VEILLE_ALLOW_PRIVATE_FEEDS", ""), "VEILLE_ALLOW_PRIVATE_FEEDS"
        ),
        timezone=env.get("VEILLE_TIMEZONE", "Europe/Paris"),
        max_body_bytes=_int(
            env.get("VEILLE_MAX_BODY_BYTES", str(10 * 1024 * 1024)), "VEILLE_MAX_BODY_BYTES"
        ),
        fetch_timeout=_float(env.get("VEILLE_FETCH_TIMEOUT", "20"), "VEILLE_FETCH_TIMEOUT"),
        global_concurrency=_positive(env.get("VEILLE_CONCURRENCY", "64"), "VEILLE_CONCURRENCY"),
        per_host_concurrency=_positive(env.get("VEILLE_PER_HOST", "4"), "VEILLE_PER_HOST"),
        disable_after_days=_int(
            env.get("VEILLE_DISABLE_AFTER_DAYS", "14"), "VEILLE_DISABLE_AFTER_DAYS"
        ),
        poll_tick_seconds=_positive(
            env.get("VEILLE_POLL_TICK_SECONDS", "60"), "VEILLE_POLL_TICK_SECONDS"
        ),
        webhook_url=env.get("VEILLE_WEBHOOK_URL", "").strip() or None,
        webhook_secret=SecretStr(env["VEILLE_WEBHOOK_SECRET"].strip())
        if env.get("VEILLE_WEBHOOK_SECRET", "").strip()
        else None,
        webhook_port=_positive(env.get("VEILLE_WEBHOOK_PORT", "8443"), "VEILLE_WEBHOOK_PORT"),
        lease_seconds=_positive(env.get("VEILLE_LEASE_SECONDS", "600"), "VEILLE_LEASE_SECONDS"),
        poll_batch=_positive(env.get("VEILLE_POLL_BATCH", "500"), "VEILLE_POLL_BATCH"),
        tagging=_bool(env.get("VEILLE_TAGGING", "on"), "VEILLE_TAGGING"),
        parse_workers=_int(env.get("VEILLE_PARSE_WORKERS", "0"), "VEILLE_PARSE_WORKERS"),
        metrics_port=_int(metrics, "VEILLE_METRICS_PORT") if metrics else None,
    )
