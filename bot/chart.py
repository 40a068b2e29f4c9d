"""The weekly chart: items per region and per type, as one PNG (matplotlib, no display)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bot.i18n import type_label


def weekly_chart(
    by_region: dict[str, int], by_type: dict[str, int], *, lang: str, title: str
) -> bytes:
    """A two-panel horizontal bar chart as PNG bytes."""
    regions = sorted(by_region.items(), key=lambda kv: kv[1])[-12:]
    types = sorted(by_type.items(), key=lambda kv: kv[1])
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 5.5), dpi=100)
    left.barh([r for r, _ in regions] or ["-"], [n for _, n in regions] or [0], color="#2b6cb0")
    left.set_title("Articles par région" if lang == "fr" else "Articles per region")
    right.barh(
        [type_label(t, lang) for t, _ in types] or ["-"],
        [n for _, n in types] or [0],
        color="#dd6b20",
    )
    right.set_title(
        "Articles par type d'initiative" if lang == "fr" else "Articles per initiative type"
    )
    for ax in (left, right):
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.spines[["top", "right"]].set_visible(False)
        ax.tick_params(axis="y", labelsize=9)
    fig.suptitle(title, fontsize=13)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
