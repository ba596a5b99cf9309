"""SOQL as integrators write it, through simple-salesforce and plain REST: the shapes and errors Salesforce answers."""

from datetime import UTC, datetime, timedelta

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

from core import db
from standins.org import date_literals, queries
from standins.org.api.common import TIME_ZONE

FIELD_KEYS = {"aggregate", "apexType", "booleanType", "columnName", "custom", "displayName", "foreignKeyName",
              "insertable", "joinColumns", "numberType", "textType", "updatable"}


@pytest.fixture
def org(sf):
    """Two accounts with contacts, orders, cases and invoices; one account and one contact with nothing."""
    ids = {}
    ids["acme"] = sf.Account.create({"Name": "Acme", "Industry": "Construction"})["id"]
    ids["globex"] = sf.Account.create({"Name": "Globex", "Industry": "Education"})["id"]
    ids["initech"] = sf.Account.create({"Name": "Initech"})["id"]
    for key, first, last, account in [("ada", "Ada", "Lovelace", "acme"), ("grace", "Grace", "Hopper", "acme"),
                                      ("alan", "Alan", "Turing", "globex")]:
        ids[key] = sf.Contact.create({"FirstName": first, "LastName": last, "AccountId": ids[account],
                                      "Email": f"{first.lower()}@example.com"})["id"]
    ids["loner"] = sf.Contact.create({"LastName": "Loner"})["id"]
    ids["widget"] = sf.Product2.create({"Name": "Widget", "Family": "Hardware"})["id"]
    ids["order"] = sf.Order.create({"AccountId": ids["acme"], "Status": "Draft", "EffectiveDate": "2024-01-15",
                                    "BillToContactId": ids["ada"]})["id"]
    ids["item"] = sf.OrderItem.create({"OrderId": ids["order"], "Product2Id": ids["widget"], "Quantity": 2,
                                       "UnitPrice": 10})["id"]
    ids["case"] = sf.Case.create({"Subject": "Broken", "AccountId": ids["acme"], "ContactId": ids["ada"],
                                  "Order__c": ids["order"]})["id"]
    for account, amount, status in [("acme", 100, "Issued"), ("acme", 50, "Paid"), ("globex", 70, "Issued")]:
        sf.Invoice__c.create({"Account__c": ids[account], "Amount__c": amount, "Status__c": status,
                              "Name": f"{account}-{amount}"})
    return ids


def refused(sf, query) -> dict:
    """The error Salesforce's REST API answers a query with (400, a JSON list)."""
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query(query)
    assert caught.value.status == 400
    return caught.value.content[0]


def url(obj, record_id):
    return f"/services/data/v59.0/sobjects/{obj}/{record_id}"


# ---- parent relationships -----------------------------------------------------------------------

def test_parent_fields_nest_under_the_relationship_name_in_select_order(sf, org):
    records = sf.query("SELECT Id, Account.Name, LastName, Account.Industry FROM Contact ORDER BY LastName")["records"]
    assert [list(r) for r in records] == [["attributes", "Id", "Account", "LastName"]] * 4
    hopper = records[0]
    assert hopper["Account"] == {"attributes": {"type": "Account", "url": url("Account", org["acme"])},
                                 "Name": "Acme", "Industry": "Construction"}
    assert list(hopper["Account"]) == ["attributes", "Name", "Industry"]
    assert [r["LastName"] for r in records] == ["Hopper", "Loner", "Lovelace", "Turing"]
    assert records[1]["Account"] is None  # an empty lookup is null, not an empty object


def test_parent_fields_go_several_levels_up_and_by_custom_relationships(sf, org):
    item = sf.query("SELECT Order.Account.Name, Order.BillToContact.Account.Industry FROM OrderItem")["records"][0]
    assert item["Order"]["attributes"] == {"type": "Order", "url": url("Order", org["order"])}
    assert item["Order"]["Account"]["Name"] == "Acme"
    assert item["Order"]["BillToContact"]["Account"]["Industry"] == "Construction"
    case = sf.query("SELECT Order__r.OrderNumber, Order__c FROM Case")["records"][0]
    assert case["Order__r"]["attributes"]["type"] == "Order" and case["Order__c"] == org["order"]
    assert case["Order__r"]["OrderNumber"]
    invoices = sf.query("SELECT Account__r.Name FROM Invoice__c ORDER BY Account__r.Name, Amount__c")["records"]
    assert [i["Account__r"]["Name"] for i in invoices] == ["Acme", "Acme", "Globex"]


