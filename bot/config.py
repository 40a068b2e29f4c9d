"""Settings, read once at start from an injectable environ mapping and feeds.yaml, then frozen.

Errors name the variable, or the file, line and field of feeds.yaml.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bot.errors import ConfigError
from classifiers.taxonomy import REGIONS

DEFAULT_TELEGRAM_API_URL = "https://api.telegram.org/bot"
DEFAULT_GOOGLE_NEWS_URL = "https://news.google.com"
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
    # Fetch the linked article page for the full text: auto (when the item text is short),
    # always, or never.
    full_text: Literal["auto", "always", "never"] = "auto"

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


def _split_ids(value: Any) -> Any:
    """'12345, -100200300 42' -> ['12345', '-100200300', '42'] (each then checked as an integer)."""
    if isinstance(value, str):
        return [part for part in re.split(r"[,\s]+", value.strip()) if part]
    return value


class Settings(BaseSettings):
    """Everything the service reads from its environment, validated once; each default written once.

    A field's validation alias is its environment variable. Values come only from the mapping
    given to load_settings (never from os.environ behind its back); an empty value means "unset".
    """

    model_config = SettingsConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    state_dir: Path = Field(Path("state"), validation_alias="VEILLE_STATE_DIR")
    database_url: str = Field("", validation_alias="VEILLE_DATABASE_URL")
    feeds_file: Path = Field(Path("feeds.yaml"), validation_alias="VEILLE_FEEDS")
    telegram_token: SecretStr | None = Field(None, validation_alias="TELEGRAM_BOT_TOKEN")
    telegram_api_url: str = Field(DEFAULT_TELEGRAM_API_URL, validation_alias="TELEGRAM_API_URL")
    # Whose article links are resolved to the publisher's URL (tests point it at loopback).
    google_news_url: str = Field(DEFAULT_GOOGLE_NEWS_URL, validation_alias="VEILLE_GOOGLE_NEWS_URL")
    admin_chat_ids: frozenset[int] = Field(frozenset(), validation_alias="VEILLE_ADMIN_CHAT_IDS")
    allow_private_feeds: bool = Field(False, validation_alias="VEILLE_ALLOW_PRIVATE_FEEDS")
    timezone: str = Field("Europe/Paris", validation_alias="VEILLE_TIMEZONE")
    max_body_bytes: int = Field(10 * 1024 * 1024, validation_alias="VEILLE_MAX_BODY_BYTES")
    fetch_timeout: float = Field(20.0, validation_alias="VEILLE_FETCH_TIMEOUT")
    max_redirects: int = 5
    global_concurrency: int = Field(64, ge=1, validation_alias="VEILLE_CONCURRENCY")
    per_host_concurrency: int = Field(4, ge=1, validation_alias="VEILLE_PER_HOST")
    disable_after_days: int = Field(14, validation_alias="VEILLE_DISABLE_AFTER_DAYS")
    poll_tick_seconds: int = Field(60, ge=1, validation_alias="VEILLE_POLL_TICK_SECONDS")
    lease_seconds: int = Field(600, ge=1, validation_alias="VEILLE_LEASE_SECONDS")
    # Feeds leased at a time: several pollers share a round batch by batch.
    poll_batch: int = Field(500, ge=1, validation_alias="VEILLE_POLL_BATCH")
    # Tag new items as they are polled (needs a model; off for benchmarks).
    tagging: bool = Field(True, validation_alias="VEILLE_TAGGING")
    # Group new items into stories as they are polled (bot/stories.py).
    stories: bool = Field(True, validation_alias="VEILLE_STORIES")
    webhook_url: str | None = Field(None, validation_alias="VEILLE_WEBHOOK_URL")
    webhook_secret: SecretStr | None = Field(None, validation_alias="VEILLE_WEBHOOK_SECRET")
    # Loopback outside Docker; the image sets 0.0.0.0 for both.
    webhook_listen: str = Field("127.0.0.1", validation_alias="VEILLE_WEBHOOK_LISTEN")
    webhook_port: int = Field(8443, ge=1, validation_alias="VEILLE_WEBHOOK_PORT")
    parse_workers: int = Field(0, validation_alias="VEILLE_PARSE_WORKERS")  # 0: one per core
    # Parse/tag workers start when there is work and end after this long without any.
    worker_idle_seconds: float = Field(120.0, gt=0, validation_alias="VEILLE_WORKER_IDLE_SECONDS")
    metrics_port: int | None = Field(None, validation_alias="VEILLE_METRICS_PORT")
    # The web window (pages, map, Atom feeds) when a port is set; private when a token is.
    web_port: int | None = Field(None, validation_alias="VEILLE_WEB_PORT")
    web_host: str = Field("127.0.0.1", validation_alias="VEILLE_WEB_HOST")
    web_token: SecretStr | None = Field(None, validation_alias="VEILLE_WEB_TOKEN")
    # Its public address, for the links the bot sends; else http://host:port.
    web_url: str | None = Field(None, validation_alias="VEILLE_WEB_URL")
    web_concurrency: int = Field(4, ge=1, validation_alias="VEILLE_WEB_CONCURRENCY")
    metrics_host: str = Field("127.0.0.1", validation_alias="VEILLE_METRICS_HOST")
    # How long a message is retried while Telegram is unreachable (network errors, 5xx).
    outbox_retry_hours: float = Field(24.0, gt=0, validation_alias="VEILLE_OUTBOX_RETRY_HOURS")
    user_agent: str = "Veille/0.1 (+https://github.com/veille-bot; news monitoring)"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the values passed in: the environ mapping is injected by load_settings."""
        return (init_settings,)

    _admin_ids = field_validator("admin_chat_ids", mode="before")(_split_ids)

    @field_validator("google_news_url")
    @classmethod
    def _origin(cls, value: str) -> str:
        return value.rstrip("/")

    @model_validator(mode="after")
    def _webhook_needs_a_secret(self) -> Settings:
        if self.webhook_url and not self.webhook_secret:
            raise ValueError(
                "VEILLE_WEBHOOK_URL is set but VEILLE_WEBHOOK_SECRET is missing: "
                "webhook mode requires Telegram's secret-token header"
            )
        return self

    @property
    def db_url(self) -> str:
        """The SQLAlchemy URL: VEILLE_DATABASE_URL, else SQLite in the state folder."""
        return self.database_url or f"sqlite:///{self.state_dir / 'veille.db'}"

    @property
    def models_dir(self) -> Path:
        """Where trained models live."""
        return self.state_dir / "models"

    @property
    def web_address(self) -> str | None:
        """Where people reach the web window (None when it is off)."""
        if self.web_port is None:
            return None
        return (self.web_url or f"http://{self.web_host}:{self.web_port}").rstrip("/")

    def web_token_value(self) -> str | None:
        """The web window's access token, if it is private."""
        return self.web_token.get_secret_value() if self.web_token else None

    def token_value(self) -> str | None:
        """The bot token, for the one place that needs it (never log it)."""
        return self.telegram_token.get_secret_value() if self.telegram_token else None


# What a pydantic error type means, said the way an operator reads it.
_PROBLEMS = {
    "int_parsing": "expected an integer",
    "int_from_float": "expected an integer",
    "float_parsing": "expected a number",
    "bool_parsing": "expected true or false",
    "greater_than_equal": "must be at least 1",
}
_ALIASES = {
    str(f.validation_alias): name
    for name, f in Settings.model_fields.items()
    if f.validation_alias is not None
}


def load_settings(environ: Mapping[str, str], *, feeds_file: Path | str | None = None) -> Settings:
    """Build Settings from an environ mapping (pass os.environ at the edge only)."""
    values: dict[str, Any] = {
        name: environ[name].strip()
        for name in _ALIASES
        if name in environ and environ[name].strip()
    }
    if feeds_file:
        values["VEILLE_FEEDS"] = feeds_file
    try:
        return Settings(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        if not err["loc"]:  # a check across fields (the webhook secret)
            raise ConfigError(str(err.get("ctx", {}).get("error", err["msg"]))) from exc
        name = str(err["loc"][0])
        problem = _PROBLEMS.get(err["type"], err["msg"])
        raise ConfigError(f"environment variable {name}={environ.get(name)!r}: {problem}") from exc
