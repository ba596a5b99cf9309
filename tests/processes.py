"""Real processes for the slow tests: `python -m worker` and gunicorn as the Procfile runs them."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent


def environment(app_config, **extra) -> dict:
    """What a dyno's processes read, pointed at the test servers; tests/ importable for test-only jobs."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=app_config.database_url,
        REDIS_URL=app_config.redis_url,
        SECRET_KEY=app_config.secret_key,
        APP_ENV="test",
        PYTHONUNBUFFERED="1",
        PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]),
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


def start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    """Start a process in its own process group (a dyno's signals reach every process in it)."""
    return subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True
    )


def start_worker(env: dict, log: Path) -> subprocess.Popen:
    """`python -m worker`, as the Procfile's worker line runs it."""
    return start([sys.executable, "-m", "worker"], env, log)


def signal_dyno(process: subprocess.Popen, sig: int) -> None:
    """Send `sig` to every process of the 'dyno' (worker, work horse, scheduler), as Heroku does.

    Not a process-group kill: RQ's work horse calls setsid() and leaves the worker's group.
    """
    try:
        family = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for member in family:
        try:
            member.send_signal(sig)
        except psutil.NoSuchProcess:
            pass


def stop(process: subprocess.Popen) -> None:
    """Kill a process and all its descendants (test cleanup)."""
    signal_dyno(process, signal.SIGKILL)
    process.wait(10)



def wait_for(predicate, timeout: float, what: str, interval: float = 0.05):
    """Poll until predicate() is truthy; return its value, or fail saying what did not happen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