def test_owners_and_authors_resolve_to_the_integration_user(sf, org):
    record = sf.query("SELECT Id, Account.Name, Account.Owner.Name, CreatedBy.Username FROM Contact "
                      "WHERE LastName = 'Lovelace'")["records"][0]
    assert record["Account"]["Name"] == "Acme"
    assert record["Account"]["Owner"]["attributes"]["type"] == "User"
    assert record["Account"]["Owner"]["Name"] == sf.query("SELECT Name FROM User")["records"][0]["Name"]
    assert record["CreatedBy"]["Username"] == "developer@local.org"
    owned = sf.query("SELECT Owner.Username, COUNT(Id) n FROM Account GROUP BY Owner.Username")["records"]
    assert owned == [{"attributes": {"type": "AggregateResult"}, "Username": "developer@local.org", "n": 3}]


def test_names_are_case_insensitive_and_come_back_canonical(sf, org):
    record = sf.query("select id, account.name, ACCOUNT.industry from CONTACT where lastname = 'turing'")["records"][0]
    assert list(record) == ["attributes", "Id", "Account"]
    assert record["Account"] == {"attributes": {"type": "Account", "url": url("Account", org["globex"])},
                                 "Name": "Globex", "Industry": "Education"}


def test_relationship_fields_filter_and_order(sf, org):
    names = [r["LastName"] for r in sf.query(
        "SELECT LastName FROM Contact WHERE Account.Name = 'ACME' ORDER BY Account.Name, LastName DESC")["records"]]
    assert names == ["Lovelace", "Hopper"]
    ordered = [r["LastName"] for r in sf.query(
        "SELECT LastName FROM Contact ORDER BY Account.Name DESC NULLS LAST, LastName")["records"]]
    assert ordered == ["Turing", "Hopper", "Lovelace", "Loner"]
    nulls_first = [r["LastName"] for r in sf.query("SELECT LastName FROM Contact ORDER BY Account.Name, LastName"
                                                   )["records"]]
    assert nulls_first == ["Loner", "Hopper", "Lovelace", "Turing"]  # Salesforce sorts nulls first by default
    assert [r["LastName"] for r in sf.query("SELECT LastName FROM Contact WHERE Account.Name = null")["records"]] == [
        "Loner"]


def test_text_sorts_case_insensitively(sf):
    for subject in ("beta", "Alpha", "gamma", "Delta"):
        sf.Case.create({"Subject": subject})
    subjects = [r["Subject"] for r in sf.query("SELECT Subject FROM Case ORDER BY Subject DESC")["records"]]
    assert subjects == ["gamma", "Delta", "beta", "Alpha"]


def test_an_unknown_relationship_is_invalid_field(sf, org):
    error = refused(sf, "SELECT Id, Account.Keeper.Name FROM Contact")
    assert error["errorCode"] == "INVALID_FIELD"
    assert error["message"].startswith("Didn't understand relationship 'Keeper' in field path.")
    assert refused(sf, "SELECT Account.Nope__c FROM Contact")["errorCode"] == "INVALID_FIELD"
    assert refused(sf, "SELECT Id FROM Contact WHERE Acount.Name = 'x'")["errorCode"] == "INVALID_FIELD"


def test_ids_compare_in_either_length_and_a_malformed_one_is_refused(sf, org):
    short = org["acme"][:15]
    by_id = f"SELECT Name FROM Account WHERE Id = '{short}'"  # noqa: S608 (SOQL, not SQL)
    assert [r["Name"] for r in sf.query(by_id)["records"]] == ["Acme"]
    by_parent = f"SELECT COUNT() FROM Contact WHERE AccountId IN ('{short}')"  # noqa: S608 (SOQL, not SQL)
    assert sf.query(by_parent)["totalSize"] == 2
    error = refused(sf, "SELECT Name FROM Account WHERE Id = 'acme'")
    assert error == {"message": "invalid ID field: acme", "errorCode": "INVALID_QUERY_FILTER_OPERATOR", "fields": []}
    assert refused(sf, "SELECT Name FROM Account WHERE Id LIKE '001%'")["errorCode"] == "INVALID_QUERY_FILTER_OPERATOR"


