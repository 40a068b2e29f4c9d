"""The weekly chart: a digest's items per region and per type, as one PNG (matplotlib, no display)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bot.digest import Digest, group_label
from bot.i18n import t, type_label


def weekly_chart(digest: Digest, *, lang: str) -> bytes | None:
    """A two-panel horizontal bar chart of the digest's counts as PNG bytes (None when empty)."""
    if not digest.by_region and not digest.by_type:
        return None
    regions = sorted(digest.by_region.items(), key=lambda kv: kv[1])[-12:]
    types = sorted(digest.by_type.items(), key=lambda kv: kv[1])
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 5.5), dpi=100)
    left.barh(
        [group_label(r, lang) for r, _ in regions] or ["-"],
        [n for _, n in regions] or [0],
        color="#2b6cb0",
    )
    left.set_title(t(lang, "chart_regions"))
    right.barh(
        [type_label(k, lang) for k, _ in types] or ["-"],
        [n for _, n in types] or [0],
        color="#dd6b20",
    )
    right.set_title(t(lang, "chart_types"))
    for ax in (left, right):
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.spines[["top", "right"]].set_visible(False)
        ax.tick_params(axis="y", labelsize=9)
    fig.suptitle(t(lang, "chart_title"), fontsize=13)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
