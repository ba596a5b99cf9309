"""The SOQL subset the local org accepts, and the forms it refuses with a clear message."""

from datetime import UTC, date, datetime

import pytest

from standins.org import date_literals
from standins.org.soql import BoolOp, Call, Comparison, DateLiteral, Query, Selected, SoqlError, parse


def test_poller_query_parses_with_datetime_literals_and_ordering():
    q = parse("SELECT Id, Name FROM Contact WHERE SystemModstamp > 2024-01-01T00:00:00Z OR "
              "(SystemModstamp = 2024-01-01T00:00:00.000+0000 AND Id > '003') ORDER BY SystemModstamp, Id LIMIT 2000")
    assert q.fields == ["Id", "Name"] and q.sobject == "Contact" and q.limit == 2000
    assert q.order_by == [("SystemModstamp", False, None), ("Id", False, None)]
    assert isinstance(q.where, BoolOp) and q.where.op == "or"
    first = q.where.parts[0]
    assert first == Comparison("SystemModstamp", ">", datetime(2024, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize("literal", ["2024-01-01T10:00:00Z", "2024-01-01T10:00:00+00:00", "2024-01-01T10:00:00.000Z",
                                     "2024-01-01T12:00:00+02:00"])
def test_datetime_literal_forms_mean_the_same_instant(literal):
    query = "SELECT Id FROM Case WHERE CreatedDate = " + literal  # noqa: S608 (SOQL text, not SQL)
    assert parse(query).where.value == datetime(2024, 1, 1, 10, tzinfo=UTC)


def test_keywords_and_names_are_case_insensitive():
    q = parse("select id from account where name in ('A', 'B') and not (name = null) order by name desc nulls last "
              "limit 5 offset 10")
    assert q.sobject == "account" and q.offset == 10 and q.order_by == [("name", True, True)]
    assert q.where.parts[0] == Comparison("name", "in", ["A", "B"])


def test_literals_strings_numbers_booleans_dates():
    q = parse(r"SELECT Id FROM Order WHERE PoNumber = 'it\'s \\ ok' AND TotalAmount >= -12.5 AND EffectiveDate < "
              "2024-02-01 AND StatusCode != 'Draft' AND Description <> null")
    values = [c.value for c in q.where.parts]
    assert values == ["it's \\ ok", -12.5, date(2024, 2, 1), "Draft", None]


def test_count_and_not_in_and_like():
    q = parse("SELECT COUNT() FROM Case WHERE Status NOT IN ('Closed') AND Subject LIKE 'Broken%'")
    assert q.count and q.where.parts[0].op == "notin" and q.where.parts[1].op == "like"


def test_parent_fields_by_dot_notation_even_through_the_order_relationship():
    q = parse("SELECT Id, Order.Account.Name, account.owner.name FROM OrderItem WHERE Order.Status = 'Draft' "
              "ORDER BY Order.OrderNumber DESC")
    assert q.fields == ["Id", "Order.Account.Name", "account.owner.name"]
    assert q.where == Comparison("Order.Status", "=", "Draft")
    assert q.order_by == [("Order.OrderNumber", True, None)]


def test_child_subqueries_and_semi_joins_are_nested_queries():
    q = parse("SELECT Name, (SELECT LastName FROM Contacts WHERE Email != null ORDER BY LastName LIMIT 5) FROM Account "
              "WHERE Id IN (SELECT AccountId FROM Contact) AND Id NOT IN (SELECT AccountId FROM Case)")
    child = q.fields[1]
    assert isinstance(child, Query) and child.sobject == "Contacts" and child.limit == 5
    assert child.fields == ["LastName"]
    semi, anti = q.where.parts
    assert semi.op == "in" and isinstance(semi.value, Query) and semi.value.sobject == "Contact"
    assert anti.op == "notin" and anti.value.fields == ["AccountId"]


def test_aggregates_with_aliases_group_by_having_and_order_by_an_aggregate():
    q = parse("SELECT AccountId acct, count(Id) n, SUM(Amount__c) FROM Invoice__c GROUP BY AccountId "
              "HAVING COUNT(Id) > 1 ORDER BY COUNT(Id) DESC")
    assert q.select == [Selected("AccountId", "acct"), Selected(Call("COUNT", "Id"), "n"),
                        Selected(Call("SUM", "Amount__c"))]
    assert q.select[1].expr.text == "count(Id)"  # as written: the column's displayName
    assert q.group_by == ["AccountId"] and q.having == Comparison(Call("COUNT", "Id"), ">", 1)
    assert q.order_by == [(Call("COUNT", "Id"), True, None)]
    assert q.aggregate and not q.count


def test_date_literals_date_functions_and_includes():
    q = parse("SELECT Id FROM Opportunity WHERE CreatedDate = LAST_N_DAYS:30 AND CloseDate < today AND "
              "CALENDAR_YEAR(convertTimezone(CreatedDate)) = 2024 AND Tags__c INCLUDES ('a;b', 'c')")
    created, closed, year, tags = q.where.parts
    assert created.value == DateLiteral("LAST_N_DAYS", 30) and closed.value == DateLiteral("TODAY")
    assert year.field == Call("CALENDAR_YEAR", Call("CONVERTTIMEZONE", "CreatedDate"))
    assert tags == Comparison("Tags__c", "includes", ["a;b", "c"])


def test_fields_functions_with_and_offset_presence():
    q = parse("SELECT FIELDS(all) FROM Account WITH SECURITY_ENFORCED LIMIT 200")
    assert q.fields == [Call("FIELDS", "ALL")] and q.with_mode == "SECURITY_ENFORCED" and q.offset is None
    assert parse("SELECT Id FROM Account OFFSET 0").offset == 0  # OFFSET given, even as 0


def test_an_object_alias_qualifies_fields():
    q = parse("SELECT c.LastName FROM Contact c WHERE c.Email = null")
    assert q.alias == "c" and q.fields == ["c.LastName"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "empty"),
        ("SELECT Id FROM Account a extra", "unexpected 'extra'"),
        ("SELECT Id FROM Account WHERE (Name = 'a'", "expected ')'"),
        ("SELECT TYPEOF What WHEN Account THEN Name END FROM Event", "TYPEOF is not supported"),
        ("SELECT Id FROM Account FOR UPDATE", "FOR is not supported"),
        ("SELECT Industry, COUNT(Id) FROM Account GROUP BY ROLLUP(Industry)", "ROLLUP is not supported"),
        ("SELECT toLabel(Industry) FROM Account", "TOLABEL is not supported"),
        ("SELECT Id FROM Account USING SCOPE mine", "USING is not supported"),
        ("SELECT Id FROM Account WITH DATA CATEGORY Geo__c AT usa__c", "WITH DATA is not supported"),
        ("SELECT Id FROM Contact, Contact.Account", "FROM with several objects"),
        ("SELECT NOPE(Id) FROM Account", "unknown function NOPE()"),
        ("SELECT FIELDS(SOME) FROM Account", "FIELDS() takes ALL, STANDARD or CUSTOM"),
        ("SELECT SUM() FROM Account", "SUM() takes a field"),
        ("SELECT Id FROM Account WHERE Name = :name", "bind variables (:name) belong to Apex"),
        ("SELECT Id FROM Account WHERE CreatedDate = LAST_N_DAYS", "expected ':'"),
        ("SELECT Id FROM Account WHERE CreatedDate = LAST_N_DAYS:x", "takes a whole number"),
        ("SELECT Id FROM Account WHERE CreatedDate = SOMEDAY", "unknown date literal"),
        ("SELECT Id FROM Account WHERE Name = 'unterminated", "unexpected character"),
        ("SELECT Id FROM Account LIMIT -1", "whole number"),
        ("SELECT Id FROM Account WHERE Name = 'bad \\q escape'", "invalid escape"),
        ("SELECT Id FROM Account WHERE Name", "expected an operator"),
        ("SELECT FROM Account", "expected a field name"),
        ("SELECT Id FROM Account WHERE Name = 'x'; DELETE", "unexpected character"),
    ],
)
def test_forms_outside_the_subset_are_refused_clearly(query, message):
    with pytest.raises(SoqlError) as caught:
        parse(query)
    assert message in str(caught.value)
    assert caught.value.code == "MALFORMED_QUERY"