def test_datetime_fields_in_the_record_json_compare_as_instants(sf, org):
    sf.Order.update(org["order"], {"ActivatedDate": "2024-03-01T12:00:00.000+0000"})
    count = lambda condition: sf.query(f"SELECT COUNT() FROM Order WHERE {condition}")["totalSize"]  # noqa: E731,S608
    assert count("ActivatedDate = 2024-03-01T13:00:00+01:00") == 1
    assert count("ActivatedDate > 2024-03-01T12:00:00Z") == 0 and count("ActivatedDate < TODAY") == 1
    assert count("DAY_ONLY(ActivatedDate) = 2024-03-01") == 1 and count("HOUR_IN_DAY(ActivatedDate) = 12") == 1
    assert count("HOUR_IN_DAY(convertTimezone(ActivatedDate)) = 4") == 1  # 04:00 in Los Angeles


def test_long_text_areas_neither_filter_nor_sort(sf, org):
    assert refused(sf, "SELECT Id FROM Case WHERE Description = 'x'") == {
        "message": "field 'Description' can not be filtered in a query call", "errorCode": "MALFORMED_QUERY",
        "fields": []}
    assert refused(sf, "SELECT Id FROM Case ORDER BY Description")["message"] == (
        "field 'Description' can not be sorted in a query call")
    assert sf.query("SELECT Description FROM Case")["totalSize"] == 1  # selecting one is fine


def test_a_field_path_crosses_at_most_five_relationships(sf, org):
    assert refused(sf, "SELECT Order.Account.Owner.Manager.Manager.Manager.Name FROM OrderItem")[
        "errorCode"] == "MALFORMED_QUERY"


# ---- child subqueries ---------------------------------------------------------------------------

def test_child_subqueries_nest_their_records_or_null(sf, org):
    records = sf.query("SELECT Name, (SELECT LastName, Account.Name FROM Contacts ORDER BY LastName), "
                       "(SELECT Amount__c FROM Invoices__r WHERE Status__c = 'Issued') FROM Account ORDER BY Name"
                       )["records"]
    acme, globex, initech = records
    assert list(acme) == ["attributes", "Name", "Contacts", "Invoices__r"]
    assert acme["Contacts"]["totalSize"] == 2 and acme["Contacts"]["done"] is True
    assert [c["LastName"] for c in acme["Contacts"]["records"]] == ["Hopper", "Lovelace"]
    first = acme["Contacts"]["records"][0]
    assert first["attributes"] == {"type": "Contact", "url": url("Contact", org["grace"])}
    assert first["Account"]["Name"] == "Acme"
    assert [i["Amount__c"] for i in acme["Invoices__r"]["records"]] == [100.0]
    assert globex["Contacts"]["totalSize"] == 1
    assert initech["Contacts"] is None and initech["Invoices__r"] is None


def test_child_subqueries_take_limit_per_parent_and_offset_under_limit_one(sf, org):
    records = sf.query("SELECT Name, (SELECT LastName FROM Contacts ORDER BY LastName DESC LIMIT 1) FROM Account "
                       "WHERE Name != 'Initech' ORDER BY Name")["records"]
    assert [[c["LastName"] for c in r["Contacts"]["records"]] for r in records] == [["Lovelace"], ["Turing"]]
    one = sf.query("SELECT Name, (SELECT LastName FROM Contacts ORDER BY LastName LIMIT 1 OFFSET 1) FROM Account "
                   "WHERE Name = 'Acme' LIMIT 1")["records"][0]
    assert [c["LastName"] for c in one["Contacts"]["records"]] == ["Lovelace"]
    assert refused(sf, "SELECT Name, (SELECT LastName FROM Contacts LIMIT 1 OFFSET 1) FROM Account")[
        "errorCode"] == "MALFORMED_QUERY"


