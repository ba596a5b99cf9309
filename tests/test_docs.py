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


DEPLOY_DOCS = [ROOT / "README.md", ROOT / "docs" / "deploy.md"]
# `python manage.py org setup --app <your-app>`: up to the end of the code span, line, or a shell operator.
MANAGE_PY = re.compile(r"python manage\.py ([^`\n|;)#]+)")


def _resolve(words: list[str]) -> tuple[click.Command | None, str, list[str]]:
    """Walk click's command tree along `words`: (the command or None, its path, the words after it)."""
    command, path = manage.cli, []
    while isinstance(command, click.Group) and words and not words[0].startswith("-"):
        child = command.commands.get(words[0])
        if child is None:
            return None, " ".join([*path, words[0]]), words[1:]
        command, path, words = child, [*path, words[0]], words[1:]
    return command, " ".join(path), words


def _documented_invocations() -> list[str]:
    found = []
    for doc in DEPLOY_DOCS:
        for match in MANAGE_PY.finditer(doc.read_text()):
            invocation = match[1].strip().rstrip(".,:")
            # "python manage.py …" in prose and `<command>` placeholders name no command.
            if invocation[:1].isalpha() and invocation not in found:
                found.append(invocation)
    return found


@pytest.mark.parametrize("invocation", _documented_invocations())
def test_every_manage_py_command_in_the_deploy_docs_exists(invocation):
    command, path, rest = _resolve(invocation.split())
    if rest == ["--help"]:
        return  # every group and command answers --help
    assert command is not None and not isinstance(command, click.Group), f"`python manage.py {path}` does not exist"
    known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    for word in rest:
        if word.startswith("--"):
            assert word.split("=")[0] in known or word == "--app", f"`{path}` has no option {word}"


def test_deploy_md_walks_the_steps_postdeploy_prints_in_the_same_order():
    from core import deploy

    page = (ROOT / "docs" / "deploy.md").read_text()
    position = 0
    for step in deploy.STEPS:
        for command in step.heroku:
            text = command.format(app=deploy.APP_PLACEHOLDER)
            found = page.find(text, position)
            assert found >= 0, f"docs/deploy.md should show `{text}` after the previous step's commands"
            position = found


def test_the_readmes_six_steps_cover_the_deploy_in_order():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Deploy to Heroku"):readme.index("## Demo users")]
    in_order = ["deploy?template=https://github.com/<owner>/<repo>", "heroku config:set APP_URL",
                "heroku plugins:install @heroku-cli/heroku-connect-plugin", "manage.py org setup",
                "manage.py connect validate", "heroku connect:import", "manage.py org seed", "manage.py invite",
                "heroku addons:open scheduler", "manage.py verify-sync", "manage.py doctor"]
    positions = [section.index(text) for text in in_order]
    assert positions == sorted(positions)
    assert len(re.findall(r"^\d\. \*\*", section, re.MULTILINE)) == 6


# ![alt](images/x.png) in docs/, ![alt](docs/images/x.png) in the README (not the Heroku Button's badge).
IMAGE_LINK = re.compile(r"!\[[^\]]*\]\(((?![a-z]+:)[^)\s]+\.(?:png|jpe?g|gif|svg|webp))\)")
IMAGE_DIR = ROOT / "docs" / "images"


def _shown_images() -> dict:
    """Every image a doc shows → the docs showing it."""
    shown = {}
    for doc in DOC_FILES:
        for target in IMAGE_LINK.findall(doc.read_text()):
            shown.setdefault((doc.parent / target).resolve(), []).append(doc.name)
    return shown


def test_every_image_the_docs_show_exists():
    missing = {str(path.relative_to(ROOT)): docs for path, docs in _shown_images().items() if not path.exists()}
    assert not missing, f"shown but missing (make screenshots takes them): {missing}"


def test_every_image_is_shown_by_a_doc_and_taken_by_make_screenshots():
    from tools import screenshots

    shown = _shown_images()
    for path in sorted(IMAGE_DIR.iterdir()):
        assert path.resolve() in shown, f"no doc shows docs/images/{path.name}: show it or delete it"
        assert path.name in screenshots.IMAGES, f"make screenshots does not take {path.name} (tools/screenshots.py)"
    assert screenshots.OUT == IMAGE_DIR


def test_images_are_viewport_sized_pngs():
    for path in IMAGE_DIR.glob("*.png"):
        header = path.read_bytes()[:24]
        assert header[:8] == b"\x89PNG\r\n\x1a\n", path.name
        width, height = int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
        assert width <= 1280 and height <= 1000, f"{path.name} is {width}x{height}: take the viewport, not the page"
        assert path.stat().st_size < 400_000, f"{path.name} is {path.stat().st_size // 1024} KB"
