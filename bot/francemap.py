"""The map of France: the 18 regions shaded by a count, with the counts and a legend, as a PNG.

Pure: counts in, PNG bytes out. The outlines are compiled at build time
(`classifiers/region_shapes_build.py`, run by `make install`); nothing is fetched at run time.
A rendered map is kept per content (counts, language, title), so 2,000 chats whose alerts give
the same counts cost one render. Drawn with matplotlib's object API (no pyplot state), so the
web window may render from worker threads.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import math
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from bot.digest import NATIONAL, Digest
from bot.errors import MapDataError
from bot.i18n import t
from classifiers.region_shapes_build import DEFAULT_PATH, FORMAT_VERSION
from classifiers.taxonomy import REGIONS

NO_ITEMS = "#eceff1"
# ColorBrewer "Blues", light to dark: readable in print and for colour-blind readers.
SHADES = ("#c6dbef", "#9ecae1", "#6baed6", "#3182bd", "#08519c")
EDGE = "#ffffff"
WIDTH_PX = 800
DPI = 100
MAP_TOP = 0.90  # the map fills the figure's width from the legend band up to the title band
MAP_BOTTOM = 0.06
CACHE_SIZE = 128


@dataclass(frozen=True)
class Shapes:
    """Region outlines in SVG units (y down) and where each region's count is written."""

    width: float
    height: float
    rings: Mapping[str, tuple[tuple[tuple[float, float], ...], ...]]
    labels: Mapping[str, tuple[float, float]]
    captions: Mapping[str, tuple[float, float]]  # overseas insets: where their name goes


@cache
def load_shapes(path: Path = DEFAULT_PATH) -> Shapes:
    """The compiled outlines (read once per process)."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError) as exc:
        raise MapDataError(
            f"{path}: region outlines missing or unreadable ({exc}); run `make install`"
        ) from exc
    if doc.get("format") != FORMAT_VERSION or set(doc.get("regions", {})) != set(REGIONS):
        raise MapDataError(f"{path}: outlines of another format; run `make install` again")
    regions = doc["regions"]
    return Shapes(
        width=float(doc["width"]),
        height=float(doc["height"]),
        rings={
            name: tuple(tuple((float(x), float(y)) for x, y in ring) for ring in v["rings"])
            for name, v in regions.items()
        },
        labels={name: (float(v["label"][0]), float(v["label"][1])) for name, v in regions.items()},
        captions={
            name: (float(v["caption"][0]), float(v["caption"][1]))
            for name, v in regions.items()
            if "caption" in v
        },
    )


def bins(top: int) -> list[tuple[int, int]]:
    """The legend's classes [low, high] for counts 1..top: one per value up to 5, else 5 ranges."""
    if top <= 0:
        return []
    if top <= len(SHADES):
        return [(n, n) for n in range(1, top + 1)]
    edges = [0, *(math.ceil(top * k / len(SHADES)) for k in range(1, len(SHADES) + 1))]
    return [(edges[k] + 1, edges[k + 1]) for k in range(len(SHADES)) if edges[k + 1] > edges[k]]


def shade(count: int, top: int) -> str:
    """The fill colour of a region with `count` items when the largest count is `top`."""
    if count <= 0:
        return NO_ITEMS
    classes = bins(top)
    for index, (_, high) in enumerate(classes):
        if count <= high:
            # Few classes use the darker end, so that one item still reads as "some".
            return SHADES[index + len(SHADES) - len(classes)]
    return SHADES[-1]


def to_pixel(shapes: Shapes, x: float, y: float) -> tuple[int, int]:
    """Where an SVG point lands in the PNG (column, row from the top), for tests and links."""
    width, height = _figure_px(shapes)
    scale = width / shapes.width
    top = (1 - MAP_TOP) * height
    return int(x * scale), int(top + y * scale)


def picture_size() -> tuple[int, int]:
    """Width and height of every map, in pixels (pages reserve the space before it loads)."""
    return _figure_px(load_shapes())