def test_subqueries_nest_below_subqueries(sf, org):
    account = sf.query("SELECT Name, (SELECT OrderNumber, (SELECT Quantity, Product2.Name FROM OrderItems) "
                       "FROM Orders) FROM Account WHERE Name = 'Acme'")["records"][0]
    order = account["Orders"]["records"][0]
    assert order["OrderItems"]["records"][0]["Quantity"] == 2.0
    assert order["OrderItems"]["records"][0]["Product2"]["Name"] == "Widget"


def test_an_unknown_child_relationship_is_invalid_type(sf, org):
    error = refused(sf, "SELECT Id, (SELECT Id FROM Contact) FROM Account")
    assert error["errorCode"] == "INVALID_TYPE"
    assert error["message"].startswith("Didn't understand relationship 'Contact' in FROM part of query call.")


def test_a_page_of_parents_runs_each_subquery_once(local_org, sf):
    for n in range(30):
        account = sf.Account.create({"Name": f"Account {n:02d}"})["id"]
        sf.Contact.create({"LastName": f"Contact {n:02d}", "AccountId": account})

    class Counting:
        """The org's connection, counting the statements sent through it."""

        def __init__(self, conn):
            self.conn, self.statements = conn, 0

        def execute(self, *args):
            self.statements += 1
            return self.conn.execute(*args)

    with db.connect(local_org.org.database_url) as conn:
        counting = Counting(conn)
        result, _ = queries.run_page(counting, "local_org", "SELECT Name, (SELECT LastName FROM Contacts), "
                                     "(SELECT Subject FROM Cases) FROM Account")
    assert result["totalSize"] == 30 and all(r["Contacts"]["totalSize"] == 1 for r in result["records"])
    assert counting.statements == 4  # count, page, one per subquery


def test_queries_run_page_by_page_without_a_request(local_org, sf, org):
    with db.connect(local_org.org.database_url) as conn:
        pages = list(queries.pages(conn, "local_org", "SELECT LastName, Account.Name FROM Contact ORDER BY LastName",
                                   page_size=3))
    assert [[r["LastName"] for r in page] for page in pages] == [["Hopper", "Loner", "Lovelace"], ["Turing"]]
    assert pages[1][0]["Account"]["Name"] == "Globex"


# ---- aggregates ---------------------------------------------------------------------------------

def test_aggregates_group_with_aliases_and_expr_names(sf, org):
    result = sf.query("SELECT AccountId acct, COUNT(Id) n, MAX(LastName), MIN(Email) FROM Contact "
                      "GROUP BY AccountId ORDER BY COUNT(Id) DESC, MAX(LastName)")
    assert result["totalSize"] == 3 and result["done"] is True
    assert result["records"][0] == {"attributes": {"type": "AggregateResult"}, "acct": org["acme"], "n": 2,
                                    "expr0": "Lovelace", "expr1": "ada@example.com"}
    assert [r["acct"] for r in result["records"]] == [org["acme"], None, org["globex"]]


def test_sum_avg_count_distinct_and_grouping_by_a_parent_field(sf, org):
    records = sf.query("SELECT Account__r.Name, SUM(Amount__c), AVG(Amount__c) average, COUNT(Status__c), "
                       "COUNT_DISTINCT(Status__c) FROM Invoice__c GROUP BY Account__r.Name ORDER BY Account__r.Name"
                       )["records"]
    assert records == [
        {"attributes": {"type": "AggregateResult"}, "Name": "Acme", "expr0": 150.0, "average": 75.0, "expr1": 2,
         "expr2": 2},
        {"attributes": {"type": "AggregateResult"}, "Name": "Globex", "expr0": 70.0, "average": 70.0, "expr1": 1,
         "expr2": 1}]


