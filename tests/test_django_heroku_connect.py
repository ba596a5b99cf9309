"""django-heroku-connect against the local Connect schema: what a Django project on Connect would see.

django-heroku-connect (PyPI `django-heroku-connect`, import `heroku_connect`) maps Connect's tables
to Django models: `HerokuConnectModel` for a mapped object, `TriggerLog` and `TriggerLogArchive`
for the log, `capture_insert_from_model` / `capture_update_from_model` (which call Connect's
`hc_capture_insert_from_row` / `hc_capture_update_from_row`) and `redo()` to send a write again.
It was written against real Connect; here it runs unchanged against `standins/provision.py`'s schema,
the local Connect engine and the local org.

What the library needs around it:
- psycopg2. It imports psycopg2 and compiles its SQL with `psycopg2.sql` against Django's raw cursor,
  so the Django it runs in must be on psycopg2, as in any project that uses it. Django takes psycopg 3
  whenever it can import it, and this environment has it (the app runs on it), so Django's backend is
  imported once with psycopg 3 out of sight.
- The Heroku Connect API: `redo()` asks it for the connection's write algorithm (Ordered Writes or
  merged writes). A loopback stand-in answers with the connection as `sql/connect/mapping.json`
  records it.

Django can be configured only once per process: the module fixture does it, and no other test
module uses Django.
"""

import importlib
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
from psycopg import sql

from core import connect, db
from standins.org import store
from tests import refusals

SFID = "003000000000001AAA"
API_TOKEN = "local-connect-api-token"
CONNECTION = json.loads(connect.MAPPING_FILE.read_text())["connection"]
LOG = 'SELECT state, action, record_id, sfid, hstore_to_json("values"::hstore) AS values FROM {} ORDER BY id'


