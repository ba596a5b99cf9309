"""No input reaches a 500: identifiers of the wrong shape, control characters, big or deep JSON, bad redirects."""

import json
import re
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from tests import portal_rows
from tests.portal_rows import ACCOUNT_A, EMAIL_A, order_sfid
from web import inputs

ORDER = order_sfid(ACCOUNT_A, 3)
PROBLEM = "application/problem+json"


def _count(conn, table: str) -> int:
    """The number of rows in `schema.table`."""
    query = sql.SQL("SELECT count(*) AS n FROM {}").format(sql.Identifier(*table.split(".")))
    return conn.execute(query).fetchone()["n"]


@pytest.mark.parametrize("path", [
    "/orders/%00", "/orders/801A0000%000003AAA", "/cases/a%00b", "/cases/a%00b/status.json", "/invoices/%01",
    "/invoices/a%00/status.json", "/jobs/%00", "/jobs/%00.json", "/jobs/%00/file", "/orders/a%20b",
])
def test_a_portal_identifier_of_the_wrong_shape_is_a_404_page(client, ann, path):
    response = client.get(path)
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert "nothing at this address" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", [
    "/api/v1/orders/%00", "/api/v1/cases/a%00b", "/api/v1/cases/a%00b/status", "/api/v1/invoices/%00",
    "/api/v1/orders/" + "A" * 19,
])
def test_an_api_identifier_of_the_wrong_shape_is_a_404_problem(client, ann, path):
    response = client.get(path)
    assert response.status_code == 404 and response.mimetype == PROBLEM
    assert response.get_json()["status"] == 404


def test_an_unsafe_route_with_a_bad_identifier_is_a_404_and_writes_nothing(client, ann, conn):
    before = _count(conn, "salesforce.case")
    response = client.post("/orders/%00/cases", data={"subject": "Late", "csrf_token": portal_rows.csrf(client)})
    assert response.status_code == 404 and _count(conn, "salesforce.case") == before


def test_link_tokens_and_export_names_are_checked_by_shape(client, ops):
    assert client.get("/invitation/%00").status_code == 404
    assert client.get("/reset-password/a%00b").status_code == 404
    assert ops.get("/ops/exports/%00.csv").status_code == 404


def test_every_route_parameter_has_a_shape(app):
    # A new route with a text parameter must say which shape it takes (web/inputs.py SHAPES).
    for rule in app.url_map.iter_rules():
        for name, converter in rule._converters.items():
            if type(converter).__name__ in ("UnicodeConverter", "PathConverter"):
                assert name in inputs.SHAPES, f"{rule.rule}: give <{name}> a shape in web/inputs.py"


def test_real_identifiers_fit_their_shapes(client, ann):
    assert client.get(f"/orders/{ORDER}").status_code == 200
    assert client.get(f"/api/v1/orders/{ORDER}").status_code == 200
    assert client.get(f"/cases/{portal_rows.CASE_B}").status_code == 404  # Bob's: a real shape, not Ann's


@pytest.mark.parametrize("path", ["/login", "/forgot-password"])
def test_a_nul_in_an_email_field_is_a_400_page(client, path):
    response = client.post(path, data={"email": "a\x00b", "password": "x", "csrf_token": portal_rows.csrf(client)})
    assert response.status_code == 400 and response.mimetype == "text/html"
    assert "control character" in response.get_data(as_text=True)


def test_a_nul_in_an_api_token_name_creates_no_token(client, ann, conn):
    before = _count(conn, "app.portal_tokens")
    response = client.post("/profile/api-tokens", data={"name": "my\x00script", "csrf_token": portal_rows.csrf(client)})
    assert response.status_code == 400 and _count(conn, "app.portal_tokens") == before


def test_a_control_character_in_a_query_string_is_a_400(client, ann):
    assert client.get("/orders?status=%00").status_code == 400
    response = client.get("/api/v1/orders?number=1%1b2")
    assert response.status_code == 400 and response.mimetype == PROBLEM


def test_a_multiline_description_is_still_accepted(client, ann, conn):
    form = {"subject": "Late", "description": "Line one\r\n\tLine two", "type": "Problem", "priority": "High",
            "csrf_token": portal_rows.csrf(client)}
    assert client.post(f"/orders/{ORDER}/cases", data=form).status_code == 302


def test_a_nul_in_a_case_subject_is_named_on_the_form(client, ann, conn):
    # Fields written to Salesforce keep their own message, beside the field (core/field_values.py).
    form = {"subject": "a\x00b", "type": "Problem", "priority": "High", "csrf_token": portal_rows.csrf(client)}
    response = client.post(f"/orders/{ORDER}/cases", data=form)
    assert response.status_code == 400 and "Subject contains a control character" in response.get_data(as_text=True)


def test_a_nul_in_an_api_case_or_profile_field_is_a_422_problem(client, ann, conn):
    headers = {"X-CSRF-Token": portal_rows.csrf(client)}
    case = client.post(f"/api/v1/orders/{ORDER}/cases", json={"subject": "a\x00b"}, headers=headers)
    profile = client.patch("/api/v1/profile", json={"mailing_city": "Spring\x00field"}, headers=headers)
    assert (case.status_code, profile.status_code) == (422, 422)
    assert case.mimetype == PROBLEM and "subject" in json.dumps(case.get_json()).lower()


