"""The docs keep up with the code: every operations command is documented, every documented link resolves."""

import re

import click
import pytest

import manage
from core.paths import ROOT

DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
DOCS = "\n".join(p.read_text() for p in DOC_FILES)


def _command_lines(group: click.Group, prefix: str = "") -> list[str]:
    """`manage.py release`, `manage.py invoices run`, … for every command, nested groups included."""
    lines = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            lines += _command_lines(command, f"{prefix}{name} ")
        else:
            lines.append(f"manage.py {prefix}{name}")
    return lines


@pytest.mark.parametrize("command", _command_lines(manage.cli))
def test_every_manage_py_command_is_documented(command):
    assert re.search(re.escape(command) + r"\b", DOCS), f"document `python {command}` in README.md or docs/"


def test_the_docs_index_lists_every_page():
    index = (ROOT / "docs" / "README.md").read_text()
    for page in (ROOT / "docs").glob("*.md"):
        if page.name != "README.md":
            assert f"({page.name})" in index, f"docs/README.md should link {page.name}"


@pytest.mark.parametrize("doc", DOC_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc):
    for target in re.findall(r"\]\(([^)#:\s]+)(?:#[^)]*)?\)", doc.read_text()):
        assert (doc.parent / target).exists(), f"{doc.name} links {target}, which does not exist"


def test_tests_named_in_the_docs_exist():
    defined = set()
    for path in (ROOT / "tests").glob("test_*.py"):
        defined |= set(re.findall(r"^def (test_\w+)", path.read_text(), re.MULTILINE))
    named = set(re.findall(r"`(test_\w+)`", DOCS))
    assert named and not named - defined, f"docs name tests that do not exist: {sorted(named - defined)}"
