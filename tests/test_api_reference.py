"""The API reference page (/api/docs): the OpenAPI document as a page, open to anyone, within the strict CSP."""

import re
from html.parser import HTMLParser

import pytest

from core.paths import ROOT
from tests.browser import BROWSER
from web import openapi


class _Page(HTMLParser):
    """What the tests look for in the page: ids, in-page links, scripts, style attributes, operations."""

    def __init__(self):
        super().__init__()
        self.ids, self.fragments, self.scripts, self.styled, self.operations = set(), [], [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and (attrs.get("href") or "").startswith("#"):
            self.fragments.append(attrs["href"][1:])
        if tag == "script":
            self.scripts.append(attrs)
        if "style" in attrs or tag == "style":
            self.styled.append(tag)
        if "data-method" in attrs:
            self.operations.append((attrs["data-method"].lower(), attrs["data-path"]))


@pytest.fixture
def reference(client):
    response = client.get("/api/docs")
    page = _Page()
    page.feed(response.get_data(as_text=True))
    return response, page


def test_the_reference_answers_without_a_login(reference):
    response, _ = reference
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert "API reference" in response.get_data(as_text=True)


def test_it_lists_every_path_and_operation_of_the_document(reference):
    _, page = reference
    document = openapi.document()
    described = [(method, path) for path, item in document["paths"].items() for method in item
                 if method in ("get", "post", "put", "patch", "delete")]
    assert page.operations == described


def test_it_shows_each_operations_parameters_and_responses(reference):
    response, _ = reference
    text = response.get_data(as_text=True)
    document = openapi.document()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            section = text[text.index(f'data-method="{method.upper()}" data-path="{path}"'):]
            section = section[:section.index("</section>")]
            for parameter in operation.get("parameters", []):
                assert f"<code>{parameter['name']}</code>" in section, f"{method} {path}: {parameter['name']}"
            for code in operation["responses"]:
                assert f">{code}</span>" in section, f"{method} {path}: response {code}"


def test_every_schema_and_field_is_described(reference):
    response, page = reference
    text = response.get_data(as_text=True)
    for name, schema in openapi.document()["components"]["schemas"].items():
        assert f"schema-{name.lower()}" in page.ids
        for field in schema.get("properties", {}):
            assert f"<code>{field}</code>" in text, f"{name}.{field}"
    assert "Sending to Salesforce…" in text  # the document's examples are shown


def test_every_in_page_link_lands_on_something(reference):
    _, page = reference
    assert page.fragments
    assert not set(page.fragments) - page.ids


def test_no_script_no_inline_style_nothing_from_another_origin(reference):
    response, page = reference
    assert page.scripts == [] and page.styled == []
    assert not re.search(r'(?:src|href)="(?:https?:)?//', response.get_data(as_text=True))
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_the_landing_page_docs_and_readme_link_the_reference(client):
    assert 'href="/api/docs"' in client.get("/").get_data(as_text=True)
    assert "/api/docs" in (ROOT / "README.md").read_text()
    assert "/api/docs" in (ROOT / "docs" / "portal.md").read_text()


@BROWSER[0]
@BROWSER[1]
def test_in_a_browser_it_runs_no_script_breaks_no_policy_and_fits_a_phone(server, page):
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{server}/api/docs")
    page.wait_for_selector("h1:has-text('API reference')")
    assert page.locator("section.api-operation").count() == len(
        [m for item in openapi.document()["paths"].values() for m in item])
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    page.click("nav.api-toc a[href='#get-api-v1-orders']")
    assert page.evaluate("location.hash") == "#get-api-v1-orders"
    # Its own stylesheet loaded (same origin), and the policy refused nothing.
    assert page.evaluate("getComputedStyle(document.querySelector('pre.api-example')).overflowX") == "auto"
    assert not [e for e in page.errors if "Content Security Policy" in e or "Refused" in e]
