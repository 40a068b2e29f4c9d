"""Logging setup and token redaction, together: key=value logs with the bot token kept out of
every log line and error message (Telegram URLs and some python-telegram-bot errors contain it)."""

from __future__ import annotations

import logging


class RedactFilter(logging.Filter):
    """Replaces secrets in a record's final message (and its traceback) with ***."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def redact(self, text: str) -> str:
        """text with every secret replaced."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        record.msg = self.redact(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            formatter = logging.Formatter()
            record.exc_text = self.redact(formatter.formatException(record.exc_info))
            record.exc_info = None
        return True


def setup_logging(level: str = "INFO", *, secrets: list[str] | None = None) -> RedactFilter:
    """key=value logs with every secret redacted; httpx at WARNING (Telegram URLs hold the token)."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for noisy in (
        "httpx",
        "httpcore",
        "telegram.ext.ExtBot",
        "apscheduler.executors.default",
        "aiohttp.access",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Our outbox handles every 429 (waits retry_after, retries, counts it); the limiter's own
    # traceback for the same event would only be a duplicate.
    logging.getLogger("telegram.ext.AIORateLimiter").setLevel(logging.CRITICAL)
    flt = RedactFilter(secrets or [])
    for handler in logging.getLogger().handlers:
        handler.addFilter(flt)
    return flt
