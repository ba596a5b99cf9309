"""What the app does for the router: gzip for text, year-long caching of versioned static files, /favicon.ico."""

import gzip
import re

GZIP = {"Accept-Encoding": "gzip, deflate, br"}


def _stylesheet(client) -> str:
    """The SLDS stylesheet's URL as the pages link it."""
    page = client.get("/login").get_data(as_text=True)
    return re.search(r'href="(/static/slds/styles/[^"]+)"', page)[1].replace("&amp;", "&")


def test_pages_are_gzipped_for_browsers_that_accept_it(client):
    response = client.get("/login", headers=GZIP)
    assert response.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in response.headers["Vary"]
    assert "<title>Log in" in gzip.decompress(response.get_data()).decode()


def test_pages_are_plain_for_clients_that_do_not_ask(client):
    response = client.get("/login")
    assert "Content-Encoding" not in response.headers and "<title>Log in" in response.get_data(as_text=True)


def test_the_stylesheet_is_gzipped_and_cached_for_a_year_under_its_content_hash(client):
    url = _stylesheet(client)
    assert re.search(r"\?v=[0-9a-f]{12}$", url)
    response = client.get(url, headers=GZIP)
    assert response.status_code == 200 and response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    body = gzip.decompress(response.get_data())
    assert b"Lightning Design System" in body[:100] and len(response.get_data()) < len(body) / 5


def test_a_static_file_without_its_hash_is_not_cached_for_a_year(client):
    response = client.get("/static/app.css")
    assert response.status_code == 200 and "immutable" not in response.headers.get("Cache-Control", "")


def test_streamed_exports_are_not_buffered_to_compress_them(client, ann):
    response = client.get("/orders/export.csv", headers=GZIP)
    assert response.status_code == 200 and response.is_streamed and "Content-Encoding" not in response.headers


def test_favicon_ico_answers_with_the_svg_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and "/static/favicon.svg?v=" in response.headers["Location"]
    icon = client.get(response.headers["Location"])
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"


def test_every_page_links_the_favicon_and_describes_itself(client):
    page = client.get("/login").get_data(as_text=True)
    assert '<link rel="icon" href="/static/favicon.svg?v=' in page
    assert re.search(r'<meta name="description" content="[^"]{40,}">', page)
