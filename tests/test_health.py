"""`/healthz` and the landing page."""

import dataclasses

from web import create_app


def test_healthz_reports_both_dependencies_up(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["checks"]["postgres"]["ok"] and body["checks"]["redis"]["ok"]


def test_healthz_is_503_when_postgres_is_down(app_config, redis):
    broken = dataclasses.replace(app_config, database_url="postgresql://nobody@127.0.0.1:9/none?connect_timeout=1")
    client = create_app({"APP": broken, "TESTING": True}).test_client()
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["checks"]["postgres"] == {"ok": False}
    assert body["checks"]["redis"]["ok"] is True


def test_healthz_is_503_when_redis_is_down(app_config, conn):
    broken = dataclasses.replace(app_config, redis_url="unix:///nonexistent/redis.sock")
    client = create_app({"APP": broken, "TESTING": True}).test_client()
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["redis"] == {"ok": False}


def test_request_id_from_router_is_echoed(client):
    rid = "a" * 32
    assert client.get("/healthz", headers={"X-Request-ID": rid}).headers["X-Request-ID"] == rid


def test_invalid_request_id_is_replaced(client):
    assert client.get("/healthz", headers={"X-Request-ID": "bad id!"}).headers["X-Request-ID"] != "bad id!"


def test_landing_page_explains_the_demo_and_lists_mappings(client):
    page = client.get("/").get_data(as_text=True)
    assert "Heroku Connect" in page
    assert "salesforce.invoice__c" in page and "read-write" in page and "read-only" in page


def test_unknown_page_is_a_plain_404(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "Traceback" not in response.get_data(as_text=True)
