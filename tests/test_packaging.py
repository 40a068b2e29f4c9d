"""The Dockerfile lints clean, and the compose file names the bot and PostgreSQL with volumes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(
        Path(__import__("sys").executable).parent / "hadolint"
    )
    done = subprocess.run(
        [hadolint, "--no-color", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfile_runs_as_non_root_with_state_volume_and_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "USER 10001" in text and 'VOLUME ["/app/state"]' in text and "HEALTHCHECK" in text
    assert "FROM python:3.11-slim" in text


def test_compose_has_bot_and_postgres_with_volumes() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert {"bot", "db"} <= set(compose["services"])
    assert compose["services"]["db"]["image"].startswith("postgres")
    assert compose["services"]["bot"]["environment"]["VEILLE_DATABASE_URL"].startswith(
        "postgresql://"
    )
    assert {"pgdata", "state"} <= set(compose["volumes"])
