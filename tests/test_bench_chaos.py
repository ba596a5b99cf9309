"""bench/chaos.py imports and describes itself (the bench itself runs for minutes: `python -m bench.chaos`)."""

import pytest

from bench import chaos


def test_the_chaos_bench_describes_its_options(capsys):
    with pytest.raises(SystemExit) as exit_:
        chaos.main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert all(option in out for option in ("--workers", "--chunks", "--kills", "--export-kills", "--seed"))
