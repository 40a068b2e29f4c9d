"""Compile the outlines of the 18 regions: pygal-maps-fr's department map -> one gzip JSON file.

Usage: ``python -m classifiers.region_shapes_build [--out PATH]``.

The package draws today's 101 departments (and an enlarged inset of Paris, which we skip) as
SVG paths, each in a group whose class names its INSEE code (``z59``; ``z971`` to ``z976``
overseas, already laid out as insets). Departments are grouped into regions with the table of
``places_data.DEPARTMENTS``, merged with shapely (a small buffer closes the hairline gaps
between neighbouring outlines), simplified, and written as rings in SVG units (y down)::

    {"format": 1, "width": W, "height": H,
     "regions": {"Bretagne": {"rings": [[[x, y], ...], ...], "label": [x, y]}, ...,
                 "Guyane": {..., "caption": [x, y]}}}

Coordinates start at a small margin from the drawing's top-left corner; overseas regions carry
the point under their inset where their name is written.

Only this build step needs pygal-maps-fr, svg.path and shapely; the bot reads the JSON.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path
from typing import Any

from classifiers import places_data as pd

DEFAULT_PATH = Path(__file__).resolve().parent / "data" / "build" / "regions.geo.json.gz"
FORMAT_VERSION = 1
SVG_NS = "{http://www.w3.org/2000/svg}"
SKIPPED_GROUPS = {"paris-petite-couronne"}  # an enlarged copy of Paris and its suburbs
# INSEE codes of the overseas departments (each one region) -> region code.
OVERSEAS_INSEE = {"971": "GUA", "972": "MTQ", "973": "GUF", "974": "REU", "976": "MAY"}
CURVE_STEPS = 4  # points sampled along each Bézier segment
SEAM = 1.2  # SVG units: closes the gaps between department outlines drawn separately
TOLERANCE = 0.8  # simplification, in SVG units (the map is about 2,000 units wide)
MARGIN = 20.0  # around the drawing, in SVG units (the viewBox's empty bands are cut off)
CAPTION_GAP = 28.0  # overseas insets are named under their outline


def department_regions() -> dict[str, str]:
    """INSEE department code -> region name, from the gazetteer's table."""
    table = {code: pd.REGION_CODES[region] for code, _, region in pd.DEPARTMENTS}
    table.update({code: pd.REGION_CODES[region] for code, region in OVERSEAS_INSEE.items()})
    return table


def _translate(element: ET.Element) -> tuple[float, float]:
    match = re.fullmatch(
        r"\s*translate\(([-\d.e]+)[ ,]+([-\d.e]+)\)\s*", element.get("transform", "")
    )
    if element.get("transform") and not match:
        raise ValueError(f"unsupported SVG transform {element.get('transform')!r}")
    return (float(match.group(1)), float(match.group(2))) if match else (0.0, 0.0)


def _rings(d: str, dx: float, dy: float) -> list[list[tuple[float, float]]]:
    """The closed rings of an SVG path, curves sampled, shifted by (dx, dy)."""
    from svg.path import Close, CubicBezier, Move, QuadraticBezier, parse_path

    rings: list[list[tuple[float, float]]] = []
    current: list[tuple[float, float]] = []
    for segment in parse_path(d):
        if isinstance(segment, Move):
            if len(current) >= 3:
                rings.append(current)
            current = [(segment.end.real + dx, segment.end.imag + dy)]
            continue
        steps = CURVE_STEPS if isinstance(segment, CubicBezier | QuadraticBezier) else 1
        for k in range(1, steps + 1):
            point = segment.point(k / steps)
            current.append((point.real + dx, point.imag + dy))
        if isinstance(segment, Close) and len(current) >= 3:
            rings.append(current)
            current = [current[0]]
    if len(current) >= 3:
        rings.append(current)
    return rings


def read_departments(svg_text: str) -> dict[str, list[list[tuple[float, float]]]]:
    """INSEE code -> rings of the department, in the SVG's coordinates."""
    root = ET.fromstring(svg_text)
    found: dict[str, list[list[tuple[float, float]]]] = {}

    def walk(element: ET.Element, dx: float, dy: float) -> None:
        if element.get("id") in SKIPPED_GROUPS:
            return
        tx, ty = _translate(element)
        dx, dy = dx + tx, dy + ty
        classes = (element.get("class") or "").split()
        if "departement" in classes:
            code = next(c[1:] for c in classes if re.fullmatch(r"z\w+", c))
            for path in element.iter(f"{SVG_NS}path"):
                found.setdefault(code.upper(), []).extend(_rings(path.get("d", ""), dx, dy))
            return
        for child in element:
            walk(child, dx, dy)

    walk(root, 0.0, 0.0)
    return found


def build(svg_text: str) -> dict[str, Any]:
    """The compiled document: region outlines and label points."""
    from shapely.geometry import MultiPolygon, Polygon
    from shapely.ops import unary_union

    table = department_regions()
    by_region: dict[str, list[Any]] = {}
    for code, rings in read_departments(svg_text).items():
        region = table.get(code)
        if region is None:  # Saint-Pierre-et-Miquelon (975) is not a region
            continue
        polygons = [Polygon(r).buffer(0) for r in rings]
        by_region.setdefault(region, []).extend(p for p in polygons if not p.is_empty)
    missing = sorted(set(pd.REGION_CODES.values()) - set(by_region))
    if missing:
        raise ValueError(f"no outline for regions: {', '.join(missing)}")
    shapes: dict[str, Any] = {}
    for region in sorted(by_region):
        shape = unary_union([p.buffer(SEAM) for p in by_region[region]]).buffer(-SEAM)
        shape = shape.simplify(TOLERANCE, preserve_topology=True)
        parts = list(shape.geoms) if isinstance(shape, MultiPolygon) else [shape]
        shapes[region] = [p for p in parts if p.area > 4.0]  # drop specks the size of a pixel
    x0, y0, x1, y1 = unary_union([p for parts in shapes.values() for p in parts]).bounds
    dx, dy = MARGIN - x0, MARGIN - y0
    overseas = {pd.REGION_CODES[code] for code in OVERSEAS_INSEE.values()}
    regions: dict[str, Any] = {}
    for region, parts in shapes.items():
        label = max(parts, key=lambda p: p.area).representative_point()
        left, _, right, bottom = unary_union(parts).bounds
        entry: dict[str, Any] = {
            "rings": [
                [[round(x + dx, 1), round(y + dy, 1)] for x, y in p.exterior.coords] for p in parts
            ],
            "label": [round(label.x + dx, 1), round(label.y + dy, 1)],
        }
        if region in overseas:
            entry["caption"] = [
                round((left + right) / 2 + dx, 1),
                round(bottom + dy + CAPTION_GAP, 1),
            ]
        regions[region] = entry
    width, height = x1 - x0 + 2 * MARGIN, y1 - y0 + 2 * MARGIN + CAPTION_GAP
    return {
        "format": FORMAT_VERSION,
        "width": round(width, 1),
        "height": round(height, 1),
        "regions": regions,
    }


def main(argv: list[str] | None = None) -> int:
    """Entry point: write the compiled outlines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_PATH)
    args = parser.parse_args(argv)
    svg_text = (resources.files("pygal_maps_fr") / "fr.departments.svg").read_text("utf-8")
    document = build(svg_text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(args.out, "wt", encoding="utf-8") as fh:
        json.dump(document, fh, ensure_ascii=False, separators=(",", ":"))
    points = sum(len(r) for v in document["regions"].values() for r in v["rings"])
    print(f"regions: {len(document['regions'])}, points: {points} -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
