"""What `make run` shows of a change: one readable line per sync hop from the local Connect, against the local org."""

import logging

import pytest

from core import db, logs
from standins.connect import pull
from standins.connect.__main__ import Runner
from standins.org import refusals


@pytest.fixture
def hops(caplog):
    """The local Connect's INFO-and-above lines, as `make run` prints them."""
    caplog.set_level(logging.INFO, logger="standins.connect")

    def lines():
        return [logs.formatter().format(r) for r in caplog.records if r.name.startswith("standins.connect")]

    caplog.clear()
    return lines


def file_case(conn, subject="Box arrived damaged"):
    """A case filed as the portal files it: a row in the Connect table, captured by the trigger log."""
    return conn.execute("INSERT INTO salesforce.case (subject, origin, external_id__c) VALUES (%s, 'Web', %s) "
                        "RETURNING id", (subject, f"ext-{subject}")).fetchone()["id"]


def test_a_filed_case_leaves_in_one_line_naming_it_and_the_id_salesforce_gave(conn, engine, hops):
    row_id = file_case(conn)
    engine.push_once()
    sfid = conn.execute("SELECT sfid FROM salesforce.case WHERE id = %s", (row_id,)).fetchone()["sfid"]
    [line] = hops()
    assert line.startswith('level=INFO logger=standins.connect.push request_id=- '
                           f'msg="Case “Box arrived damaged” → Salesforce: inserted {sfid} (1 row, ')
    assert " mapping=Case algorithm=merged api=soap rows=1 merged=0 api_calls=1 " in line and " failed=0 " in line


def test_a_refused_change_is_one_warning_with_salesforces_code_and_message(conn, engine, local_org, hops):
    with db.connect(local_org.org.database_url) as org:
        refusals.switch_on(org, local_org.org.schema, "validation", "Case", "Subject",
                           "Subjects may not mention boxes.")
    file_case(conn)
    engine.push_once()
    [line] = hops()
    assert line.startswith('level=WARNING logger=standins.connect.push request_id=- msg="Case “Box arrived damaged” '
                           '→ Salesforce: FAILED FIELD_CUSTOM_VALIDATION_EXCEPTION “Subjects may not mention boxes.” '
                           '(1 row, ')
    assert " failed=1 " in line


def test_an_edit_in_the_org_arrives_in_one_line_naming_the_record(conn, engine, sf, hops):
    contact = sf.Contact.create({"LastName": "Lee", "Email": "ann@example.com", "External_ID__c": "c-1"})["id"]
    pull.read(engine, "Contact")
    sf.Contact.update(contact, {"Phone": "+1 555 0100"})
    pull.read(engine, "Contact")
    arrived, edited = hops()
    assert 'msg="Contact ann@example.com ← Salesforce: inserted (poll, 1 row, ' in arrived
    assert edited.startswith('level=INFO logger=standins.connect.pull request_id=- '
                             'msg="Contact ann@example.com ← Salesforce: updated (poll, 1 row, ')
    assert " mapping=Contact rows=1 " in edited and " outcome=ok" in edited


def test_the_round_trip_of_a_case_is_two_lines_out_and_back_with_its_case_number(conn, engine, sf, hops):
    row_id = file_case(conn)
    engine.push_once()
    pull.read(engine, "Case")
    number = conn.execute("SELECT casenumber FROM salesforce.case WHERE id = %s", (row_id,)).fetchone()["casenumber"]
    out, back = hops()
    assert "Case “Box arrived damaged” → Salesforce: inserted " in out
    assert f'msg="Case {number} ← Salesforce: updated (poll, 1 row, ' in back


def test_a_cycle_that_sends_a_change_prints_its_hop_and_no_state_flips(conn, engine, hops):
    runner = Runner(engine)
    runner.cycle()  # the first cycle: provisions, reads every mapping (none due again for 10 minutes)
    first = len(hops())
    file_case(conn)
    runner.cycle()
    lines = hops()[first:]
    assert len(lines) == 1 and "Case “Box arrived damaged” → Salesforce: inserted " in lines[0]
