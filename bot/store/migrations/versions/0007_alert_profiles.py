"""Alert profiles: several named alerts per chat; today's subscriptions become profiles

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

A chat's subscriptions (regions, types, keywords, exclusions) and its delivery settings
become one query and its profiles: one "instant" profile when real-time alerts were on, one
daily or weekly profile for its digest (same hour, weekday and schedule), or one paused
weekly profile when neither was on, so nothing the chat had chosen is lost. The keywords of a
subscription were alternatives (any of them), so they become one OR group of the query. The
old columns and the subscriptions table stay as they were (downgrade just drops profiles).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from bot.query.stems import term
from classifiers.taxonomy import TYPE_LABELS_FR

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

NAME_CHARS = 100


def _query(subs: list[tuple[str, str]]) -> tuple[dict[str, Any], str, str]:
    """(spec, query text, name) of a chat's subscriptions."""
    regions = sorted({v for k, v in subs if k == "region"})
    types = sorted({v for k, v in subs if k == "type"})
    keywords = [w for w in dict.fromkeys(term(v) for k, v in subs if k == "keyword") if w]
    excludes = [w for w in dict.fromkeys(term(v) for k, v in subs if k == "exclude") if w]
    spec = {
        "regions": regions,
        "types": types,
        "terms": [keywords] if keywords else [],
        "excludes": excludes,
    }
    words = [*regions, *(TYPE_LABELS_FR.get(t, t) for t in types)]
    text_parts = [*regions, *(TYPE_LABELS_FR.get(t, t) for t in types)]
    if keywords:
        text_parts.append(" OU ".join(f'"{k}"' for k in keywords))
        words.append(" ou ".join(f"« {k} »" for k in keywords))
    text_parts.extend(f'-"{e}"' for e in excludes)
    if excludes:
        words.append("sans " + ", ".join(excludes))
    name = " · ".join(words) or "Tout"
    return spec, " ".join(text_parts), name[:NAME_CHARS]


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("frequency", sa.String(length=8), nullable=False),
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("next_digest_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_digest_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("alerts_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["chat_id"], ["chats.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_alerts_chat", "alerts", ["chat_id"])
    op.create_index("ix_alerts_due", "alerts", ["paused", "next_digest_at"])

    conn = op.get_bind()
    meta = sa.MetaData()
    chats = sa.Table("chats", meta, autoload_with=conn)
    subscriptions = sa.Table("subscriptions", meta, autoload_with=conn)
    alerts = sa.Table("alerts", meta, autoload_with=conn)
    subs: dict[int, list[tuple[str, str]]] = {}
    for row in conn.execute(
        sa.select(subscriptions.c.chat_id, subscriptions.c.kind, subscriptions.c.value)
    ):
        subs.setdefault(row.chat_id, []).append((row.kind, row.value))
    rows: list[dict[str, Any]] = []
    for chat in conn.execute(sa.select(chats).order_by(chats.c.id)):
        chosen = subs.get(chat.id, [])
        if not chosen and not chat.alerts and chat.digest not in ("daily", "weekly"):
            continue
        spec, query, name = _query(chosen)
        base = {
            "chat_id": chat.id,
            "name": name,
            "query": query,
            "spec": spec,
            "hour": chat.digest_hour,
            "weekday": chat.digest_weekday,
            "created_at": chat.created_at,
        }
        if chat.alerts:
            rows.append(
                {
                    **base,
                    "frequency": "instant",
                    "paused": False,
                    "alerts_since": chat.alerts_since,
                    "next_digest_at": None,
                    "last_digest_at": None,
                }
            )
        if chat.digest in ("daily", "weekly"):
            rows.append(
                {
                    **base,
                    "frequency": chat.digest,
                    "paused": False,
                    "alerts_since": None,
                    "next_digest_at": chat.next_digest_at,
                    "last_digest_at": chat.last_digest_at,
                }
            )
        if not chat.alerts and chat.digest not in ("daily", "weekly"):
            rows.append(
                {
                    **base,
                    "frequency": "weekly",
                    "paused": True,
                    "alerts_since": None,
                    "next_digest_at": None,
                    "last_digest_at": chat.last_digest_at,
                }
            )
    if rows:
        conn.execute(alerts.insert(), rows)


def downgrade() -> None:
    op.drop_index("ix_alerts_due", table_name="alerts")
    op.drop_index("ix_alerts_chat", table_name="alerts")
    op.drop_table("alerts")