WEDNESDAY = date(2024, 7, 10)


@pytest.mark.parametrize(("literal", "n", "start", "end"), [
    ("TODAY", None, date(2024, 7, 10), date(2024, 7, 11)),
    ("YESTERDAY", None, date(2024, 7, 9), date(2024, 7, 10)),
    ("THIS_WEEK", None, date(2024, 7, 7), date(2024, 7, 14)),  # weeks start on Sunday
    ("LAST_WEEK", None, date(2024, 6, 30), date(2024, 7, 7)),
    ("NEXT_WEEK", None, date(2024, 7, 14), date(2024, 7, 21)),
    ("THIS_MONTH", None, date(2024, 7, 1), date(2024, 8, 1)),
    ("LAST_MONTH", None, date(2024, 6, 1), date(2024, 7, 1)),
    ("THIS_QUARTER", None, date(2024, 7, 1), date(2024, 10, 1)),
    ("LAST_QUARTER", None, date(2024, 4, 1), date(2024, 7, 1)),
    ("THIS_FISCAL_QUARTER", None, date(2024, 7, 1), date(2024, 10, 1)),
    ("THIS_YEAR", None, date(2024, 1, 1), date(2025, 1, 1)),
    ("LAST_90_DAYS", None, date(2024, 4, 11), date(2024, 7, 11)),  # 91 days: today included
    ("NEXT_90_DAYS", None, date(2024, 7, 11), date(2024, 10, 9)),
    ("LAST_N_DAYS", 1, date(2024, 7, 9), date(2024, 7, 11)),
    ("NEXT_N_DAYS", 3, date(2024, 7, 11), date(2024, 7, 14)),
    ("N_DAYS_AGO", 3, date(2024, 7, 7), date(2024, 7, 8)),
    ("NEXT_N_WEEKS", 2, date(2024, 7, 14), date(2024, 7, 28)),
    ("LAST_N_MONTHS", 7, date(2023, 12, 1), date(2024, 7, 1)),
    ("N_YEARS_AGO", 2, date(2022, 1, 1), date(2023, 1, 1)),
])
def test_date_literal_ranges(literal, n, start, end):
    assert date_literals.date_range(literal, n, WEDNESDAY) == (start, end)


def test_a_week_starting_today_and_days_starting_at_the_org_midnight():
    assert date_literals.date_range("THIS_WEEK", None, date(2024, 7, 7)) == (date(2024, 7, 7), date(2024, 7, 14))
    assert date_literals.midnight(date(2024, 7, 1), "America/Los_Angeles") == datetime(2024, 7, 1, 7, tzinfo=UTC)
    assert date_literals.midnight(date(2024, 1, 1), "America/Los_Angeles") == datetime(2024, 1, 1, 8, tzinfo=UTC)
