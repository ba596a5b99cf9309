"""Durations as people read them: `45 s`, `3 min`, `2.5 h`, `2 d` (every page and command prints them this way).

One function, so the sync console, the run pages and the CLI agree; the web app registers it as the
Jinja filter `duration` (web/ops_pages.py).
"""

# Each unit is used from its threshold up, in seconds: seconds below 2 minutes, minutes below 2
# hours, hours below 2 days, then days; a figure under 10 keeps one decimal (2.5 h), others none.
UNITS = ((2 * 86_400, 86_400, "d"), (2 * 3_600, 3_600, "h"), (120, 60, "min"), (0, 1, "s"))


def human(seconds: float) -> str:
    """`seconds` in the largest unit that reads well: '0.4 s', '45 s', '3 min', '2.5 h', '2,556 d'."""
    seconds = max(0.0, float(seconds))
    _, size, unit = next(u for u in UNITS if seconds >= u[0])
    value = seconds / size
    text = f"{value:.1f}".removesuffix(".0") if value < 10 else f"{value:,.0f}"
    return f"{text} {unit}"