def _figure_px(shapes: Shapes) -> tuple[int, int]:
    map_height = WIDTH_PX * shapes.height / shapes.width
    return WIDTH_PX, round(map_height / (MAP_TOP - MAP_BOTTOM))


def map_key(counts: Mapping[str, int], *, lang: str, title: str, note: str = "") -> str:
    """The content key of a map: same counts, language and texts, same picture."""
    wanted = {r: int(counts.get(r, 0)) for r in REGIONS if counts.get(r, 0)}
    raw = json.dumps([wanted, lang, title, note], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


_cache: OrderedDict[str, bytes] = OrderedDict()
_lock = threading.Lock()


def render_map(
    counts: Mapping[str, int],
    *,
    lang: str,
    title: str,
    note: str = "",
    shapes: Shapes | None = None,
) -> bytes:
    """The map as PNG bytes (from the cache when the same content was drawn before)."""
    key = map_key(counts, lang=lang, title=title, note=note)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        png = _draw(counts, lang=lang, title=title, note=note, shapes=shapes or load_shapes())
        _cache[key] = png
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
        return png


def _draw(counts: Mapping[str, int], *, lang: str, title: str, note: str, shapes: Shapes) -> bytes:
    width, height = _figure_px(shapes)
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, facecolor="white")
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.0, MAP_BOTTOM, 1.0, MAP_TOP - MAP_BOTTOM))
    ax.set_xlim(0, shapes.width)
    ax.set_ylim(shapes.height, 0)
    ax.set_axis_off()
    top = max((int(counts.get(r, 0)) for r in REGIONS), default=0)
    rings = [(ring, shade(int(counts.get(r, 0)), top)) for r in REGIONS for ring in shapes.rings[r]]
    # One collection rather than a patch per ring: the axes' limits are set, not computed.
    ax.add_collection(
        PolyCollection(
            [ring for ring, _ in rings],
            facecolors=[colour for _, colour in rings],
            edgecolors=EDGE,
            linewidths=0.8,
        ),
        autolim=False,
    )
    for region in REGIONS:
        count = int(counts.get(region, 0))
        colour = shade(count, top)
        x, y = shapes.labels[region]
        dark = colour in SHADES[-2:]
        ax.text(
            x,
            y,
            str(count),
            ha="center",
            va="center",
            fontsize=9,
            fontweight="bold",
            color="white" if dark else "#1a202c",
        )
    for region, (x, y) in shapes.captions.items():
        ax.text(x, y, region, ha="center", va="top", fontsize=7.5, color="#4a5568")
    fig.suptitle(title, fontsize=13, y=0.97)
    if note:
        fig.text(0.5, 0.915, note, ha="center", fontsize=9, color="#4a5568")
    word = "article" if lang == "fr" else "item"
    handles = [Patch(facecolor=NO_ITEMS, edgecolor="#a0aec0", label=f"0 {word}")]
    classes = bins(top)
    for index, (low, high) in enumerate(classes):
        label = str(low) if low == high else f"{low}–{high}"
        colour = SHADES[index + len(SHADES) - len(classes)]
        handles.append(Patch(facecolor=colour, edgecolor="#a0aec0", label=label))
    fig.legend(
        handles=handles,
        loc="lower center",
        ncol=len(handles),
        frameon=False,
        fontsize=9,
        bbox_to_anchor=(0.5, 0.01),
    )
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def digest_map(digest: Digest, lang: str) -> bytes:
    """The map of a digest's items (cached per content like every map)."""
    note = t(lang, "web_period", start=f"{digest.start:%d/%m/%Y}", end=f"{digest.end:%d/%m/%Y}")
    if digest.by_region.get(NATIONAL):
        colon = " :" if lang == "fr" else ":"
        note += f" · {t(lang, 'web_national')}{colon} {digest.by_region[NATIONAL]}"
    return render_map(digest.by_region, lang=lang, title=t(lang, "map_title"), note=note)