def test_a_deeply_nested_json_body_is_a_400_problem(client, ann):
    headers = {"X-CSRF-Token": portal_rows.csrf(client), "Content-Type": "application/json"}
    nested = "x"
    for _ in range(inputs.MAX_JSON_DEPTH):
        nested = [nested]
    for body in ("[" * 100_000 + "]" * 100_000, json.dumps({"mailing_city": nested})):
        response = client.patch("/api/v1/profile", data=body, headers=headers)
        assert response.status_code == 400 and response.mimetype == PROBLEM
        assert "nested" in response.get_json()["detail"]


def test_a_json_body_over_the_limit_is_a_413_problem(client, ann):
    body = json.dumps({"mailing_city": "x" * inputs.MAX_BODY_BYTES})
    response = client.patch("/api/v1/profile", data=body, content_type="application/json",
                            headers={"X-CSRF-Token": portal_rows.csrf(client)})
    assert response.status_code == 413 and response.mimetype == PROBLEM


def test_login_next_with_a_line_break_while_logged_in_is_refused_not_a_500(client, ann):
    response = client.get("/login?next=/orders%0d%0aSet-Cookie:%20x=1")
    assert response.status_code == 400 and "Set-Cookie" not in response.headers


def test_a_login_form_next_with_a_line_break_goes_to_the_default_page(client, ann, conn):
    form = {"email": EMAIL_A, "password": portal_rows.PASSWORD, "next": "/orders\r\nSet-Cookie: x=1",
            "csrf_token": portal_rows.csrf(client)}
    response = client.post("/login", data=form)
    assert response.status_code == 302 and response.headers["Location"] == "/orders"


@pytest.mark.parametrize("target, expected", [
    ("/orders?status=Shipped", "/orders?status=Shipped"), ("//evil.example", None), ("/\\evil.example", None),
    ("https://evil.example/", None), ("/a\r\nb", None), ("/a b", None), ("", None), (None, None),
])
def test_only_a_same_site_path_is_a_redirect_target(target, expected):
    assert inputs.same_site_path(target) == expected


# Property-based: every route, every parameter, arbitrary text. Field names the app's forms and filters read.
FIELDS = ["email", "password", "confirm", "next", "name", "subject", "description", "type", "priority", "phone",
          "mailingstreet", "mailingcity", "mailingstate", "mailingpostalcode", "mailingcountry", "period"]
QUERY = ["status", "number", "after", "next"]
# Any text, with the values that break things drawn more often than chance would draw them.
NASTY = ["\x00", "a\x00b", "/x\r\nSet-Cookie: a=b", "\x1b[0m", "\x7f", "%00", "../../etc", "//evil.example",
         "' OR 1=1 --", "\ud7ff\ufffd", "9" * 40, "-1", "2026-13"]
TEXT = st.one_of(st.sampled_from(NASTY), st.text(st.characters(codec="utf-8"), max_size=12))
_PARAM = re.compile(r"<(?:[^:>]+:)?([^>]+)>")
FUZZ = settings(max_examples=8, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _routes(app) -> list[tuple[str, str]]:
    """(rule, method) for every route but static files; logging out last, so the rest run in the session."""
    rules = sorted(app.url_map.iter_rules(), key=lambda rule: rule.endpoint == "auth.logout")
    return [(rule.rule, method) for rule in rules if rule.endpoint != "static"
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]


def _request(rule: str):
    """A strategy for one request to `rule`: drawn path parameters, query string and form fields."""
    return st.fixed_dictionaries({
        "params": st.lists(TEXT, min_size=len(_PARAM.findall(rule)), max_size=len(_PARAM.findall(rule))),
        "query": st.fixed_dictionaries({name: TEXT for name in QUERY}),
        "form": st.fixed_dictionaries({name: TEXT for name in FIELDS}),
        "extra": st.tuples(TEXT, TEXT),
    })


def _fuzz_route(client, csrf: str, rule: str, method: str) -> None:
    """One route, with arbitrary text in each of its inputs: never a 5xx."""

    @FUZZ
    @given(drawn=_request(rule))
    def one_route(drawn):
        params = iter(drawn["params"])
        path = _PARAM.sub(lambda _m: quote(next(params), safe=""), rule)
        key, value = drawn["extra"]
        query = drawn["query"] | {key: value}
        form = drawn["form"] | {key: value, "csrf_token": csrf}
        response = client.open(path, method=method, query_string=query, headers={"X-CSRF-Token": csrf},
                               data=None if method == "GET" else form)
        response.close()
        assert response.status_code < 500, f"{method} {path!r} {query!r} answered {response.status_code}"

    one_route()


def _drive_every_route(app, client, csrf):
    """Every route, each with arbitrary text."""
    for rule, method in _routes(app):
        _fuzz_route(client, csrf, rule, method)


def test_no_route_answers_a_5xx_to_arbitrary_text_anonymously(app, client):
    _drive_every_route(app, client, portal_rows.csrf(client))


def test_no_route_answers_a_5xx_to_arbitrary_text_for_the_customer(app, client, ann):
    _drive_every_route(app, client, portal_rows.csrf(client))


def test_no_route_answers_a_5xx_to_arbitrary_text_for_an_operator(app, ops):
    _drive_every_route(app, ops, portal_rows.csrf(ops))
