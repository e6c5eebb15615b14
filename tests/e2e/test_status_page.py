"""The status page rendered in headless Chromium (Debian's package; Playwright drives it, no download)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .conftest import ServiceProcess

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _chromium() -> None:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium package")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")


def test_status_page_in_headless_chromium(service: ServiceProcess, tmp_path: Path) -> None:
    _chromium()
    sync_api = pytest.importorskip("playwright.sync_api")
    with service.client(service.admin_key) as c:
        assert c.post("/v1/collections", json={"name": "papers", "dimensions": 3}).status_code == 201
        points = [{"id": str(i), "vector": [1, i, 0]} for i in range(42)]
        assert c.put("/v1/collections/papers/points", json={"points": points}).status_code == 200
    shot = Path(os.environ.get("LLM_STATUS_SCREENSHOT", tmp_path / "status.png"))
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(service.url + "/")
            assert page.locator("#login").is_visible()
            assert page.title() == "llm-infra service status"
            # a wrong key is refused and asked again
            page.fill("#key", "lli_wrong")
            page.click("#login-form button")
            page.wait_for_function("document.getElementById('login-error').textContent.length > 0")
            assert "auth.invalid_credentials" in page.text_content("#login-error")
            # the admin key, entered once, kept in the session
            page.fill("#key", service.admin_key or "")
            page.click("#login-form button")
            page.wait_for_selector("#collections tbody tr")
            row = page.locator("#collections tbody tr").first.text_content() or ""
            assert "papers" in row
            assert "42" in row
            assert page.text_content("#tenant") == "default"
            assert page.text_content("#health") == "healthy"
            assert page.text_content("#backend") == "embedded"
            page.reload()
            page.wait_for_selector("#collections tbody tr")  # no key asked again: sessionStorage
            assert page.locator("#dashboard").is_visible()
            page.wait_for_function("document.querySelectorAll('#audit tbody tr').length > 0")
            assert "default/admin" in (page.text_content("#audit") or "")
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
