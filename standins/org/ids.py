"""Salesforce's Id scheme: a 3-character key prefix, 12 base-62 digits and a 3-character checksum.

The org hands out Ids in this form and accepts 15-character Ids wherever it takes an Id; the demo data
numbers its records with the same scheme, in SQL (`ID_FUNCTIONS`) and in Python (`salesforce_id`),
so the two always agree.
"""

import re

from psycopg import sql

# The org's own Id and its one user, the integration user every session belongs to.
ORG_ID = "00D000000000001EAA"
USER_ID = "005000000000001AAA"

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def salesforce_id(prefix: str, n: int) -> str:
    """The 18-character Id of record number `n`: key prefix, 12 base-62 digits, case-safe checksum."""
    if len(prefix) != 3:
        raise ValueError(f"a key prefix has 3 characters, not {prefix!r}")
    if not 0 <= n < 62**12:
        raise ValueError(f"record number out of range: {n}")
    digits = ""
    for _ in range(12):
        n, d = divmod(n, 62)
        digits = _BASE62[d] + digits
    return prefix + digits + case_safe_suffix(prefix + digits)


def case_safe_suffix(id15: str) -> str:
    """The 3 characters Salesforce appends so an Id survives case-insensitive comparison."""
    return "".join(
        _CHECKSUM[sum(1 << i for i, c in enumerate(id15[start : start + 5]) if "A" <= c <= "Z")]
        for start in (0, 5, 10)
    )


# An Id as Salesforce accepts it: 15 case-sensitive characters, or 18 with the checksum.
ID_SHAPE = re.compile(r"^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$")


def looks_like_id(value) -> bool:
    """Whether a value has an Id's shape (15 or 18 letters and digits)."""
    return isinstance(value, str) and ID_SHAPE.match(value) is not None


def full_id(record_id: str) -> str:
    """The 18-character form of a 15- or 18-character Id, as Salesforce accepts both."""
    if len(record_id) == 15:
        return record_id + case_safe_suffix(record_id)
    return record_id


def canonical_id(value) -> str | None:
    """The 18-character Id a 15- or 18-character Id stands for, or None if the value is no Id (MALFORMED_ID)."""
    return full_id(value) if looks_like_id(value) else None


# `pg_temp.salesforce_id(prefix, n)`: salesforce_id() in SQL, for set-based loads. The helpers are
# one-expression SQL functions, which Postgres inlines into each statement.
ID_FUNCTIONS = """
-- base-62 digit k (0 = last) of n as a character: digits 0-9, A-Z, a-z are ASCII 48-57, 65-90, 97-122
-- (chr() of a code is several times cheaper than substr() of the alphabet, and this runs 11 times an Id)
CREATE OR REPLACE FUNCTION pg_temp.sf_char(d bigint) RETURNS text
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT chr((d + CASE WHEN d < 10 THEN 48 WHEN d < 36 THEN 55 ELSE 61 END)::integer) $$;
CREATE OR REPLACE FUNCTION pg_temp.sf_digit(n bigint, k integer) RETURNS text
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT pg_temp.sf_char(n / (62::numeric ^ k)::bigint % 62) $$;
CREATE OR REPLACE FUNCTION pg_temp.sf_upper(n bigint, k integer) RETURNS integer
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT (n / (62::numeric ^ k)::bigint % 62 BETWEEN 10 AND 35)::integer $$;
CREATE OR REPLACE FUNCTION pg_temp.sf_prefix_upper(prefix text, i integer) RETURNS integer
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT (ascii(substr(prefix, i, 1)) BETWEEN 65 AND 90)::integer $$;

-- The same Id as salesforce_id() in Python. The 12 digits are digit 11 (always 0: a bigint is below
-- 62^11) down to digit 0; each checksum character encodes which of 5 characters are uppercase.
CREATE OR REPLACE FUNCTION pg_temp.salesforce_id(prefix text, n bigint) RETURNS varchar
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT prefix || '0'
    || pg_temp.sf_digit(n, 10) || pg_temp.sf_digit(n, 9) || pg_temp.sf_digit(n, 8) || pg_temp.sf_digit(n, 7)
    || pg_temp.sf_digit(n, 6) || pg_temp.sf_digit(n, 5) || pg_temp.sf_digit(n, 4) || pg_temp.sf_digit(n, 3)
    || pg_temp.sf_digit(n, 2) || pg_temp.sf_digit(n, 1) || pg_temp.sf_digit(n, 0)
    || substr('{checksum}', 1 + pg_temp.sf_prefix_upper(prefix, 1) + 2 * pg_temp.sf_prefix_upper(prefix, 2)
        + 4 * pg_temp.sf_prefix_upper(prefix, 3) + 16 * pg_temp.sf_upper(n, 10), 1)
    || substr('{checksum}', 1 + pg_temp.sf_upper(n, 9) + 2 * pg_temp.sf_upper(n, 8) + 4 * pg_temp.sf_upper(n, 7)
        + 8 * pg_temp.sf_upper(n, 6) + 16 * pg_temp.sf_upper(n, 5), 1)
    || substr('{checksum}', 1 + pg_temp.sf_upper(n, 4) + 2 * pg_temp.sf_upper(n, 3) + 4 * pg_temp.sf_upper(n, 2)
        + 8 * pg_temp.sf_upper(n, 1) + 16 * pg_temp.sf_upper(n, 0), 1) $$;
"""


def create_sql_functions(conn) -> None:
    """Create `pg_temp.salesforce_id(prefix, n)` for this session."""
    conn.execute(sql.SQL(ID_FUNCTIONS).format(checksum=sql.SQL(_CHECKSUM)))
