"""Check values a user typed against what Salesforce (and so Connect's column) will accept.

Connect creates each column from Salesforce's describe: a Text(40) field is `varchar(40)`. A
value that does not fit would fail in Postgres (a 500) or, worse, be accepted by Postgres and
refused later by Salesforce (a FAILED sync the user never sees). So every value is checked here,
against the same describe data (sql/connect/objects.json), before anything is written:
Unicode normalised to NFC (what Salesforce stores), control characters and lone surrogates
refused, length, type, picklist values and required fields checked.
"""

import re
import unicodedata

from core import connect

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^[0-9+().\-/ x#*]+$", re.IGNORECASE)
_SALESFORCE_ID = re.compile(r"^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$")
# Line breaks and tabs are allowed in text areas only.
_MULTILINE_OK = {"\n", "\r", "\t"}
_TEXT_TYPES = {"string", "textarea", "email", "phone", "url", "picklist", "combobox"}


class Invalid(ValueError):
    """One or more values do not fit; `errors` maps field name → message."""

    def __init__(self, errors: dict[str, str]):
        """Keep every field's message."""
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def _text_problem(value: str, kind: str) -> str | None:
    """Why a text has a character Salesforce would refuse, or None."""
    for ch in value:
        category = unicodedata.category(ch)
        if category == "Cs":
            return "contains a character that is not valid Unicode."
        if category == "Cc" and not (kind == "textarea" and ch in _MULTILINE_OK):
            return "contains a control character (such as a line break where none is allowed)."
        if category in ("Cn", "Co"):
            return "contains a character that is not allowed."
    return None


def clean(object_name: str, field_name: str, raw, *, required: bool = False):
    """The value to store for one field (None for empty), or raise ValueError with the reason."""
    field = connect.field_definition(object_name, field_name)
    kind = field["type"]
    if raw is None:
        raw = ""
    if not isinstance(raw, str):
        if kind in ("double", "currency", "int", "percent") and isinstance(raw, int | float) and not isinstance(
            raw, bool
        ):
            raw = str(raw)
        elif kind == "boolean" and isinstance(raw, bool):
            return raw
        else:
            raise ValueError("must be text.")
    try:
        value = unicodedata.normalize("NFC", raw)
    except UnicodeError:
        raise ValueError("contains a character that is not valid Unicode.") from None
    problem = _text_problem(value, kind)
    if problem:
        raise ValueError(problem)
    value = value.strip()
    if kind == "textarea":
        value = value.replace("\r\n", "\n")
    if not value:
        if required or (not field["nillable"] and not field["defaultedOnCreate"]):
            raise ValueError("is required.")
        return None
    if kind in _TEXT_TYPES and field["length"] and len(value) > field["length"]:
        raise ValueError(f"is too long: at most {field['length']} characters (this is {len(value)}).")
    if kind == "email" and not _EMAIL.match(value):
        raise ValueError("is not an email address.")
    if kind == "phone" and not _PHONE.match(value):
        raise ValueError("may contain digits, spaces and + - ( ) . / x only.")
    if kind in ("picklist",):
        allowed = [p["value"] for p in field["picklistValues"] if p["active"]]
        if value not in allowed:
            raise ValueError(f"must be one of: {', '.join(allowed)}.")
    if kind in ("reference", "id") and not _SALESFORCE_ID.match(value):
        raise ValueError("is not a Salesforce Id.")
    if kind in ("double", "currency", "percent"):
        try:
            return float(value)
        except ValueError:
            raise ValueError("must be a number.") from None
    if kind == "int":
        try:
            return int(value)
        except ValueError:
            raise ValueError("must be a whole number.") from None
    return value


def clean_all(object_name: str, raw: dict, *, required: tuple[str, ...] = ()) -> dict:
    """Column → value for the fields in `raw` (field API name → typed value); Invalid lists every problem."""
    values, errors = {}, {}
    for field_name, value in raw.items():
        try:
            values[connect.column_name(field_name)] = clean(
                object_name, field_name, value, required=field_name in required
            )
        except ValueError as exc:
            label = connect.field_definition(object_name, field_name)["label"]
            errors[field_name] = f"{label} {exc}"
    if errors:
        raise Invalid(errors)
    return values
