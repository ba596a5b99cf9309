"""The SOQL subset the local org accepts, and the forms it refuses with a clear message."""

from datetime import UTC, date, datetime

import pytest

from standins.org.soql import BoolOp, Comparison, SoqlError, parse


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


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "empty"),
        ("SELECT Id FROM Account extra", "unexpected 'extra'"),
        ("SELECT Id FROM Account WHERE (Name = 'a'", "expected ')'"),
        ("SELECT Id, (SELECT Id FROM Contacts) FROM Account", "subqueries"),
        ("SELECT Account.Name FROM Contact", "relationship queries"),
        ("SELECT MAX(Amount__c) FROM Invoice__c", "function MAX()"),
        ("SELECT Id FROM Account GROUP BY Id", "unexpected 'GROUP'"),
        ("SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Contact)", "semi-join"),
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
