"""The web window in a real browser: Debian's chromium driven by Playwright (no browser download).

Screenshots of the home page, a region page and the map at phone and desktop widths are saved
under tests/artifacts/web/ (git-ignored) for people to look at. These tests never skip: without
/usr/bin/chromium they fail and say how to install it (.ci/run installs it).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.store.repo import Store
from bot.web.app import WebConfig, WebWindow
from tests.conftest_bot import gazetteer
from tests.test_web import HOSTILE, NOW, sample

CHROMIUM = Path(os.environ.get("VEILLE_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).parent / "artifacts" / "web"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDTHS = {"phone": (390, 844), "desktop": (1280, 900)}


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the web window's browser tests need Debian's chromium "
            "(apt-get install chromium; .ci/run installs it)"
        )
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        context = await pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"),  # a fresh user-data-dir
            executable_path=str(CHROMIUM),
            args=ARGS,
            headless=True,
            locale="fr-FR",  # pages follow the browser's language
        )
        try:
            yield context
        finally:
            await context.close()


@pytest.fixture
async def site(store: Store) -> AsyncIterator[str]:
    sample(store)
    win = WebWindow(store, gazetteer, WebConfig(port=0), lambda: NOW)
    await win.start()
    yield f"http://127.0.0.1:{win.port}"
    await win.stop()


def _luminance(rgb: tuple[float, ...]) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(fg: tuple[float, ...], bg: tuple[float, ...]) -> float:
    """WCAG contrast ratio of two sRGB colours."""
    light, dark = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


COLOURS_JS = """
(selector) => [...document.querySelectorAll(selector)].slice(0, 5).map(el => {
  const parse = s => s.match(/[\\d.]+/g).map(Number);
  let bg = null, node = el;
  while (node && node.nodeType === 1) {
    const c = parse(getComputedStyle(node).backgroundColor);
    if (c.length < 4 || c[3] > 0) { bg = c; break; }
    node = node.parentElement;
  }
  return [parse(getComputedStyle(el).color), bg || [255, 255, 255]];
})
"""


async def test_pages_render_accessible_and_escaped_at_phone_and_desktop_widths(
    browser: Any, site: str
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = await browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    for width_name, (width, height) in WIDTHS.items():
        await page.set_viewport_size({"width": width, "height": height})
        await page.goto(f"{site}/")
        assert await page.locator("main").count() == 1
        assert await page.locator("header").count() >= 1
        assert await page.locator("nav").count() == 1
        assert await page.locator("form[role=search]").count() == 1
        assert await page.get_by_label("Recherche (régions, types, mots, période)").count() == 1
        unlabeled = await page.evaluate(
            "() => [...document.querySelectorAll('input:not([type=hidden])')]"
            ".filter(i => !i.labels || i.labels.length === 0).length"
        )
        assert unlabeled == 0
        assert await page.locator("img[alt]").count() == await page.locator("img").count()
        # The map image loaded (a broken image has naturalWidth 0).
        assert await page.evaluate("() => document.querySelector('.map img').naturalWidth") == 800
        # Nothing wider than the screen (a phone never scrolls sideways).
        assert await page.evaluate("() => document.documentElement.scrollWidth") <= width
        # The hostile title is shown as text, never run.
        assert await page.get_by_text(HOSTILE).count() == 1
        for selector in ("body", "a", ".meta", ".hint", "button", ".tag"):
            for fg, bg in await page.evaluate(COLOURS_JS, selector):
                assert contrast(tuple(fg), tuple(bg)) >= 4.5, (selector, fg, bg)
        await page.screenshot(path=str(ARTIFACTS / f"home-{width_name}.png"), full_page=True)

        await page.goto(f"{site}/region/Bretagne")
        assert await page.locator("h1").inner_text() == "Bretagne"
        await page.screenshot(path=str(ARTIFACTS / f"region-{width_name}.png"), full_page=True)

        await page.goto(f"{site}/map.png?q=30j")
        await page.screenshot(path=str(ARTIFACTS / f"map-{width_name}.png"))
    assert dialogs == []
    for name in ("home", "region", "map"):
        for width_name in WIDTHS:
            assert (ARTIFACTS / f"{name}-{width_name}.png").stat().st_size > 5_000


async def test_a_user_searches_switches_language_and_follows_a_suggestion(
    browser: Any, site: str
) -> None:
    page = await browser.new_page()
    await page.goto(f"{site}/")
    await page.keyboard.press("Tab")  # the skip link comes first
    assert await page.evaluate("() => document.activeElement.className") == "skip"
    await page.get_by_label("Recherche (régions, types, mots, période)").fill(
        "financement Bretagne"
    )
    await page.get_by_role("button", name="Chercher").click()
    await page.wait_for_url("**/?q=financement+Bretagne*")
    assert "Bretagne · financement" in await page.locator("h1").inner_text()
    titles = await page.locator("li.item h3").all_inner_texts()
    assert titles == ["Brest finance la recherche en IA"]
    await page.get_by_text("Pourquoi ces étiquettes").first.click()
    assert await page.locator("details[open] dd").count() >= 1

    await page.get_by_role("link", name="English").click()
    assert await page.evaluate("() => document.documentElement.lang") == "en"
    assert "Understood: Bretagne · funding" in await page.locator("h1").inner_text()

    response = await page.goto(f"{site}/region/Normandi")
    assert response is not None and response.status == 404
    await page.get_by_role("link", name="Normandie").first.click()
    assert await page.locator("h1").inner_text() == "Normandie"
