"""runtime.txt: the Python Heroku installs is one Heroku supports, and the one CI tests.

Heroku's classic Python buildpack still reads runtime.txt (deprecated in favour of
`.python-version`, docs/deploy.md says how to switch); CI (.ci/run) takes its interpreter from
the same file, so the suite runs on the version the dynos run.
"""

import os
import re
import subprocess
import sys

from core.paths import ROOT

# Heroku's Python support (Dev Center, "Python Support"): 3.10 to 3.14 build, 3.10 is deprecated.
HEROKU_SUPPORTED = {"3.11", "3.12", "3.13", "3.14"}
RUNTIME = (ROOT / "runtime.txt").read_text().strip()


def runtime_version() -> str:
    """The major version runtime.txt names (`python-3.11` or `python-3.11.9` → '3.11')."""
    match = re.fullmatch(r"python-(3\.\d+)(\.\d+)?", RUNTIME)
    assert match, f"runtime.txt must read like python-3.12 (Heroku's format); it reads {RUNTIME!r}"
    return match[1]


def test_runtime_txt_names_a_python_heroku_supports():
    assert runtime_version() in HEROKU_SUPPORTED, f"Heroku builds {sorted(HEROKU_SUPPORTED)}; runtime.txt: {RUNTIME}"


def test_ci_takes_its_python_from_runtime_txt():
    chosen = subprocess.run(["bash", str(ROOT / ".ci" / "run"), "--which-python"], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert chosen == f"python{runtime_version()}"


def test_the_suite_runs_on_the_python_runtime_txt_names_in_ci():
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if os.environ.get("CI"):
        assert running == runtime_version(), f"CI runs Python {running}; runtime.txt says {RUNTIME}"
    else:
        # Outside CI the Makefile prefers runtime.txt's Python when the machine has it; any 3.11+ runs the suite.
        assert sys.version_info >= (3, 11)


def test_no_python_version_file_beside_runtime_txt():
    # Both present, runtime.txt wins on the classic buildpack and Fir refuses the build: keep exactly one.
    assert not (ROOT / ".python-version").exists()
