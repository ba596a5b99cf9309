"""The Connect contract's literals live in core/connect.py, and the app never writes as Connect.

These read the production source, not the database: a state spelled out again in a query module,
or a session that sets `xmlbinary`, fails here before it can drift from the contract.
"""

import ast
import re

import pytest

from core import connect
from core.paths import ROOT

PRODUCTION = sorted(p for folder in ("core", "web", "worker", "commands") for p in (ROOT / folder).rglob("*.py"))
STATES = set(connect.LASTOP_STATES) | set(connect.LOG_STATES)
SQL_LITERAL = re.compile(r"'(" + "|".join(sorted(STATES)) + r")'")


def _docstrings(tree) -> set[int]:
    """The ids of the module's, classes' and functions' docstring nodes."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _state_literals(path) -> list[str]:
    """String constants in `path` that spell a Connect state: a whole string, or quoted inside SQL."""
    tree = ast.parse(path.read_text())
    skip = _docstrings(tree)
    # f-strings build messages, never SQL: their fixed parts are left alone.
    skip |= {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            quoted = SQL_LITERAL.search(node.value)
            if node.value.strip() in STATES or quoted:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {quoted[0] if quoted else node.value!r}")
    return found


def test_the_states_checked_for_are_connects():
    assert {"PENDING", "FAILED", "SYNCED", "NEW", "SUCCESS", "READONLY", "REQUEUE", "REQUEUED"} <= STATES


@pytest.mark.parametrize("path", [p for p in PRODUCTION if p != ROOT / "core" / "connect.py"],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_connect_states_are_spelled_only_in_core_connect(path):
    found = _state_literals(path)
    assert not found, "use the constants of core/connect.py (sql.Literal or a parameter in SQL): " + "; ".join(found)


# SET [LOCAL|SESSION] xmlbinary …, set_config('xmlbinary', …), or a connection option -c xmlbinary=…
SETS_XMLBINARY = re.compile(
    r"\bSET\s+(?:LOCAL\s+|SESSION\s+)?xmlbinary\b|set_config\s*\(\s*['\"]xmlbinary|\bxmlbinary\s*=\s*['\"]?hex",
    re.IGNORECASE,
)


@pytest.mark.parametrize("path", [*PRODUCTION, ROOT / "manage.py", ROOT / "gunicorn.conf.py"],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_production_code_never_writes_as_connect(path):
    # Connect's triggers tell its writes from the app's by xmlbinary: an app session that sets it
    # writes as Connect, so its change is never logged, never sent, and its row reads as synced.
    found = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}" for n, line in enumerate(path.read_text().splitlines(), 1)
             if SETS_XMLBINARY.search(line)]
    assert not found, "only Connect (and the local stand-ins playing it) may set xmlbinary: " + "; ".join(found)


def test_the_xmlbinary_check_finds_what_it_looks_for():
    for line in ("conn.execute(\"SET LOCAL xmlbinary = 'hex'\")", "SELECT set_config('xmlbinary', 'hex', true)",
                 "options='-c xmlbinary=hex'", "set session xmlbinary to hex"):
        assert SETS_XMLBINARY.search(line), line