def test_having_filters_groups_and_an_ungrouped_aggregate_is_one_row(sf, org):
    records = sf.query("SELECT Account.Name, COUNT(Id) FROM Contact GROUP BY Account.Name HAVING COUNT(Id) > 1"
                       )["records"]
    assert [(r["Name"], r["expr0"]) for r in records] == [("Acme", 2)]
    total = sf.query("SELECT COUNT(Id), COUNT(AccountId), MIN(CreatedDate) earliest FROM Contact")["records"]
    assert len(total) == 1 and total[0]["expr0"] == 4 and total[0]["expr1"] == 3
    assert total[0]["earliest"].endswith("+0000")
    nothing = sf.query("SELECT COUNT(Id) FROM Contact WHERE LastName = 'nobody'")
    assert nothing["totalSize"] == 1 and nothing["records"][0]["expr0"] == 0


def test_aggregates_follow_salesforces_type_rules(sf, org):
    assert refused(sf, "SELECT SUM(Name) FROM Account") == {
        "message": "field Name does not support aggregate operator SUM", "errorCode": "MALFORMED_QUERY", "fields": []}
    error = refused(sf, "SELECT Name, COUNT(Id) FROM Account")
    assert error["errorCode"] == "MALFORMED_QUERY" and error["message"] == "Field must be grouped or aggregated: Name"
    assert refused(sf, "SELECT MAX(IsClosed) FROM Case")["errorCode"] == "MALFORMED_QUERY"
    grouped = refused(sf, "SELECT CreatedDate, COUNT(Id) FROM Account GROUP BY CreatedDate")
    assert grouped["message"] == "field 'CreatedDate' can not be grouped in a query call"
    assert refused(sf, "SELECT Name n FROM Account")["message"] == "only aggregate expressions use field aliasing"


def test_grouped_values_come_back_in_their_types_json_form(sf, org):
    closed = sf.query("SELECT IsClosed, COUNT(Id) FROM Case GROUP BY IsClosed")["records"]
    assert [(r["IsClosed"], r["expr0"]) for r in closed] == [(False, 1)]
    dated = sf.query("SELECT EffectiveDate, MAX(TotalAmount) FROM Order GROUP BY EffectiveDate")["records"]
    assert [(r["EffectiveDate"], r["expr0"]) for r in dated] == [("2024-01-15", 0.0)]
    days = sf.query("SELECT DAY_ONLY(CreatedDate) day, COUNT(Id) FROM Contact GROUP BY DAY_ONLY(CreatedDate)")
    created = {r["CreatedDate"][:10] for r in sf.query("SELECT CreatedDate FROM Contact")["records"]}
    assert {r["day"] for r in days["records"]} == created and sum(r["expr0"] for r in days["records"]) == 4


def test_more_than_2000_groups_is_exceeded_id_limit(sf, local_org):
    _accounts(sf, 2001)
    error = refused(sf, "SELECT Name, COUNT(Id) FROM Account GROUP BY Name")
    assert error["errorCode"] == "EXCEEDED_ID_LIMIT"
    assert error["message"] == ("Aggregate query does not support queryMore(), use LIMIT to restrict the results "
                                "to a single batch")
    assert sf.query("SELECT Name, COUNT(Id) FROM Account GROUP BY Name LIMIT 2000")["totalSize"] == 2000


def test_date_functions_group_and_filter(sf, org):
    year = datetime.now(UTC).year
    records = sf.query("SELECT CALENDAR_YEAR(CreatedDate) y, COUNT(Id) FROM Account "
                       "GROUP BY CALENDAR_YEAR(CreatedDate)")["records"]
    assert records == [{"attributes": {"type": "AggregateResult"}, "y": year, "expr0": 3}]
    query = f"SELECT Id FROM Account WHERE CALENDAR_YEAR(CreatedDate) = {year}"  # noqa: S608 (SOQL, not SQL)
    assert sf.query(query)["totalSize"] == 3
    assert sf.query("SELECT Id FROM Order WHERE CALENDAR_MONTH(EffectiveDate) = 1")["totalSize"] == 1


# ---- date literals ------------------------------------------------------------------------------

