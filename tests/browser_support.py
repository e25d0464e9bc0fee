"""What the browser tests share: Debian's chromium driven headless by Playwright.

``require_browser()`` skips the caller (a whole module when called at import) if either is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync"]


def require_browser() -> ModuleType:
    """``playwright.sync_api``, or a skip saying what to install."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: the browser tests need Debian's chromium (apt-get install chromium)",
                    allow_module_level=True)
    return pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")


@contextmanager
def chromium_browser() -> Iterator[Any]:
    """A headless chromium, closed afterwards."""
    sync_api = require_browser()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def page_opener(browser: Any, base_url: str, **defaults: Any) -> Iterator[Any]:
    """``open_page(**options)`` opens a page in a fresh context (``defaults`` and ``options`` go to
    ``new_context``); on leaving, the contexts close and any uncaught script error or Content Security Policy
    violation fails the test."""
    contexts: list[Any] = []
    problems: list[str] = []

    def open_page(**options: Any) -> Any:
        ctx = browser.new_context(base_url=base_url, locale="zh-CN", **{**defaults, **options})
        ctx.set_default_timeout(20_000)
        contexts.append(ctx)
        page = ctx.new_page()
        page.on("pageerror", lambda exc: problems.append(f"uncaught: {exc}"))
        page.on("console", lambda msg: problems.append(f"console: {msg.text}")
                if msg.type == "error" and "Content Security Policy" in msg.text else None)
        return page

    yield open_page
    for ctx in contexts:
        ctx.close()
    assert not problems, problems
