"""The map of France: every region drawn, shaded by its count (pixel colours at known points
inside each region), counts and legend classes, and one render per content."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from matplotlib.path import Path as MplPath
from PIL import Image

from bot import francemap
from bot.francemap import NO_ITEMS, SHADES, bins, load_shapes, render_map, shade, to_pixel
from classifiers.taxonomy import REGIONS

COUNTS = {
    "Bretagne": 12,
    "Hauts-de-France": 3,
    "Île-de-France": 7,
    "Corse": 1,
    "La Réunion": 5,
    "Occitanie": 9,
    "Grand Est": 2,
    "Guadeloupe": 1,
    "Mayotte": 12,
}


def rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def inner_pixels(region: str, *, limit: int = 12) -> list[tuple[int, int]]:
    """Pixels well inside a region's outline (>= 4 px from any edge) and away from its count."""
    shapes = load_shapes()
    label = to_pixel(shapes, *shapes.labels[region])
    found: list[tuple[int, int]] = []
    for ring in sorted(shapes.rings[region], key=len, reverse=True):
        outline = MplPath([to_pixel(shapes, x, y) for x, y in ring])
        xs = [p[0] for p in outline.vertices]
        ys = [p[1] for p in outline.vertices]
        for py in range(int(min(ys)), int(max(ys)) + 1, 2):
            for px in range(int(min(xs)), int(max(xs)) + 1, 2):
                if abs(px - label[0]) < 14 and abs(py - label[1]) < 10:
                    continue  # the count is written there
                square = [(px + dx, py + dy) for dx in (-4, 0, 4) for dy in (-4, 0, 4)]
                if all(outline.contains_point(p) for p in square):
                    found.append((px, py))
                    if len(found) >= limit:
                        return found
    return found


def test_every_region_has_an_outline_and_a_label_inside_the_picture() -> None:
    shapes = load_shapes()
    assert set(shapes.rings) == set(REGIONS)
    assert set(shapes.captions) == {"Guadeloupe", "Martinique", "Guyane", "La Réunion", "Mayotte"}
    for region in REGIONS:
        x, y = shapes.labels[region]
        assert 0 < x < shapes.width and 0 < y < shapes.height, region
        inside = any(MplPath(ring).contains_point((x, y)) for ring in shapes.rings[region])
        assert inside, f"label of {region} outside its outline"


def test_region_colours_at_known_points_follow_the_counts() -> None:
    png = render_map(COUNTS, lang="fr", title="Articles de la semaine")
    image = Image.open(io.BytesIO(png)).convert("RGB")
    top = max(COUNTS.values())
    checked = 0
    for region in REGIONS:
        expected = rgb(shade(COUNTS.get(region, 0), top))
        pixels = inner_pixels(region)
        assert pixels, f"no pixel well inside {region}"
        for pixel in pixels:
            assert image.getpixel(pixel) == expected, (region, pixel)
            checked += 1
    assert checked > 18 * 5
    # The darkest shade is where the largest counts are, no shading where nothing was found.
    assert image.getpixel(inner_pixels("Bretagne")[0]) == rgb(SHADES[-1])
    assert image.getpixel(inner_pixels("Normandie")[0]) == rgb(NO_ITEMS)


def test_shading_classes_and_legend_bins() -> None:
    assert bins(0) == []
    assert bins(3) == [(1, 1), (2, 2), (3, 3)]
    assert bins(12) == [(1, 3), (4, 5), (6, 8), (9, 10), (11, 12)]
    assert [shade(n, 3) for n in (0, 1, 2, 3)] == [NO_ITEMS, *SHADES[2:]]
    assert shade(12, 12) == SHADES[-1] and shade(1, 12) == SHADES[0]
    ordered = [shade(n, 100) for n in range(1, 101)]
    assert ordered == sorted(ordered, key=SHADES.index)  # never lighter for a larger count


def test_same_content_is_rendered_once() -> None:
    counts = {"Normandie": 4, "Corse": 2}
    francemap._cache.clear()
    first = render_map(counts, lang="en", title="Week")
    draws = francemap._cache.copy()
    again = [render_map(dict(counts), lang="en", title="Week") for _ in range(2000)]
    assert all(png is first for png in again)
    assert list(francemap._cache) == list(draws)  # no second drawing was stored
    other = render_map(counts, lang="fr", title="Week")
    assert other != first and len(francemap._cache) == 2


def test_missing_outlines_say_how_to_build_them(tmp_path: Path) -> None:
    from bot.errors import MapDataError

    with pytest.raises(MapDataError, match="make install"):
        load_shapes.__wrapped__(tmp_path / "none.json.gz")  # type: ignore[operator]
