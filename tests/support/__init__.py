"""Test support code (fake Telegram Bot API server)."""
