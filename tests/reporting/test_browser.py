"""The run page in a real headless browser (Debian's Chromium, driven by Playwright; nothing is downloaded):
it loads from file:// with no console error and no network request, sorting orders the rows, each filter
leaves exactly the rows it should, the detail view shows the image that was clicked with the maps of both
runs, and the keyboard works. Skipped, saying why, where no browser is installed.

AIGC_SCREENSHOT=PATH also saves the screenshot there (the README's reports/run_browser.png)."""

from __future__ import annotations

import csv
import math
import os
import shutil
from pathlib import Path

import pytest

from aigc_explain.reporting.browser import write_page
from aigc_explain.runs.reader import load_cam_run
from benchmarks.page_speed import BROWSER_FLAGS, find_browser, synthetic_run

BROWSER, WHY = find_browser()
pytestmark = pytest.mark.skipif(BROWSER is None, reason=f"no browser to test the page in: {WHY}")
N = 120  # three pages of 50 rows


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("browser")
    a = synthetic_run(root, N, label="unaugmented", seed=1)
    b = synthetic_run(root, N, label="augmented", seed=2)
    out = root / "page_out"
    out.mkdir()
    write_page({"unaugmented": load_cam_run(a), "augmented": load_cam_run(b)}, out, title="two runs")
    rows = list(csv.DictReader((a / "per_image.csv").read_text().splitlines()))
    return {"index": out / "index.html", "rows": rows}


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=BROWSER, args=BROWSER_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, site):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15000)
    tab = context.new_page()
    tab.problems, tab.requests = [], []
    tab.on("console", lambda m: m.type in ("error", "warning") and tab.problems.append(f"{m.type}: {m.text}"))
    tab.on("pageerror", lambda e: tab.problems.append(f"page error: {e}"))
    tab.on("requestfailed", lambda r: tab.problems.append(f"failed: {r.url}"))
    tab.on("request", lambda r: tab.requests.append(r.url))
    tab.goto(site["index"].as_uri())
    tab.wait_for_selector("#rows tr")
    yield tab
    context.close()


def _thumbnails_loaded(page) -> None:
    page.wait_for_function("[...document.querySelectorAll('#rows img')].filter(i => i.getBoundingClientRect().top "
                           "< innerHeight).every(i => i.complete && i.naturalWidth > 0)")  # those in view


def _count(page) -> int:
    return int(page.get_attribute("#count", "data-shown"))


def _column(page, n: int) -> list[str]:
    return page.eval_on_selector_all(f"#rows tr td:nth-child({n})", "cells => cells.map(c => c.textContent)")


def _share(row: dict) -> float:
    return round(float(row["corner_share"]), 6)  # as the page holds it


def test_loads_from_file_with_no_console_error_and_no_network(page, site):
    page.wait_for_load_state("load")
    _thumbnails_loaded(page)
    assert page.problems == []
    assert all(url.startswith(("file://", "data:")) for url in page.requests), page.requests
    assert _count(page) == N and page.locator("#rows tr").count() == 50
    assert page.text_content("#pageinfo") == "page 1 of 3"


def test_sorting_by_corner_share_orders_the_rows(page, site):
    shares = sorted((_share(r) for r in site["rows"] if r["corner_share"] != "nan"))
    page.click('#head button[data-key="share"]')
    assert page.get_attribute('th[data-key="share"]', "aria-sort") == "ascending"
    assert _column(page, 11) == [f"{v:.3f}" for v in shares[:50]]
    page.click('#head button[data-key="share"]')
    assert page.get_attribute('th[data-key="share"]', "aria-sort") == "descending"
    assert _column(page, 11) == [f"{v:.3f}" for v in shares[::-1][:50]]
    page.click("#next")
    page.click("#next")  # the last page: the blank maps (no corner share) come last whichever way
    assert _column(page, 11)[-len(site["rows"]) + len(shares):] == ["–"] * (len(site["rows"]) - len(shares))


