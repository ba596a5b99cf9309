"""The local org answers Bulk API 2.0 and Bulk API 1.0 as Salesforce does, for simple-salesforce and plain HTTP.

`wait=0` everywhere: simple-salesforce's Bulk 2.0 client sleeps `wait` seconds before its first poll,
and the org has finished a job by then (its Bulk 1.0 client polls first and sleeps only if not done).
"""

import csv
import io
import re

import pytest
import requests

from core import db
from standins.org import limits


@pytest.fixture
def http(sf):
    """Plain HTTP against the org with the client's session (Bulk 2.0 under /services/data)."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {sf.session_id}"
    return session


def data_url(local_org, path):
    return f"{local_org.url}/services/data/v59.0/{path}"


def async_url(local_org, path):
    return f"{local_org.url}/services/async/59.0/{path}"


def rows(text):
    return list(csv.reader(io.StringIO(text)))


def records(sf, soql):
    return sf.query_all(soql)["records"]


def remaining(sf, name):
    return sf.limits()[name]["Remaining"]


def set_maximum(local_org, name, value):
    with db.connect(local_org.org.database_url) as conn:
        limits.set_maximum(conn, local_org.org.schema, name, value)


# ---- Bulk API 2.0 ingest ------------------------------------------------------------------------

def test_bulk2_insert_from_a_csv_file_creates_the_records(sf, tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_text("FirstName,LastName,Email\nAda,Lovelace,ada@example.com\nGrace,Hopper,\n")
    [result] = sf.bulk2.Contact.insert(csv_file=str(path), wait=0)
    assert result["numberRecordsProcessed"] == 2 and result["numberRecordsFailed"] == 0
    assert result["numberRecordsTotal"] == 2 and result["job_id"].startswith("750")
    found = {r["LastName"]: r for r in records(sf, "SELECT Name, LastName, Email FROM Contact")}
    assert found["Lovelace"]["Name"] == "Ada Lovelace" and found["Hopper"]["Email"] is None


def test_bulk2_failed_records_carry_salesforce_error_text_and_successes_their_ids(sf):
    [result] = sf.bulk2.Contact.insert(records=[{"FirstName": "Ada", "LastName": "Lovelace"},
                                                {"FirstName": "Nameless", "LastName": ""}], wait=0)
    assert result["numberRecordsProcessed"] == 2 and result["numberRecordsFailed"] == 1
    failed = rows(sf.bulk2.Contact.get_failed_records(result["job_id"]))
    assert failed[0][:2] == ["sf__Id", "sf__Error"]
    assert failed[1][:2] == ["", "REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --"]
    assert dict(zip(failed[0], failed[1], strict=True))["FirstName"] == "Nameless"
    succeeded = rows(sf.bulk2.Contact.get_successful_records(result["job_id"]))
    assert succeeded[0][:2] == ["sf__Id", "sf__Created"]
    assert succeeded[1][0].startswith("003") and succeeded[1][1] == "true"
    assert rows(sf.bulk2.Contact.get_unprocessed_records(result["job_id"])) == [succeeded[0][2:]]


def test_bulk2_results_are_quoted_csv_as_salesforce_writes_them(sf):
    [result] = sf.bulk2.Contact.insert(records=[{"LastName": "Quoted"}], wait=0)
    text = sf.bulk2.Contact.get_successful_records(result["job_id"])
    assert text.startswith('"sf__Id","sf__Created","LastName"\n"003')


def test_bulk2_upsert_by_external_id_creates_then_updates(sf):
    first = sf.bulk2.Contact.upsert(records=[{"External_ID__c": "ext-1", "LastName": "Turing"}],
                                    external_id_field="External_ID__c", wait=0)
    second = sf.bulk2.Contact.upsert(records=[{"External_ID__c": "ext-1", "FirstName": "Alan", "LastName": "Turing"}],
                                     external_id_field="External_ID__c", wait=0)
    created = rows(sf.bulk2.Contact.get_successful_records(first[0]["job_id"]))[1]
    updated = rows(sf.bulk2.Contact.get_successful_records(second[0]["job_id"]))[1]
    assert created[1] == "true" and updated[1] == "false" and created[0] == updated[0]
    assert [r["Name"] for r in records(sf, "SELECT Name FROM Contact")] == ["Alan Turing"]


def test_bulk2_update_and_delete_apply_the_orgs_rules(sf):
    ada = sf.Contact.create({"LastName": "Lovelace"})["id"]
    [updated] = sf.bulk2.Contact.update(records=[{"Id": ada, "Email": "ada@example.com"}], wait=0)
    assert updated["numberRecordsFailed"] == 0
    assert sf.Contact.get(ada)["Email"] == "ada@example.com"
    [refused] = sf.bulk2.Contact.update(records=[{"Id": ada, "Email": "not-an-email"}], wait=0)
    assert refused["numberRecordsFailed"] == 1
    error = rows(sf.bulk2.Contact.get_failed_records(refused["job_id"]))[1][1]
    assert error.startswith("INVALID_EMAIL_ADDRESS:") and error.endswith(":Email --")
    [deleted] = sf.bulk2.Contact.delete(records=[{"Id": ada}], wait=0)
    assert deleted["numberRecordsProcessed"] == 1 and records(sf, "SELECT Id FROM Contact") == []
    assert sf.query_all("SELECT Id, IsDeleted FROM Contact", include_deleted=True)["records"][0]["IsDeleted"] is True


def test_bulk2_hard_delete_leaves_nothing_in_the_recycle_bin(sf):
    ada = sf.Contact.create({"LastName": "Lovelace"})["id"]
    sf.bulk2.Contact.hard_delete(records=[{"Id": ada}], wait=0)
    assert sf.query_all("SELECT Id FROM Contact", include_deleted=True)["records"] == []


def test_bulk2_deleting_a_missing_record_fails_that_record_only(sf):
    ada = sf.Contact.create({"LastName": "Lovelace"})["id"]
    missing = ada[:3] + "000000000001" + ada[15:]
    [result] = sf.bulk2.Contact.delete(records=[{"Id": ada}, {"Id": missing}], wait=0)
    assert result["numberRecordsProcessed"] == 2 and result["numberRecordsFailed"] == 1
    failed = rows(sf.bulk2.Contact.get_failed_records(result["job_id"]))[1]
    assert failed[1].startswith("INVALID_CROSS_REFERENCE_KEY:invalid cross reference id:")


def test_bulk2_job_info_has_every_key_salesforce_returns(sf, http, local_org):
    created = http.post(data_url(local_org, "jobs/ingest"), json={
        "object": "contact", "operation": "upsert", "externalIdFieldName": "external_id__c",
        "lineEnding": "CRLF", "columnDelimiter": "SEMICOLON"}).json()
    assert created["state"] == "Open" and created["object"] == "Contact"
    assert created["externalIdFieldName"] == "External_ID__c" and created["concurrencyMode"] == "Parallel"
    assert created["contentUrl"] == f"services/data/v59.0/jobs/ingest/{created['id']}/batches"
    assert created["apiVersion"] == 59.0 and created["createdById"].startswith("005")
    assert (created["lineEnding"], created["columnDelimiter"], created["contentType"]) == ("CRLF", "SEMICOLON", "CSV")
    put = http.put(data_url(local_org, created["contentUrl"].split("v59.0/")[1]),
                   data=b"External_ID__c;LastName\r\next-9;Babbage\r\n", headers={"Content-Type": "text/csv"})
    assert put.status_code == 201 and put.content == b""
    closed = http.patch(data_url(local_org, f"jobs/ingest/{created['id']}"), json={"state": "UploadComplete"})
    assert closed.json()["state"] == "UploadComplete"
    job = http.get(data_url(local_org, f"jobs/ingest/{created['id']}")).json()
    assert job["state"] == "JobComplete" and job["jobType"] == "V2Ingest"
    assert {"numberRecordsProcessed", "numberRecordsFailed", "retries", "totalProcessingTime",
            "apiActiveProcessingTime", "apexProcessingTime", "systemModstamp", "createdDate"} <= set(job)
    assert job["numberRecordsProcessed"] == 1
    success = http.get(data_url(local_org, f"jobs/ingest/{created['id']}/successfulResults/"))
    assert success.text.startswith('"sf__Id";"sf__Created";"External_ID__c";"LastName"\r\n')


def test_bulk2_job_list_pages_like_salesforce(sf, http, local_org):
    sf.bulk2.Contact.insert(records=[{"LastName": "Listed"}], wait=0)
    listing = http.get(data_url(local_org, "jobs/ingest")).json()
    assert listing["done"] is True and listing["nextRecordsUrl"] is None
    [job] = listing["records"]
    assert job["jobType"] == "V2Ingest" and job["state"] == "JobComplete" and job["object"] == "Contact"
    assert http.get(data_url(local_org, "jobs/ingest"), params={"isPkChunkingEnabled": "true"}).json()["records"] == []


def test_bulk2_a_second_upload_and_a_late_upload_are_refused(http, local_org):
    job = http.post(data_url(local_org, "jobs/ingest"), json={"object": "Contact", "operation": "insert"}).json()
    url = data_url(local_org, f"jobs/ingest/{job['id']}/batches")
    assert http.put(url, data=b"LastName\nOne\n").status_code == 201
    again = http.put(url, data=b"LastName\nTwo\n")
    assert again.status_code == 400 and again.json()[0]["errorCode"] == "INVALIDJOB"
    assert "Found multiple contents for job" in again.json()[0]["message"]


def test_bulk2_an_aborted_job_lists_its_records_as_unprocessed(http, local_org):
    job = http.post(data_url(local_org, "jobs/ingest"), json={"object": "Contact", "operation": "insert"}).json()
    http.put(data_url(local_org, f"jobs/ingest/{job['id']}/batches"), data=b"LastName\nNever\n")
    aborted = http.patch(data_url(local_org, f"jobs/ingest/{job['id']}"), json={"state": "Aborted"}).json()
    assert aborted["state"] == "Aborted"
    unprocessed = http.get(data_url(local_org, f"jobs/ingest/{job['id']}/unprocessedrecords/"))
    assert rows(unprocessed.text) == [["LastName"], ["Never"]]


def test_bulk2_an_unknown_column_or_a_wrong_line_ending_fails_the_job(http, local_org):
    for data, message in ((b"LastName,Nickname__c\nX,Y\n", "InvalidBatch : Field name not found : Nickname__c"),
                          (b"LastName\r\nX\r\n", "ClientInputError : LineEnding is invalid on user data. "
                                                 "Current LineEnding setting is LF")):
        job = http.post(data_url(local_org, "jobs/ingest"), json={"object": "Contact", "operation": "insert"}).json()
        http.put(data_url(local_org, f"jobs/ingest/{job['id']}/batches"), data=data)
        http.patch(data_url(local_org, f"jobs/ingest/{job['id']}"), json={"state": "UploadComplete"})
        info = http.get(data_url(local_org, f"jobs/ingest/{job['id']}")).json()
        assert info["state"] == "Failed" and info["errorMessage"] == message


def test_bulk2_a_deleted_job_is_not_found(sf, http, local_org):
    [result] = sf.bulk2.Contact.insert(records=[{"LastName": "Gone"}], wait=0)
    assert http.delete(data_url(local_org, f"jobs/ingest/{result['job_id']}")).status_code == 204
    missing = http.get(data_url(local_org, f"jobs/ingest/{result['job_id']}"))
    assert missing.status_code == 404 and missing.json()[0]["errorCode"] == "NOT_FOUND"


def test_bulk2_ingest_counts_daily_bulk_batches_and_fails_once_they_are_spent(sf, local_org):
    before = remaining(sf, "DailyBulkApiBatches")
    sf.bulk2.Contact.insert(records=[{"LastName": "Counted"}], wait=0)
    assert remaining(sf, "DailyBulkApiBatches") == before - 1
    set_maximum(local_org, "DailyBulkApiBatches", 15000 - before + 1)
    with pytest.raises(Exception, match="ExceededQuota"):
        sf.bulk2.Contact.insert(records=[{"LastName": "Refused"}], wait=0)
    assert [r["LastName"] for r in records(sf, "SELECT LastName FROM Contact")] == ["Counted"]


# ---- Bulk API 2.0 query -------------------------------------------------------------------------

def test_bulk2_query_writes_values_as_salesforce_does(sf):
    sf.Product2.create({"Name": "Widget", "IsActive": True})
    [text] = list(sf.bulk2.Product2.query("SELECT Name, IsActive, Description, CreatedDate FROM Product2", wait=0))
    header, row = rows(text)
    assert header == ["Name", "IsActive", "Description", "CreatedDate"]
    assert row[:3] == ["Widget", "true", ""] and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", row[3])
    assert text.startswith('"Name","IsActive","Description","CreatedDate"\n"Widget","true","",')


def test_bulk2_query_pages_by_locator_and_query_all_sees_deleted_records(sf):
    ids = [sf.Contact.create({"LastName": f"C{i}"})["id"] for i in range(3)]
    pages = list(sf.bulk2.Contact.query("SELECT LastName FROM Contact ORDER BY LastName", max_records=2, wait=0))
    assert [rows(p)[1:] for p in pages] == [[["C0"], ["C1"]], [["C2"]]]
    sf.Contact.delete(ids[0])
    assert sum(len(rows(p)) - 1 for p in sf.bulk2.Contact.query("SELECT Id FROM Contact", wait=0)) == 2
    assert sum(len(rows(p)) - 1 for p in sf.bulk2.Contact.query_all("SELECT Id FROM Contact", wait=0)) == 3


def test_bulk2_download_writes_each_page_to_a_file(sf, tmp_path):
    sf.Contact.create({"LastName": "Saved"})
    [result] = sf.bulk2.Contact.download("SELECT LastName FROM Contact", path=str(tmp_path), wait=0)
    assert result["number_of_records"] == 1 and result["locator"] == ""
    assert rows(open(result["file"]).read()) == [["LastName"], ["Saved"]]


def test_bulk2_query_results_headers_and_job_info(sf, http, local_org):
    sf.Contact.create({"LastName": "Header"})
    job = http.post(data_url(local_org, "jobs/query"), json={"operation": "query",
                                                             "query": "SELECT Id FROM Contact"}).json()
    assert job["state"] == "UploadComplete" and job["object"] == "Contact" and job["operation"] == "query"
    info = http.get(data_url(local_org, f"jobs/query/{job['id']}")).json()
    assert info["state"] == "JobComplete" and info["numberRecordsProcessed"] == 1 and info["jobType"] == "V2Query"
    answer = http.get(data_url(local_org, f"jobs/query/{job['id']}/results"), params={"maxRecords": 5})
    assert answer.headers["Sforce-Locator"] == "null" and answer.headers["Sforce-NumberOfRecords"] == "1"
    assert answer.headers["Content-Type"].startswith("text/csv")
    listed = http.get(data_url(local_org, "jobs/query")).json()
    assert [j["id"] for j in listed["records"]] == [job["id"]] and listed["done"] is True


@pytest.mark.parametrize("soql", ["SELECT COUNT() FROM Contact", "SELECT Id FROM Contact OFFSET 1",
                                  "SELECT Id, (SELECT Id FROM Cases) FROM Contact",
                                  "SELECT LastName, COUNT(Id) FROM Contact GROUP BY LastName"])
def test_bulk2_query_refuses_what_salesforce_refuses(http, local_org, soql):
    refused = http.post(data_url(local_org, "jobs/query"), json={"operation": "query", "query": soql})
    assert refused.status_code == 400 and refused.json()[0]["errorCode"] == "API_ERROR"


def test_bulk2_query_of_an_unknown_field_is_the_soql_error(http, local_org):
    refused = http.post(data_url(local_org, "jobs/query"), json={"operation": "query",
                                                                 "query": "SELECT Nickname FROM Contact"})
    assert refused.status_code == 400 and refused.json()[0]["errorCode"] == "INVALID_FIELD"
    assert http.get(data_url(local_org, "jobs/query")).json()["records"] == []


def test_bulk2_query_counts_jobs_and_stored_results_and_refuses_past_the_allowance(sf, http, local_org):
    jobs, storage = remaining(sf, "DailyBulkV2QueryJobs"), remaining(sf, "DailyBulkV2QueryFileStorageMB")
    sf.Contact.create({"LastName": "Stored"})
    list(sf.bulk2.Contact.query("SELECT Id FROM Contact", wait=0))
    assert remaining(sf, "DailyBulkV2QueryJobs") == jobs - 1
    assert remaining(sf, "DailyBulkV2QueryFileStorageMB") == storage - 1
    set_maximum(local_org, "DailyBulkV2QueryJobs", 1)
    refused = http.post(data_url(local_org, "jobs/query"), json={"operation": "query",
                                                                 "query": "SELECT Id FROM Contact"})
    assert refused.status_code == 400 and refused.json()[0]["errorCode"] == "LIMIT_EXCEEDED"
    assert refused.json()[0]["message"] == "Max bulk v2 query jobs (1) per 24 hrs has been reached (2)"


# ---- Bulk API 1.0 -------------------------------------------------------------------------------

def test_bulk1_insert_answers_per_record_results(sf):
    results = sf.bulk.Contact.insert([{"LastName": "Lovelace", "Email": "ada@example.com"}, {"FirstName": "Nobody"}])
    assert results[0]["success"] is True and results[0]["created"] is True and results[0]["id"].startswith("003")
    assert results[1]["success"] is False and results[1]["id"] is None
    assert results[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert results[1]["errors"][0]["fields"] == ["LastName"]
    assert sf.Contact.get(results[0]["id"])["Email"] == "ada@example.com"


def test_bulk1_update_upsert_and_delete(sf):
    ada = sf.Contact.create({"LastName": "Lovelace"})["id"]
    [updated] = sf.bulk.Contact.update([{"Id": ada, "Phone": "+1 555 0100"}])
    assert updated == {"success": True, "created": False, "id": ada, "errors": []}
    first, second = sf.bulk.Contact.upsert([{"External_ID__c": "b-1", "LastName": "Byron"},
                                            {"External_ID__c": "b-2", "LastName": "Shelley"}], "External_ID__c")
    assert first["created"] and second["created"]
    [again] = sf.bulk.Contact.upsert([{"External_ID__c": "b-1", "FirstName": "Ada"}], "External_ID__c")
    assert again["created"] is False and again["id"] == first["id"]
    [gone] = sf.bulk.Contact.delete([{"Id": ada}])
    assert gone["success"] is True
    assert sorted(r["LastName"] for r in records(sf, "SELECT LastName FROM Contact")) == ["Byron", "Shelley"]


def test_bulk1_query_and_query_all(sf):
    keep = sf.Contact.create({"LastName": "Kept"})["id"]
    sf.Contact.delete(sf.Contact.create({"LastName": "Deleted"})["id"])
    found = sf.bulk.Contact.query("SELECT Id, LastName, CreatedDate FROM Contact")
    assert [r["Id"] for r in found] == [keep]
    assert found[0]["attributes"]["type"] == "Contact" and isinstance(found[0]["CreatedDate"], int)
    assert {r["LastName"] for r in sf.bulk.Contact.query_all("SELECT LastName FROM Contact")} == {"Kept", "Deleted"}


def test_bulk1_counts_a_batch_and_each_call(sf):
    batches, calls = remaining(sf, "DailyBulkApiBatches"), remaining(sf, "DailyApiRequests")
    sf.bulk.Contact.insert([{"LastName": "One"}, {"LastName": "Two"}], batch_size=1)
    assert remaining(sf, "DailyBulkApiBatches") == batches - 2
    # limits/ twice, job, two batches, two statuses, two results, close: ten calls
    assert remaining(sf, "DailyApiRequests") == calls - 10


XML_JOB = """<?xml version="1.0" encoding="UTF-8"?>
<jobInfo xmlns="http://www.force.com/2009/06/asyncapi/dataload">
  <operation>{operation}</operation><object>Contact</object><contentType>CSV</contentType>
