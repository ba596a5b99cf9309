"""The message of the local Connect's one line per sync hop, so a learner watching `make run` sees a change travel.

Heroku Connect logs each sync step as one logfmt line whose `event` reads like a sentence
(`event="Contact QUERY ↷SALESFORCE 500 rows (0.77 secs)"`, Dev Center: "Heroku Connect Logging and
Maintenance Operations"). The local Connect does the same through core/logs.py: the sentence is
`msg`, the facts follow as key=value pairs (push.py, pull.py):

    Case “Box arrived damaged” → Salesforce: inserted 500000000000123AAA (1 row, 0.08 s)
    Case 00001027 ← Salesforce: updated (poll, 1 row, 0.05 s)
    Case → Salesforce: FAILED FIELD_CUSTOM_VALIDATION_EXCEPTION “A case from the web needs a subject.”

Typographic quotes, not ", so the message stays one logfmt value without escapes.
"""

# The fields that name a record to a person, best first (Postgres column, REST field). A Case's
# number exists only once Salesforce gave it: a new case is named by its subject until then.
NAMING_FIELDS = (("casenumber", "CaseNumber"), ("email", "Email"), ("accountnumber", "AccountNumber"),
                 ("name", "Name"), ("lastname", "LastName"), ("subject", "Subject"))
QUOTED = ("name", "lastname", "subject")
LONGEST = 40


def quoted(text: str, longest: int = LONGEST) -> str:
    """“text”, cut at `longest` characters (a subject or an error message can be long)."""
    text = " ".join(str(text).split())
    return "“" + (text if len(text) <= longest else text[:longest - 1] + "…") + "”"


def name_of(values: dict | None, *, rest: bool = False) -> str | None:
    """How a person knows the record: its case number, email, account number, name or subject (None if none)."""
    values = values or {}
    for column, field in NAMING_FIELDS:
        value = values.get(field if rest else column)
        if value not in (None, ""):
            return quoted(value) if column in QUOTED else str(value)
    return None


def _seconds(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds < 1 else f"{seconds:.1f} s"


def _rows(n: int) -> str:
    return f"{n:,} row" + ("" if n == 1 else "s")


def _counts(done: dict) -> str:
    """`3 inserted, 1 updated` in a fixed order, leaving out the zeros."""
    return ", ".join(f"{n:,} {what}" for what, n in done.items() if n)


def push(object_name: str, *, rows: int, seconds: float, done: dict, one=None, failure=None,
         extra: str = "") -> str:
    """One push of one mapping: `Case “…” → Salesforce: inserted 500… (1 row, 0.08 s)`.

    `done` counts the records by outcome (inserted, updated, deleted, failed); `one` is the only
    record's (name, outcome, sfid) when a single record went; `failure` the first refusal's
    (code, message). `extra` goes inside the parentheses (merged changes, API calls, bulk batches).
    """
    facts = ", ".join(p for p in (_rows(rows), extra, _seconds(seconds)) if p)
    if failure is not None:
        code, message = failure
        refusal = f"{code} {quoted(message, 120)}"
        if one is not None:  # the only record
            return f"{object_name}{' ' + one[0] if one[0] else ''} → Salesforce: FAILED {refusal} ({facts})"
        sent = _counts({k: n for k, n in done.items() if k != "failed"})
        first = "" if done["failed"] == 1 else "first: "
        return (f"{object_name} → Salesforce: {sent + ', ' if sent else ''}{done['failed']:,} FAILED — "
                f"{first}{refusal} ({facts})")
    if one is not None:
        name, outcome, sfid = one
        label = name or (sfid if outcome != "inserted" else None)
        shown = f" {sfid}" if outcome == "inserted" and sfid else ""
        return f"{object_name}{' ' + label if label else ''} → Salesforce: {outcome}{shown} ({facts})"
    return f"{object_name} → Salesforce: {_counts(done) or 'nothing to send'} ({facts})"


def pull(object_name: str, *, how: str, rows: int, deletes: int, seconds: float, done: dict, one=None,
         stopped: str | None = None) -> str:
    """One read of one mapping: `Contact ann@example.com ← Salesforce: updated (poll, 1 row, 0.05 s)`."""
    facts = ", ".join(p for p in (how, _rows(rows) if rows or not deletes else "", _seconds(seconds)) if p)
    if stopped:  # TOO_MANY_ROWS: nothing of the page was kept
        return f"{object_name} ← Salesforce: {stopped}, stopped at the plan's row cap ({how}, {_seconds(seconds)})"
    if one is not None and rows == 1 and not deletes:
        name, outcome = one
        return f"{object_name}{' ' + name if name else ''} ← Salesforce: {outcome} ({facts})"
    what = _counts({**done, "deleted": deletes})
    return f"{object_name} ← Salesforce: {what or 'nothing new'} ({facts})"