def test_date_literals_are_ranges_of_the_orgs_days(sf, org):
    today = date_literals.today(TIME_ZONE)
    for days in (-40, -1, 0, 1, 40):
        sf.Invoice__c.create({"Account__c": org["globex"], "Name": f"due {days}",
                              "Due_Date__c": (today + timedelta(days=days)).isoformat()})
    def due(condition):
        query = f"SELECT Name FROM Invoice__c WHERE {condition}"  # noqa: S608 (SOQL, not SQL)
        return sorted(int(r["Name"].split()[1]) for r in sf.query_all(query)["records"])

    assert due("Due_Date__c = TODAY") == [0]
    assert due("Due_Date__c > TODAY") == [1, 40] and due("Due_Date__c < TODAY") == [-40, -1]
    assert due("Due_Date__c <= TODAY") == [-40, -1, 0] and due("Due_Date__c >= TOMORROW") == [1, 40]
    assert due("Due_Date__c = LAST_N_DAYS:1") == [-1, 0]  # includes today
    assert due("Due_Date__c = NEXT_N_DAYS:1") == [1] and due("Due_Date__c = YESTERDAY") == [-1]
    assert due("Due_Date__c = LAST_90_DAYS") == [-40, -1, 0] and due("Due_Date__c = NEXT_90_DAYS") == [1, 40]
    assert due("Due_Date__c = N_DAYS_AGO:40") == [-40] and due("Due_Date__c != TODAY AND Due_Date__c > TODAY") == [
        1, 40]
    start, end = date_literals.date_range("THIS_MONTH", None, today)
    assert due("Due_Date__c = THIS_MONTH") == [d for d in (-40, -1, 0, 1, 40)
                                              if start <= today + timedelta(days=d) < end]


def test_date_literals_against_datetime_fields(sf, org):
    assert sf.query("SELECT COUNT() FROM Account WHERE CreatedDate = TODAY")["totalSize"] == 3
    assert sf.query("SELECT COUNT() FROM Account WHERE CreatedDate > YESTERDAY AND CreatedDate < TOMORROW"
                    )["totalSize"] == 3
    assert sf.query("SELECT COUNT() FROM Account WHERE CreatedDate = LAST_N_DAYS:3")["totalSize"] == 3
    assert sf.query("SELECT COUNT() FROM Account WHERE CreatedDate < TODAY OR SystemModstamp > TODAY"
                    )["totalSize"] == 0
    assert sf.query("SELECT COUNT() FROM Account WHERE CreatedDate = THIS_WEEK AND CreatedDate = THIS_YEAR"
                    )["totalSize"] == 3
    assert refused(sf, "SELECT Id FROM Account WHERE Name = TODAY")["errorCode"] == "INVALID_FIELD"
    assert refused(sf, "SELECT Id FROM Account WHERE CreatedDate = LAST_N_DAYS")["errorCode"] == "MALFORMED_QUERY"


# ---- limits and offsets -------------------------------------------------------------------------

def test_offset_above_2000_is_number_outside_valid_range(sf):
    assert refused(sf, "SELECT Id FROM Account LIMIT 10 OFFSET 2001") == {
        "message": "Maximum SOQL offset allowed for apiName Account is 2000",
        "errorCode": "NUMBER_OUTSIDE_VALID_RANGE", "fields": []}
    assert sf.query("SELECT Id FROM Account OFFSET 2000")["totalSize"] == 0


# ---- paging -------------------------------------------------------------------------------------

def _accounts(sf, n):
    for start in range(0, n, 200):
        records = [{"attributes": {"type": "Account"}, "Name": f"Account {i:04d}"}
                   for i in range(start, min(n, start + 200))]
        assert all(r["success"] for r in sf.restful("composite/sobjects", method="POST",
                                                    json={"allOrNone": True, "records": records}))


