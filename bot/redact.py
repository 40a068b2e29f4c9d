"""Keep the bot token out of every log line and error message (Telegram URLs and some
python-telegram-bot errors contain it)."""

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


def install(secrets: list[str]) -> RedactFilter:
    """Attach the filter to every handler of the root logger."""
    flt = RedactFilter(secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(flt)
    return flt