class ConnectAPI(BaseHTTPRequestHandler):
    """`GET /connections?app=…`: the app's one connection, with its features (the write algorithm)."""

    features = dict(CONNECTION["features"])

    def do_GET(self):  # noqa: N802 (http.server's name)
        url = urlsplit(self.path)
        if self.headers.get("Authorization") != f"Bearer {API_TOKEN}":
            self.send_error(401)
            return
        if url.path != "/connections":
            self.send_error(404)
            return
        apps = parse_qs(url.query).get("app", [])
        results = [{"id": "local-connection", "name": CONNECTION["name"], "schema_name": "salesforce",
                    "features": ConnectAPI.features}] if apps == [CONNECTION["app_name"]] else []
        body = json.dumps({"count": len(results), "results": results}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        """Quiet: pytest shows what matters."""


@pytest.fixture(scope="module")
def connect_api():
    """The Heroku Connect API stand-in on a free loopback port; its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), ConnectAPI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def _django_settings(app_config, api_url) -> dict:
    """Settings of a Django project on Heroku Connect, on the test database and the app's Connect schema."""
    conninfo = psycopg.conninfo.conninfo_to_dict(app_config.database_url)
    database = {"ENGINE": "django.db.backends.postgresql", "NAME": conninfo.pop("dbname"),
                "USER": conninfo.pop("user", ""), "PASSWORD": conninfo.pop("password", ""),
                "HOST": conninfo.pop("host", ""), "PORT": conninfo.pop("port", ""), "OPTIONS": conninfo}
    return {
        "DATABASES": {"default": database},
        "DATABASE_ROUTERS": ["heroku_connect.db.router.HerokuConnectRouter"],
        "INSTALLED_APPS": ["heroku_connect"],
        "DEFAULT_AUTO_FIELD": "django.db.models.AutoField",
        "USE_TZ": True,
        "HEROKU_CONNECT_SCHEMA": app_config.connect_schema,
        "HEROKU_CONNECT_APP_NAME": CONNECTION["app_name"],
        "HEROKU_CONNECT_ORGANIZATION_ID": CONNECTION["organization_id"],
        "HEROKU_CONNECT_API_ENDPOINT": api_url,
        "HEROKU_AUTH_TOKEN": API_TOKEN,
    }


def _django_on_psycopg2():
    """Import Django's Postgres backend while `import psycopg` fails, so that it binds to psycopg2."""
    psycopg3 = sys.modules["psycopg"]
    sys.modules["psycopg"] = None  # makes `import psycopg` raise ImportError
    try:
        importlib.import_module("django.db.backends.postgresql.base")
    finally:
        sys.modules["psycopg"] = psycopg3
    psycopg_any = importlib.import_module("django.db.backends.postgresql.psycopg_any")
    assert not psycopg_any.is_psycopg3, "Django's backend was imported on psycopg 3 before this module ran"


def _models(hc_models):
    """The project's models of two mapped objects: Contact (read-write) and Product2 (read-only)."""

    class Contact(hc_models.HerokuConnectModel):
        sf_object_name = "Contact"
        sf_access = hc_models.READ_WRITE
        last_name = hc_models.Text(sf_field_name="LastName", max_length=80)
        first_name = hc_models.Text(sf_field_name="FirstName", max_length=40, null=True)
        email = hc_models.Email(sf_field_name="Email", null=True)
        phone = hc_models.Phone(sf_field_name="Phone", null=True)
        external_id = hc_models.Text(sf_field_name="External_ID__c", max_length=36, upsert=True, unique=True)

        class Meta:
            app_label = "connectapp"

    class Product(hc_models.HerokuConnectModel):
        sf_object_name = "Product2"
        name = hc_models.Text(sf_field_name="Name", max_length=255)

        class Meta:
            app_label = "connectapp"

    return Contact, Product


@pytest.fixture(scope="module")
def hc(app_config, connect_api):
    """The library's models and helpers, in a Django configured once for this process."""
    # Imported here, not at the top: nothing of Django may load before settings and the backend are set.
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(**_django_settings(app_config, connect_api))
        _django_on_psycopg2()
        django.setup()
    from django.db import connections
    from heroku_connect import models, utils
    from heroku_connect.db import models as hc_models
    from heroku_connect.db.exceptions import WriteNotSupportedError
    from heroku_connect.test.utils import no_heroku_connect_write_restrictions

    contact, product = _models(hc_models)
    yield SimpleNamespace(Contact=contact, Product=product, TriggerLog=models.TriggerLog,
                          TriggerLogArchive=models.TriggerLogArchive, utils=utils,
                          WriteNotSupportedError=WriteNotSupportedError,
                          no_write_restrictions=no_heroku_connect_write_restrictions)
    connections.close_all()


@pytest.fixture
def write_algorithm(hc):
    """Switch the connection's write algorithm as the Connect API reports it: `write_algorithm(ordered=True)`."""

    def switch(ordered: bool):
        ConnectAPI.features = {**CONNECTION["features"], "poll_db_no_merge": ordered}
        hc.utils.get_unique_connection_write_mode.cache_clear()  # the library asks once per process

    yield switch
    switch(CONNECTION["features"]["poll_db_no_merge"])


def log(conn, table="_trigger_log"):
    """The live log (or the archive), oldest first, `values` decoded."""
    return conn.execute(sql.SQL(LOG).format(sql.Identifier("salesforce", table))).fetchall()


@pytest.fixture
def synced(conn, as_connect, hc):
    """A Contact that came from Salesforce (as Connect writes it), as the project's model sees it."""
    with as_connect(conn):
        record_id = conn.execute(
            "INSERT INTO salesforce.contact (sfid, lastname, firstname, email, phone, external_id__c, isdeleted)"
            " VALUES (%s, 'Lovelace', 'Ada', 'ada@example.com', '+1 555 0100', 'ext-ada', false) RETURNING id",
            (SFID,)).fetchone()["id"]
    return hc.Contact.objects.get(id=record_id)


# --- the live log after the project's own writes ------------------------------------------------


def test_an_orm_insert_is_in_the_live_trigger_log(conn, hc):
    contact = hc.Contact.objects.create(last_name="Hopper", first_name="Grace", external_id="ext-1")
    (entry,) = hc.TriggerLog.objects.all()
    assert (entry.action, entry.state, entry.table_name, entry.record_id) == ("INSERT", "NEW", "contact", contact.id)
    assert entry.sf_id is None and entry.old is None and not entry.is_archived
    assert entry.values_as_dict["lastname"] == "Hopper" and entry.values_as_dict["external_id__c"] == "ext-1"
    assert "_hc_lastop" not in entry.values_as_dict
    assert entry.get_model() == contact and entry.get_model()._hc_lastop == connect.PENDING


def test_an_orm_update_logs_only_the_changed_field(conn, hc, synced):
    synced.phone = "+1 555 0199"
    synced.save(update_fields=["phone"])
    entry = hc.TriggerLog.objects.latest()
    assert (entry.action, entry.state, entry.sf_id) == ("UPDATE", "NEW", SFID)
    assert entry.values_as_dict == {"phone": "+1 555 0199"}
    assert hc.TriggerLog.objects.related_to(entry).count() == 1


def test_the_librarys_router_refuses_writes_to_a_read_only_mapping(conn, hc):
    with pytest.raises(hc.WriteNotSupportedError):
        hc.Product.objects.create(name="Widget")
    assert log(conn) == []


def test_a_read_only_mapping_written_anyway_is_logged_readonly(conn, hc):
    with hc.no_write_restrictions():
        product = hc.Product.objects.create(name="Widget")
    (entry,) = hc.TriggerLog.objects.all()
    assert (entry.action, entry.state, entry.record_id) == ("INSERT", "READONLY", product.id)


# --- capture_insert_from_model / capture_update_from_model (Connect's hc_capture_* functions) -----


def test_capture_insert_from_model_logs_the_row_as_an_insert(conn, hc, synced):
    (entry,) = hc.TriggerLog.capture_insert_from_model("contact", synced.id)
    assert (entry.action, entry.state, entry.record_id) == ("INSERT", "NEW", synced.id)
    assert entry.values_as_dict["sfid"] == SFID and entry.values_as_dict["lastname"] == "Lovelace"
    assert not {"_hc_lastop", "_hc_err"} & entry.values_as_dict.keys()
    assert [r["action"] for r in log(conn)] == ["INSERT"]  # one row: the library runs the function once
    synced.refresh_from_db()
    assert synced._hc_lastop == connect.SYNCED  # the row itself is not written


def test_capture_insert_from_model_exclude_fields_reaches_connect_as_the_fields_values(conn, hc, synced):
    """A library bug, the same on Heroku: it sends ARRAY["email"], the column's value, not its name.

    hc_capture_insert_from_row excludes keys by name, so the field meant to be left out is logged.
    """
    hc.TriggerLog.capture_insert_from_model("contact", synced.id, exclude_fields=["email"])
    (entry,) = log(conn)
    assert entry["values"]["email"] == "ada@example.com"


def test_capture_update_from_model_logs_the_named_fields(conn, hc, synced):
    (entry,) = hc.TriggerLog.capture_update_from_model("contact", synced.id, update_fields=["phone", "email"])
    assert (entry.action, entry.state, entry.sf_id, entry.old) == ("UPDATE", "NEW", SFID, None)
    assert entry.values_as_dict == {"phone": "+1 555 0100", "email": "ada@example.com"}


def test_capture_update_from_model_takes_column_names_too(conn, hc, synced):
    (entry,) = hc.TriggerLog.capture_update_from_model("contact", synced.id, update_columns=["lastname"])
    assert entry.values_as_dict == {"lastname": "Lovelace"}


def test_capture_update_from_model_without_fields_logs_no_values(conn, hc, synced):
    """A library bug, the same on Heroku: for no fields it sends ARRAY['{}'] (psycopg2's empty list).

    That names one column, `{}`, which the row does not have, so the UPDATE carries no values
    instead of the whole row that Connect's function logs when no column is named.
    """
    (entry,) = hc.TriggerLog.capture_update_from_model("contact", synced.id)
    assert (entry.action, entry.sf_id, entry.values_as_dict) == ("UPDATE", SFID, {})


def test_capture_for_a_row_that_does_not_exist_logs_nothing(conn, hc):
    with pytest.raises(hc.TriggerLog.DoesNotExist):
        hc.TriggerLog.capture_update_from_model("contact", 999, update_columns=["phone"])
    assert log(conn) == []


# --- archived entries and redo() ------------------------------------------------------------------


@pytest.fixture
def refused(conn, hc, synced):
    """An update of the synced Contact that Salesforce refused, as Connect leaves it: archived FAILED."""
    synced.phone = "+1 555 0199"
    synced.save(update_fields=["phone"])
    refusals.refuse(conn, "contact", "Phone numbers are frozen.")
    return hc.TriggerLogArchive.objects.get()


def test_a_refused_write_is_a_failed_archived_entry_pointing_at_its_failed_row(conn, hc, refused, synced):
    assert list(hc.TriggerLogArchive.objects.failed()) == [refused]
    assert refused.is_archived and refused.sf_message == "Phone numbers are frozen."
    assert (refused.action, refused.values_as_dict) == ("UPDATE", {"phone": "+1 555 0199"})
    row = refused.get_model()
    assert row == synced and row._hc_lastop == connect.FAILED and "Phone numbers are frozen." in row._hc_err
    assert hc.TriggerLog.objects.count() == 0


def test_redo_with_merged_writes_copies_the_archived_entry_into_the_live_log(conn, hc, refused, write_algorithm):
    write_algorithm(ordered=False)
    refused.redo()
    assert [(r["state"], r["action"]) for r in log(conn, "_trigger_log_archive")] == [("REQUEUED", "UPDATE")]
    (entry,) = log(conn)
    assert (entry["state"], entry["action"], entry["record_id"], entry["sfid"]) == ("NEW", "UPDATE", refused.record_id,
                                                                                   SFID)
    assert entry["values"] == {"phone": "+1 555 0199"}


def test_redo_with_ordered_writes_logs_the_row_again_with_connects_function(conn, hc, refused, write_algorithm):
    write_algorithm(ordered=True)
    conn.execute("UPDATE salesforce.contact SET email = 'ada@lovelace.example' WHERE id = %s", (refused.record_id,))
    conn.execute("DELETE FROM salesforce._trigger_log")  # forget that change: only the redo is looked at
    refused.redo()
    assert [r["state"] for r in log(conn, "_trigger_log_archive")] == ["REQUEUED"]
    (entry,) = log(conn)
    # hc_capture_update_from_row with the archived entry's columns, at the row's current values
    assert (entry["state"], entry["action"], entry["sfid"]) == ("NEW", "UPDATE", SFID)
    assert entry["values"] == {"phone": "+1 555 0199"}


def test_redo_with_ordered_writes_of_a_refused_insert_logs_an_insert(conn, hc, write_algorithm):
    write_algorithm(ordered=True)
    contact = hc.Contact.objects.create(last_name="Hopper", external_id="ext-1")
    refusals.refuse(conn, "contact", "Required fields are missing: [Account]")
    hc.TriggerLogArchive.objects.get().redo()
    (entry,) = log(conn)
    assert (entry["state"], entry["action"], entry["record_id"]) == ("NEW", "INSERT", contact.id)
    assert entry["values"]["external_id__c"] == "ext-1"


def test_redo_of_a_live_entry_with_merged_writes_marks_it_new(conn, hc, write_algorithm, as_connect):
    write_algorithm(ordered=False)
    hc.Contact.objects.create(last_name="Hopper", external_id="ext-1")
    with as_connect(conn):
        conn.execute("UPDATE salesforce._trigger_log SET state = 'FAILED', sf_message = 'refused'")
    hc.TriggerLog.objects.failed().get().redo()
    assert [r["state"] for r in log(conn)] == ["NEW"]


# --- end to end: the local Connect sends what the library logged ------------------------------------


def test_a_refused_write_sent_again_with_redo_reaches_the_org(conn, hc, engine, local_org, write_algorithm):
    write_algorithm(ordered=False)
    contact = hc.Contact.objects.create(last_name="Hopper", first_name="Grace", external_id="ext-1")
    with db.connect(local_org.org.database_url) as c:
        store.refuse_writes(c, local_org.org.schema, "Contact", "LastName", "Last names are frozen.")
    try:
        engine.push_once()
    finally:
        with db.connect(local_org.org.database_url) as c:
            store.accept_writes(c, local_org.org.schema, "Contact", "LastName")
    (failed,) = hc.TriggerLogArchive.objects.failed()
    assert "Last names are frozen." in failed.sf_message and failed.get_model()._hc_lastop == connect.FAILED

    failed.redo()
    engine.push_once()

    contact.refresh_from_db()
    assert contact._hc_lastop == connect.INSERTED and contact.sf_id
    assert local_org.salesforce().Contact.get(contact.sf_id)["LastName"] == "Hopper"
    assert [e.state for e in hc.TriggerLogArchive.objects.related_to(failed)] == ["REQUEUED", "SUCCESS"]
