"""Durations read in human units on every operator page and in every command (core/durations.py)."""

import pytest

from core import durations


@pytest.mark.parametrize("seconds, text", [
    (0, "0 s"), (0.4, "0.4 s"), (45, "45 s"), (90, "90 s"),
    (180, "3 min"), (150, "2.5 min"), (3600, "60 min"),
    (7200, "2 h"), (9000, "2.5 h"), (86_400, "24 h"),
    (172_800, "2 d"), (220_839_885, "2,556 d"),
])
def test_a_duration_reads_in_the_largest_unit_that_fits(seconds, text):
    assert durations.human(seconds) == text


def test_a_negative_duration_reads_as_none_at_all():
    # A clock a little ahead of the database's must not print "-1 s".
    assert durations.human(-1.5) == "0 s"