def test_relationship_queries_page_with_next_records_url_and_query_more(sf, local_org):
    _accounts(sf, 2100)
    parent = sf.query("SELECT Id FROM Account WHERE Name = 'Account 2099'")["records"][0]["Id"]
    sf.Contact.create({"LastName": "Last", "AccountId": parent})
    query = "SELECT Name, (SELECT LastName FROM Contacts) FROM Account ORDER BY Name"
    first = sf.query(query)
    assert first["totalSize"] == 2100 and not first["done"] and len(first["records"]) == 2000
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/")
    by_url = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    by_identifier = sf.query_more(first["nextRecordsUrl"].rsplit("/", 1)[1])
    assert by_url == by_identifier and by_url["done"] and len(by_url["records"]) == 100
    assert by_url["records"][-1]["Contacts"]["records"][0]["LastName"] == "Last"
    names = [r["Name"] for r in sf.query_all_iter(query)]
    assert len(names) == 2100 == len(set(names)) and names == sorted(names)
    assert sf.query_all(query)["totalSize"] == 2100
    every = sf.query(query, include_deleted=True)
    assert every["nextRecordsUrl"].startswith("/services/data/v59.0/queryAll/")
    rest = sf.query_more(every["nextRecordsUrl"].rsplit("/", 1)[1], include_deleted=True)
    assert rest["records"] == by_url["records"]
    assert len(list(sf.query_all_iter(query, include_deleted=True))) == 2100


def test_query_all_with_relationships_sees_deleted_records(sf, org):
    sf.Contact.delete(org["alan"])
    query = "SELECT LastName, Account.Name FROM Contact WHERE IsDeleted = true"
    assert sf.query(query)["totalSize"] == 0
    found = sf.query_all(query, include_deleted=True)["records"]
    assert [(r["LastName"], r["Account"]["Name"]) for r in found] == [("Turing", "Globex")]
    assert sf.query("SELECT LastName FROM Contact", include_deleted=True)["totalSize"] == 4


