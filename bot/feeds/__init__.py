"""Feeds: fetch (I/O), parse and normalise (pure), schedule (pure), poll (orchestration)."""