def test_filters_leave_exactly_the_matching_rows(page, site):
    rows = site["rows"]
    page.select_option("#f-label", "1")
    assert _count(page) == sum(r["label"] == "fake" for r in rows)
    page.select_option("#f-correct", "0")
    assert _count(page) == sum(r["label"] == "fake" and r["pred"] == "real" for r in rows) > 0
    page.select_option("#f-label", "")
    assert _count(page) == sum(r["label"] != r["pred"] for r in rows)
    page.select_option("#f-correct", "")
    page.select_option("#f-pred", "0")
    assert _count(page) == sum(r["pred"] == "real" for r in rows)
    page.select_option("#f-pred", "")
    page.select_option("#f-empty", "1")
    assert _count(page) == sum(r["cam_empty"] == "True" for r in rows) == N // 10
    page.select_option("#f-empty", "")
    page.fill("#f-min", "0.3")
    page.fill("#f-max", "0.6")
    inside = [r for r in rows if r["corner_share"] != "nan" and 0.3 <= _share(r) <= 0.6]
    assert _count(page) == len(inside) and 0 < len(inside) < N
    assert all(0.3 <= float(v) <= 0.6 for v in _column(page, 11))
    page.click('#filters button[type="reset"]')
    page.wait_for_function(f"document.getElementById('count').dataset.shown == '{N}'")


def _opened(page) -> str:
    page.wait_for_selector("#detail[data-ready]")
    return page.get_attribute("#detail-image", "src")


def test_the_detail_view_shows_the_clicked_image_and_both_maps(page, site, tmp_path):
    rows = site["rows"]
    page.click('#head button[data-key="share"]')
    page.click('#head button[data-key="share"]')  # highest corner share first
    top = max((r for r in rows if r["corner_share"] != "nan"), key=_share)
    page.click("#rows tr:nth-child(1) td.name")
    src = _opened(page)
    assert src.endswith("/" + "/".join(Path(top["path"]).parts[-3:]))
    assert page.text_content("#detail-path") == top["path"]
    assert page.evaluate("document.getElementById('detail-image').complete && "
                         "document.getElementById('detail-image').naturalWidth") == 64
    figures = page.locator("#detail-maps figure")
    assert figures.count() == 2 and "unaugmented" in figures.nth(0).text_content()
    assert f"corner share {_share(top):.3f}" in figures.nth(0).text_content()
    assert page.text_content("#bar-hi").startswith("+") and "before ReLU" in page.text_content("#bar-units")
    _thumbnails_loaded(page)
    shot = tmp_path / "run_browser.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10000
    if os.environ.get("AIGC_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["AIGC_SCREENSHOT"])
    second = sorted((r for r in rows if r["corner_share"] != "nan"), key=_share)[-2]
    page.keyboard.press("ArrowRight")
    page.wait_for_function(f"document.getElementById('detail-path').textContent == {second['path']!r}")
    page.keyboard.press("Escape")
    page.wait_for_function("!document.getElementById('detail').open")
    assert page.problems == []


def test_the_table_works_from_the_keyboard(page, site):
    page.focus("#rows tr:nth-child(1)")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_selector("#detail[data-ready]")
    assert page.text_content("#detail-path") == site["rows"][1]["path"]
    page.keyboard.press("Escape")
    page.wait_for_function("!document.getElementById('detail').open")
    assert page.evaluate("document.activeElement.dataset.pos") == "1"  # focus back on the row
    page.keyboard.press("PageDown")
    assert page.text_content("#pageinfo") == "page 2 of 3"
    alts = page.eval_on_selector_all("#rows img", "imgs => imgs.map(i => i.alt)")
    assert alts and all(alt for alt in alts)


def test_readable_at_a_phone_width(browser, site):
    tab = browser.new_page(viewport={"width": 390, "height": 844})
    tab.goto(site["index"].as_uri())
    tab.wait_for_selector("#rows tr")
    body = tab.evaluate("document.body.scrollWidth")
    assert body <= 390 and not math.isnan(body)  # the table scrolls inside its box, the page never sideways
    assert tab.evaluate("getComputedStyle(document.body).fontSize") == "14px"
    tab.close()
