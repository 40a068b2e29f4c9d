"""One exception tree for Veille.

VeilleError
├── ConfigError          settings or feeds.yaml are invalid (names file, line, field)
├── FetchError           a feed could not be fetched (network, status, size, redirects)
│   ├── FetchTimeout
│   ├── BodyTooLarge
│   ├── HTTPStatusError  carries status and optional retry_after
│   └── UnsafeURL        a URL from Telegram (or a hop of its redirects) reaches a private address
├── ParseError           the bytes are not a usable feed
├── StoreError           the database refused an operation
└── MapDataError         the compiled region outlines are missing (run `make install`)
"""

from __future__ import annotations


class VeilleError(Exception):
    """Base of every error Veille raises on purpose."""


class ConfigError(VeilleError):
    """Configuration is invalid; the message names the file, line and field."""


class FetchError(VeilleError):
    """A feed could not be fetched."""

    retry_after: float | None = None


class FetchTimeout(FetchError):
    """The server was too slow (connect, read or whole-transfer deadline)."""


class BodyTooLarge(FetchError):
    """The response body exceeded the configured cap."""


class HTTPStatusError(FetchError):
    """The server answered with an error status."""

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class ParseError(VeilleError):
    """The body is not a feed we can read."""


class StoreError(VeilleError):
    """The database refused an operation."""


class UnsafeURL(FetchError):
    """A URL resolves to a private, loopback or otherwise internal address."""


class MapDataError(VeilleError):
    """The compiled region outlines are missing or of another format."""
