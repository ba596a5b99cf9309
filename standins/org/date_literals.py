"""SOQL date literals (TODAY, LAST_N_DAYS:7, THIS_QUARTER, …) as the date ranges Salesforce gives them.

Each literal is a range of whole days [start, end) counted from today in the org's time zone; weeks
start on Sunday (the en_US locale) and the fiscal year is the calendar year (Salesforce's default).
`=` means within the range, `<` before its start, `>` after its end (standins/org/compiler.py). The
LAST_N_DAYS family includes today (LAST_N_DAYS:1 is yesterday and today); NEXT_N_DAYS starts tomorrow.
"""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_UNITS = {"DAY": "DAYS", "WEEK": "WEEKS", "MONTH": "MONTHS", "QUARTER": "QUARTERS", "YEAR": "YEARS",
          "FISCAL_QUARTER": "FISCAL_QUARTERS", "FISCAL_YEAR": "FISCAL_YEARS"}
# name -> (unit, first period, period after the last), periods counted from the current one (0).
_FIXED = {"YESTERDAY": ("DAY", -1, 0), "TODAY": ("DAY", 0, 1), "TOMORROW": ("DAY", 1, 2),
          "LAST_90_DAYS": ("DAY", -90, 1), "NEXT_90_DAYS": ("DAY", 1, 91)}
for _unit in _UNITS:
    if _unit != "DAY":
        _FIXED |= {f"LAST_{_unit}": (_unit, -1, 0), f"THIS_{_unit}": (_unit, 0, 1), f"NEXT_{_unit}": (_unit, 1, 2)}
# name -> (unit, a function of n giving (first period, period after the last)).
_WITH_N = {}
for _unit, _plural in _UNITS.items():
    _WITH_N |= {f"LAST_N_{_plural}": (_unit, lambda n: (-n, 0)), f"NEXT_N_{_plural}": (_unit, lambda n: (1, 1 + n)),
                f"N_{_plural}_AGO": (_unit, lambda n: (-n, -n + 1))}
_WITH_N["LAST_N_DAYS"] = ("DAY", lambda n: (-n, 1))  # includes today, unlike the other LAST_N_ literals

DATE_LITERALS = frozenset(_FIXED)
DATE_LITERALS_N = frozenset(_WITH_N)


def _months_later(d: date, months: int) -> date:
    """The first of the month `months` after d's month."""
    index = d.year * 12 + d.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _period_start(unit: str, today: date) -> date:
    """The first day of the current day, week, month, quarter or year."""
    if unit == "DAY":
        return today
    if unit == "WEEK":
        return today - timedelta(days=(today.weekday() + 1) % 7)  # Sunday
    if unit == "MONTH":
        return today.replace(day=1)
    if unit in ("QUARTER", "FISCAL_QUARTER"):
        return date(today.year, (today.month - 1) // 3 * 3 + 1, 1)
    return date(today.year, 1, 1)


def _shift(unit: str, start: date, k: int) -> date:
    """The first day of the k-th period after the one starting at `start`."""
    if unit == "DAY":
        return start + timedelta(days=k)
    if unit == "WEEK":
        return start + timedelta(days=7 * k)
    step = {"MONTH": 1, "QUARTER": 3, "FISCAL_QUARTER": 3}.get(unit, 12)
    return _months_later(start, step * k)


def date_range(name: str, n: int | None, today: date) -> tuple[date, date]:
    """The days a literal covers, as [start, end): `date_range("LAST_N_DAYS", 1, d)` is (d - 1, d + 1)."""
    if name in _FIXED:
        unit, first, after = _FIXED[name]
    else:
        unit, span = _WITH_N[name]
        first, after = span(n)
    start = _period_start(unit, today)
    return _shift(unit, start, first), _shift(unit, start, after)


def today(time_zone: str) -> date:
    """Today's date in a time zone."""
    return datetime.now(ZoneInfo(time_zone)).date()


def midnight(day: date, time_zone: str) -> datetime:
    """The instant a day starts in a time zone, in UTC."""
    return datetime.combine(day, time(), tzinfo=ZoneInfo(time_zone)).astimezone(UTC)


# Date functions of a timestamp (or date) in SQL; weeks of the month and year start on their first day.
DATE_FUNCTIONS = {
    "CALENDAR_YEAR": "extract(year from {})::int", "FISCAL_YEAR": "extract(year from {})::int",
    "CALENDAR_QUARTER": "extract(quarter from {})::int", "FISCAL_QUARTER": "extract(quarter from {})::int",
    "CALENDAR_MONTH": "extract(month from {})::int", "FISCAL_MONTH": "extract(month from {})::int",
    "DAY_IN_MONTH": "extract(day from {})::int", "DAY_IN_WEEK": "(extract(dow from {})::int + 1)",
    "DAY_IN_YEAR": "extract(doy from {})::int", "HOUR_IN_DAY": "extract(hour from {})::int",
    "WEEK_IN_MONTH": "((extract(day from {})::int - 1) / 7 + 1)",
    "WEEK_IN_YEAR": "((extract(doy from {})::int - 1) / 7 + 1)", "DAY_ONLY": "({})::date",
}
