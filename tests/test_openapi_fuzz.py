"""A bounded schemathesis run against the API's own OpenAPI document (/api/v1/openapi.json).

Schemathesis reads the served document and generates requests for every operation from it, valid
and invalid, then checks each answer: never a 5xx, the status codes and content types the document
declares, bodies matching its schemas. It runs against the WSGI app in-process, with a real
customer's API token on the real test Postgres and Redis. Derandomized and bounded, so a run is
repeatable and takes seconds.

One expectation is widened, on purpose: a request the document calls well formed may still be a
422, because the API checks a field as the org would (a phone number's characters, an address
too long for Salesforce) and says so in its documented 422 problem. Everything else a schema-valid
request gets must be a success or an authentication answer.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from core import logins
from tests import portal_rows


@pytest.fixture
def api_schema(app, conn, portal_world):
    config = SchemathesisConfig.from_dict({"checks": {"positive_data_acceptance": {
        "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "422"]}}})
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=config)


@pytest.fixture
def bearer(conn, portal_world):
    user = portal_rows.make_user(conn)
    # Plain bodies: the WSGI transport hands schemathesis the bytes as sent, without the gzip decoding an
    # HTTP client does (compression itself: tests/test_assets.py).
    return {"Authorization": f"Bearer {logins.create_api_token(conn, 'app', user['id'], 'fuzz')}",
            "Accept-Encoding": "identity"}


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=20, derandomize=True, database=None, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case, bearer):
    case.call_and_validate(headers=bearer)