</jobInfo>"""
CLOSE_JOB = """<?xml version="1.0" encoding="UTF-8"?>
<jobInfo xmlns="http://www.force.com/2009/06/asyncapi/dataload"><state>Closed</state></jobInfo>"""


def test_bulk1_xml_job_with_a_csv_batch_as_jsforce_sends_it(sf, local_org):
    session = {"X-SFDC-Session": sf.session_id}
    job = requests.post(async_url(local_org, "job"), data=XML_JOB.format(operation="insert"),
                        headers={**session, "Content-Type": "application/xml; charset=utf-8"})
    assert job.status_code == 201 and job.headers["Content-Type"].startswith("application/xml")
    assert "<state>Open</state>" in job.text and "<contentType>CSV</contentType>" in job.text
    job_id = job.text.split("<id>")[1].split("</id>")[0]
    batch = requests.post(async_url(local_org, f"job/{job_id}/batch"), headers={**session, "Content-Type": "text/csv"},
                          data="LastName,Email\nLovelace,ada@example.com\nNobody,#N/A\n,x@example.com\n")
    assert batch.status_code == 201 and "<batchInfo" in batch.text
    batch_id = batch.text.split("<id>")[1].split("</id>")[0]
    status = requests.get(async_url(local_org, f"job/{job_id}/batch/{batch_id}"), headers=session)
    assert "<state>Completed</state>" in status.text and "<numberRecordsFailed>1</numberRecordsFailed>" in status.text
    result = requests.get(async_url(local_org, f"job/{job_id}/batch/{batch_id}/result"), headers=session)
    lines = rows(result.text)
    assert lines[0] == ["Id", "Success", "Created", "Error"]
    assert lines[1][1:] == ["true", "true", ""] and lines[1][0].startswith("003")
    assert lines[3] == ["", "false", "false",
                        "REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --"]
    closed = requests.post(async_url(local_org, f"job/{job_id}"), data=CLOSE_JOB,
                           headers={**session, "Content-Type": "application/xml"})
    assert "<state>Closed</state>" in closed.text
    assert "<numberRecordsProcessed>3</numberRecordsProcessed>" in closed.text
    assert "<numberBatchesCompleted>1</numberBatchesCompleted>" in closed.text
    assert sorted(r["LastName"] for r in records(sf, "SELECT LastName FROM Contact")) == ["Lovelace", "Nobody"]


def test_bulk1_xml_query_job_gives_result_ids_then_csv(sf, local_org):
    sf.Contact.create({"LastName": "Queried"})
    session = {"X-SFDC-Session": sf.session_id}
    job = requests.post(async_url(local_org, "job"), data=XML_JOB.format(operation="query"),
                        headers={**session, "Content-Type": "application/xml"})
    job_id = job.text.split("<id>")[1].split("</id>")[0]
    batch = requests.post(async_url(local_org, f"job/{job_id}/batch"), data="SELECT Id, LastName FROM Contact",
                          headers={**session, "Content-Type": "text/csv"})
    batch_id = batch.text.split("<id>")[1].split("</id>")[0]
    listed = requests.get(async_url(local_org, f"job/{job_id}/batch/{batch_id}/result"), headers=session)
    assert "<result-list" in listed.text
    result_id = listed.text.split("<result>")[1].split("</result>")[0]
    assert result_id.startswith("752")
    answer = requests.get(async_url(local_org, f"job/{job_id}/batch/{batch_id}/result/{result_id}"), headers=session)
    assert rows(answer.text)[0] == ["Id", "LastName"] and rows(answer.text)[1][1] == "Queried"


def test_bulk1_errors_are_bulk_exceptions(sf, local_org):
    bad = requests.post(async_url(local_org, "job"), data=XML_JOB.format(operation="insert"),
                        headers={"X-SFDC-Session": "nope", "Content-Type": "application/xml"})
    assert bad.status_code == 400 and "<exceptionCode>InvalidSessionId</exceptionCode>" in bad.text
    as_json = requests.get(async_url(local_org, "job/750000000000000AAA"),
                           headers={"X-SFDC-Session": sf.session_id, "Content-Type": "application/json"})
    assert as_json.status_code == 400 and as_json.json()["exceptionCode"] == "InvalidJob"
    chunked = requests.post(async_url(local_org, "job"), data=XML_JOB.format(operation="query"),
                            headers={"X-SFDC-Session": sf.session_id, "Content-Type": "application/xml",
                                     "Sforce-Enable-PKChunking": "chunkSize=1000"})
    assert chunked.status_code == 400 and "PK chunking" in chunked.text


def test_bulk1_a_failed_query_batch_says_why(sf):
    with pytest.raises(Exception, match="Failed to process query: FUNCTIONALITY_NOT_ENABLED"):
        sf.bulk.Contact.query("SELECT COUNT() FROM Contact")


def test_bulk1_a_batch_past_the_daily_allowance_is_exceeded_quota(sf, local_org):
    set_maximum(local_org, "DailyBulkApiBatches", 15000 - remaining(sf, "DailyBulkApiBatches"))
    session = {"X-SFDC-Session": sf.session_id}
    job = requests.post(async_url(local_org, "job"), data=XML_JOB.format(operation="insert"),
                        headers={**session, "Content-Type": "application/xml"})
    job_id = job.text.split("<id>")[1].split("</id>")[0]
    refused = requests.post(async_url(local_org, f"job/{job_id}/batch"), data="LastName\nLate\n",
                            headers={**session, "Content-Type": "text/csv"})
    assert refused.status_code == 400 and "<exceptionCode>ExceededQuota</exceptionCode>" in refused.text
    assert records(sf, "SELECT Id FROM Contact") == []


def test_bulk2_a_parent_column_by_external_id_sets_the_reference(sf):
    contact = sf.Contact.create({"LastName": "Parent", "External_ID__c": "p-1"})["id"]
    [result] = sf.bulk2.Case.insert(records=[{"Subject": "Child", "Contact.External_ID__c": "p-1"}], wait=0)
    assert result["numberRecordsFailed"] == 0
    assert records(sf, "SELECT ContactId FROM Case")[0]["ContactId"] == contact
