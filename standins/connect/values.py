"""Between Postgres values (hstore text from the trigger log) and Salesforce JSON values."""

from datetime import datetime


def to_salesforce(field: dict, text: str | None):
    """A trigger-log value (hstore text) as the JSON value Salesforce expects for the field."""
    if text is None:
        return None
    kind = field["type"]
    if kind == "boolean":
        return text == "t"
    if kind == "int":
        return int(text)
    if kind in ("double", "currency", "percent"):
        return float(text)
    if kind == "datetime":
        return text.replace(" ", "T") + "Z"  # Connect stores UTC without a zone
    return text


def from_salesforce(field: dict, value):
    """A Salesforce JSON value as the Postgres value Connect stores (datetimes in UTC, no zone)."""
    if value is None:
        return None
    if field["type"] == "datetime":
        return parse_datetime(value)
    return value


def parse_datetime(value: str) -> datetime:
    """`2024-01-01T00:00:00.000+0000` → naive UTC datetime."""
    parsed = datetime.strptime(value.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")
    return parsed.astimezone(tz=None).replace(tzinfo=None) if parsed.utcoffset() is None else \
        (parsed - parsed.utcoffset()).replace(tzinfo=None)


def soql_datetime(value: datetime) -> str:
    """A naive UTC datetime as a SOQL literal, millisecond precision (Salesforce keeps no more)."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
