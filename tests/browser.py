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

from standins.org import seed
from tests import portal_rows

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

BROWSER = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}: install Debian's chromium package"),
]

# axe-core, vendored with its licence and version (tests/vendor/axe-core/VERSION; test_accessibility checks it).
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
# WCAG 2.1 A and AA plus axe's best practices (landmarks, one h1, unique landmarks, a skip link's target).
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


def assert_accessible(page) -> None:
    """Run axe-core on the page; fail listing every violation (rule id, impact, the elements it found)."""
    # Evaluated as a script's text, not loaded by URL: the app's strict CSP does not apply to it.
    if not page.evaluate("() => Boolean(window.axe)"):
        page.evaluate(AXE.read_text())
    results = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS)
    problems = [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
                for v in results["violations"]]
    assert not problems, f"axe on {page.url}:\n" + "\n".join(problems)


def assert_no_sideways_scroll(page) -> None:
    """The page is no wider than the viewport (a table may scroll inside its wrapper, the page not)."""
    width, viewport = page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
    assert width <= viewport, f"{page.url} scrolls sideways at {viewport} px: {width} px wide"


def portal_and_org(conn, local_org):
    """The demo customer's rows in Postgres and, with the same Ids, in the local org; their portal login."""
    seed.from_connect_schema(local_org.org)
    portal_rows.make_user(conn)
    return local_org