def test_an_unknown_locator_is_invalid_query_locator(sf):
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query_more("01gD0000002HU6KIAW-2000")
    assert caught.value.content[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


# ---- semi-joins, FIELDS(), WITH, refusals -------------------------------------------------------

def test_semi_joins_and_anti_joins(sf, org):
    names = lambda q: sorted(r["Name"] for r in sf.query(q)["records"])  # noqa: E731
    assert names("SELECT Name FROM Account WHERE Id IN (SELECT AccountId FROM Contact)") == ["Acme", "Globex"]
    assert names("SELECT Name FROM Account WHERE Id IN (SELECT AccountId FROM Contact WHERE LastName LIKE 'T%')"
                 ) == ["Globex"]
    assert names("SELECT Name FROM Account WHERE Id NOT IN (SELECT AccountId FROM Contact)") == ["Initech"]
    contacts = sf.query("SELECT LastName FROM Contact WHERE AccountId NOT IN (SELECT Id FROM Account "
                        "WHERE Name = 'Acme')")["records"]
    assert sorted(c["LastName"] for c in contacts) == ["Loner", "Turing"]
    error = refused(sf, "SELECT Name FROM Account WHERE Name = 'x' OR Id IN (SELECT AccountId FROM Contact)")
    assert error["errorCode"] == "MALFORMED_QUERY" and "'OR'" in error["message"]


def test_fields_functions_and_their_limit_rule(sf, org):
    contact = sf.query("SELECT FIELDS(CUSTOM) FROM Contact LIMIT 1")["records"][0]
    assert list(contact) == ["attributes", "External_ID__c"]
    account = sf.query("SELECT FIELDS(STANDARD) FROM Account WHERE Name = 'Acme'")["records"][0]
    # In describe's order: attributes first, then every standard field, the audit fields included.
    assert list(account)[0] == "attributes"
    assert list(account)[1:] == [f["name"] for f in sf.Account.describe()["fields"] if not f["custom"]]
    assert {"Id", "Name", "OwnerId", "CreatedById", "LastModifiedDate"} <= set(account)
    everything = sf.query("SELECT Name, FIELDS(ALL) FROM Invoice__c LIMIT 200")["records"][0]
    assert list(everything)[1] == "Name" and "Amount__c" in everything and "Due_Date__c" in everything
    error = refused(sf, "SELECT FIELDS(ALL) FROM Account")
    assert error == {"message": "The SOQL FIELDS function must have a LIMIT of at most 200",
                     "errorCode": "MALFORMED_QUERY", "fields": []}


def test_with_security_enforced_and_user_mode_are_accepted(sf, org):
    for mode in ("SECURITY_ENFORCED", "USER_MODE", "SYSTEM_MODE"):
        query = f"SELECT Id FROM Account WHERE Name = 'Acme' WITH {mode} ORDER BY Name"  # noqa: S608 (SOQL)
        assert sf.query(query)["totalSize"] == 1


@pytest.mark.parametrize("query", [
    "SELECT TYPEOF What WHEN Account THEN Name END FROM Event",
    "SELECT Id FROM Account FOR UPDATE",
    "SELECT Id FROM Account FOR VIEW",
    "SELECT Industry, COUNT(Id) FROM Account GROUP BY ROLLUP(Industry)",
    "SELECT Id FROM Account USING SCOPE mine",
    "SELECT toLabel(Industry) FROM Account",
    "SELECT Id FROM Account WITH DATA CATEGORY Geography__c AT usa__c",
    "SELECT Id FROM Account WHERE Industry INCLUDES ('Education')",
    "SELECT Id, Id FROM Account",
    "SELECT COUNT() FROM Account ORDER BY Name",
])
def test_soql_outside_the_subset_is_malformed_query(sf, query):
    assert refused(sf, query)["errorCode"] == "MALFORMED_QUERY"


# ---- column metadata ----------------------------------------------------------------------------

def _cli_columns(metadata) -> list:
    """The column names `sf data query` builds its table from (its recursivelyFindColumns, in short)."""
    def names(column):
        joins = column["joinColumns"]
        if not joins:
            return [column["displayName"] if column["aggregate"] else column["columnName"]]
        if column["aggregate"]:
            return [(column["columnName"], [n for j in joins for n in names(j)])]
        return [f"{column['columnName']}.{n}" for j in joins for n in names(j)]
    return [n for c in metadata["columnMetadata"] for n in names(c)]


def _keys_everywhere(columns):
    for c in columns:
        assert set(c) == FIELD_KEYS
        _keys_everywhere(c["joinColumns"])


def test_columns_true_describes_fields_parents_and_subqueries(sf, org):
    metadata = sf.restful("query/", params={
        "q": "SELECT Id, Name, (SELECT LastName, Account.Name FROM Contacts) FROM Account", "columns": "true"})
    assert {k: metadata[k] for k in ("entityName", "groupBy", "idSelected", "keyPrefix")} == {
        "entityName": "Account", "groupBy": False, "idSelected": True, "keyPrefix": "001"}
    _keys_everywhere(metadata["columnMetadata"])
    assert _cli_columns(metadata) == ["Id", "Name", ("Contacts", ["LastName", "Account.Name"])]
    id_column, name_column, contacts = metadata["columnMetadata"]
    assert id_column["apexType"] == "Id" and not id_column["textType"]
    assert name_column["apexType"] == "String" and name_column["textType"] and name_column["insertable"]
    assert contacts["aggregate"] and contacts["apexType"] is None
    parent = sf.restful("query", params={"q": "SELECT Account.Name FROM Contact", "columns": "true"})
    assert parent["idSelected"] is False
    assert parent["columnMetadata"][0]["foreignKeyName"] == "AccountId"
    assert _cli_columns(parent) == ["Account.Name"]


def test_columns_true_names_aggregate_columns_as_the_records_do(sf, org):
    metadata = sf.restful("query", params={
        "q": "SELECT AccountId acct, count(Id), MAX(Email) latest FROM Contact GROUP BY AccountId", "columns": "true"})
    assert metadata["groupBy"] is True
    columns = metadata["columnMetadata"]
    assert [(c["columnName"], c["displayName"], c["aggregate"]) for c in columns] == [
        ("acct", "acct", False), ("expr0", "count(Id)", True), ("latest", "MAX(Email)", True)]
    assert columns[1]["numberType"] and not columns[2]["numberType"]
    record = sf.query("SELECT AccountId acct, count(Id), MAX(Email) latest FROM Contact GROUP BY AccountId"
                      )["records"][0]
    assert list(record)[1:] == [c["columnName"] for c in columns]


def test_columns_true_refuses_a_bad_query_as_running_it_would(sf):
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.restful("query", params={"q": "SELECT Nope__c FROM Account", "columns": "true"})
    assert caught.value.content[0]["errorCode"] == "INVALID_FIELD"
