"""inspect.html in a real browser (headless Chromium via Playwright's Python client).

Needs the `playwright` pip package and a Chromium binary on PATH (`chromium`, e.g. Debian's);
no browser download. Without either, the test is skipped and says which is missing.
"""
from __future__ import annotations

import shutil

import pytest

from rnnlab import api
from rnnlab.inspect import inspect
from rnnlab.inspect.page import read_payload

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def _browser_or_skip():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright pip package is not installed (pip install playwright)")
    executable = next((shutil.which(name) for name in ("chromium", "chromium-browser") if shutil.which(name)), None)
    if executable is None:
        pytest.skip("no Chromium on PATH (apt-get install chromium)")
    return sync_playwright, executable


def test_the_page_works_offline_in_a_browser(tmp_path):
    sync_playwright, executable = _browser_or_skip()
    run = tmp_path / "run"
    api.train("charlm", run_dir=run, quiet=True, epochs=1, max_chars=4000, hidden=12, seq_len=10, batch_size=4,
              sample_length=5)
    text = tmp_path / "t.txt"
    text.write_text('He said "go (now)" at 10.\nShe left.\n' * 4)
    out = tmp_path / "out"
    inspect(run, text=str(text), out=out, say=lambda _: None)
    page_path = out / "inspect.html"
    data = read_payload(page_path.read_text())
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors, requests = [], []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("request", lambda request: requests.append(request.url))
        page.goto(page_path.as_uri())
        page.wait_for_selector("#text-units .sym")
        assert page.locator("#text-units .sym").count() == len(data["symbols"])
        assert page.locator("#text-loss .sym").count() == len(data["symbols"])
        assert page.locator("svg.scatter").count() == len(data["saturation"]) == 4

        page.hover("#text-units .sym >> nth=5")
        tip = page.inner_text("#tip")
        assert page.is_visible("#tip")
        top = data["top"]
        for k in range(5):
            symbol = top["symbols"][top["ids"][5][k]]
            assert f"{top['probs'][5][k]:.3f}" in tip and repr(symbol)[1:-1] in tip
        assert f"loss: {data['loss'][5]:.3f} nats" in tip

        colours = lambda: page.eval_on_selector_all(  # noqa: E731
            "#text-units .sym", "spans => spans.map(s => s.style.backgroundColor)")
        before, label_before = colours(), page.inner_text("#unit-now")
        rows = page.locator("tr.found-unit")
        assert rows.count() >= 1
        target = None
        for i in range(rows.count()):  # a found unit other than the one shown first
            row = rows.nth(i)
            name = f"{row.get_attribute('data-kind')}[{row.get_attribute('data-unit')}]"
            if name not in label_before:
                target = (row, name)
                break
        assert target is not None
        target[0].click()
        assert target[1] in page.inner_text("#unit-now")
        assert colours() != before
        page.screenshot(path=str(tmp_path / "inspect.png"), full_page=True)
        browser.close()
    assert errors == []
    assert all(url.startswith("file://") for url in requests), requests
    assert (tmp_path / "inspect.png").stat().st_size > 0
