"""What every browser test shares: Debian's Chromium driven by Playwright, the app served for real.

A browser test module marks itself and uses the `server` and `page` fixtures (tests/conftest.py):

    from tests.browser import BROWSER
    pytestmark = BROWSER

The tests run when /usr/bin/chromium exists (`apt-get install chromium`; CI installs it); otherwise
they are skipped, saying so. Playwright's own browser downloads are never used.
"""

import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

BROWSER = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}: install Debian's chromium package"),
]
