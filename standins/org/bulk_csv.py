"""CSV as the Bulk APIs read and write it: delimiters, line endings, `#N/A`, and values as Salesforce prints them.

Uploads are read a row at a time from the request stream (never whole into memory). Results are
written with every value quoted, as Salesforce writes them: booleans `true`/`false`, numbers as Java
prints a double (`23.0`, `1.0E7`), datetimes `2024-01-01T00:00:00.000Z`, nulls empty, and a parent's
fields as `Account.Name` columns.
"""

import csv
import io
from decimal import Decimal

from standins.org.describe import describe, field_of
from standins.org.errors import SalesforceError

DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
# In an uploaded CSV, `#N/A` sets a field to null; an empty value leaves it as it is.
NULL_VALUE = "#N/A"
NUMERIC = ("double", "currency", "percent")


def buffered(stream) -> io.BufferedReader:
    """A request body as a buffered binary stream (its first bytes can be looked at before reading)."""
    return io.BufferedReader(stream, buffer_size=64 * 1024)


def reader(stream: io.BufferedReader, delimiter: str = "COMMA"):
    """Rows of an uploaded CSV (lists of strings), read incrementally from a buffered binary stream."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    return csv.reader(text, delimiter=DELIMITERS[delimiter], strict=True)


def line(values, delimiter: str = "COMMA") -> str:
    """One CSV line (without its line ending), every value quoted as Salesforce writes results."""
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=DELIMITERS[delimiter], quoting=csv.QUOTE_ALL, lineterminator="").writerow(values)
    return buffer.getvalue()


def java_double(x: float) -> str:
    """A double as Java's Double.toString prints it (what Salesforce writes): 23.0, 0.5, 1.0E7, 1.0E-4."""
    if x != x:
        return "NaN"
    if x in (float("inf"), float("-inf")):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "-0.0" if str(x).startswith("-") else "0.0"
    if 1e-3 <= abs(x) < 1e7:
        return repr(float(x))
    sign, digits, exponent = Decimal(repr(float(x))).as_tuple()
    digits = list(digits)
    while len(digits) > 1 and digits[-1] == 0:
        digits.pop()
        exponent += 1
    mantissa = f"{digits[0]}." + ("".join(map(str, digits[1:])) or "0")
    return f"{'-' if sign else ''}{mantissa}E{exponent + len(digits) - 1}"


def text(kind: str, value) -> str:
    """A stored value as a Bulk result prints it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) or kind in NUMERIC and isinstance(value, int):
        return java_double(float(value))
    if kind == "datetime" and isinstance(value, str) and value.endswith("+0000"):
        return value[:-5] + "Z"
    return str(value)


def columns(select_list: list[str], obj: str) -> list[str]:
    """Result column names for a query's select list: API names, parents' fields as `Account.Name`."""
    return [".".join(canonical_path(obj, path.split("."))) for path in select_list]


def canonical_path(obj: str, parts: list[str]) -> list[str]:
    """`account.name` on Contact → ["Account", "Name"]: each step's API name, as describe spells it."""
    if len(parts) == 1:
        return [field_of(obj, parts[0])["name"]]
    rel = parent_reference(obj, parts[0])
    if rel is None:
        raise SalesforceError(400, "INVALID_FIELD", f"Didn't understand relationship '{parts[0]}' in field path. If "
                              "you are attempting to use a custom relationship, be sure to append the '__r' after the "
                              "custom relationship name.", [".".join(parts)])
    return [rel["relationshipName"], *canonical_path(rel["referenceTo"][0], parts[1:])]


def parent_reference(obj: str, relationship: str) -> dict | None:
    """The reference field whose relationship name is `relationship` (Account for AccountId), if any."""
    for f in describe(obj)["fields"]:
        if f["type"] == "reference" and (f.get("relationshipName") or "").lower() == relationship.lower():
            return f
    return None


def cell(record: dict, path: list[str]):
    """(field type, value) at a column's path in a REST record (`{"Account": {"Name": …}}`); None past a null."""
    node = record
    for step in path[:-1]:
        node = _key(node, step)
        if not isinstance(node, dict):
            return "string", None
    obj = node.get("attributes", {}).get("type")
    kind = field_of(obj, path[-1])["type"] if obj else "string"
    return kind, _key(node, path[-1])


def _key(node: dict, name: str):
    for key, value in node.items():
        if key.lower() == name.lower():
            return value
    return None


def record_values(header: list[str], row: list[str]) -> dict:
    """An uploaded CSV row as a record body: empty values left out, `#N/A` → null, `Account.Ext__c` → nested."""
    out = {}
    for name, value in zip(header, row, strict=False):
        if value == "":
            continue
        value = None if value == NULL_VALUE else value
        parent, _, field = name.partition(".")
        if field:
            out[parent] = {field: value}
        else:
            out[name] = value
    return out


def record_line(record: dict, columns: list[str], delimiter: str = "COMMA") -> str:
    """One query result record (a REST record) as a CSV line."""
    return line([text(*cell(record, c.split("."))) for c in columns], delimiter)


def error_text(error: dict) -> str:
    """A record's error as Bulk results write it.

    For example `REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --`.
    """
    return f"{error['statusCode']}:{error['message']}:{' '.join(error['fields'])} --"
