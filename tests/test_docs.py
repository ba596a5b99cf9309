"""The docs keep up with the code: every operations command is documented, every documented link resolves."""

import re

import click
import pytest

import manage
from core import connect, invoicing, jobs
from core.paths import ROOT
from tools import screenshots

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


# ```mermaid blocks, which GitHub draws. The diagrams each page must have: (page, diagram type, what it shows).
MERMAID = re.compile(r"^```mermaid\n(.*?)^```", re.MULTILINE | re.DOTALL)
DIAGRAM_TYPES = ("flowchart", "graph", "sequenceDiagram", "stateDiagram-v2", "stateDiagram", "classDiagram",
                 "erDiagram", "gantt", "pie", "journey", "gitGraph", "mindmap", "timeline")
REQUIRED_DIAGRAMS = [
    ("architecture.md", "flowchart", "web, worker, Postgres, Redis, Connect, Salesforce"),
    ("portal.md", "sequenceDiagram", "the write path, app to Salesforce and back"),
    ("connect-contract.md", "stateDiagram-v2", "the _hc_lastop state machine"),
    ("long-work.md", "sequenceDiagram", "a job through SIGTERM, SIGKILL and its retry"),
    ("long-work.md", "stateDiagram-v2", "a job record's states"),
    ("batch-invoicing.md", "flowchart", "the invoicing fan-out"),
]
# Sequence-diagram blocks that an `end` closes (and `else` / `and` / `option` continue).
SEQUENCE_BLOCKS = ("loop", "alt", "opt", "par", "critical", "break", "rect", "box")
OPENERS, CLOSERS = "([{", ")]}"


def _diagrams(page: str) -> list[str]:
    return MERMAID.findall((ROOT / "docs" / page).read_text())


def _all_diagrams():
    return [pytest.param(doc, n, block, id=f"{doc.relative_to(ROOT)}-{n + 1}")
            for doc in DOC_FILES for n, block in enumerate(MERMAID.findall(doc.read_text()))]


def _lines(block: str) -> list[str]:
    """The statements of a diagram: stripped, without blank lines and %% comments."""
    return [line.strip() for line in block.splitlines() if line.strip() and not line.strip().startswith("%%")]


def _balanced(text: str) -> bool:
    """Brackets close in order, outside "quoted" labels."""
    stack = []
    for part in re.sub(r'"[^"\n]*"', '""', text):
        if part in OPENERS:
            stack.append(CLOSERS[OPENERS.index(part)])
        elif part in CLOSERS and (not stack or stack.pop() != part):
            return False
    return not stack


def _sequence_arrows(lines: list[str]) -> list[tuple[str, str]]:
    """(from, to) of every message of a sequence diagram."""
    arrow = re.compile(r"^(\w+)\s*(?:-->>|->>|-->|->|--x|-x|--\)|-\))\s*[+-]?(\w+)\s*:")
    return [m.groups() for m in map(arrow.match, lines) if m]


@pytest.mark.parametrize(("page", "kind", "shows"), REQUIRED_DIAGRAMS,
                         ids=[f"{page}-{kind}" for page, kind, _ in REQUIRED_DIAGRAMS])
def test_the_pages_that_need_a_diagram_have_one(page, kind, shows):
    kinds = [_lines(block)[0].split()[0] for block in _diagrams(page)]
    assert kind in kinds, f"docs/{page} should show {shows} as a ```mermaid {kind} block"


@pytest.mark.parametrize(("doc", "n", "block"), _all_diagrams())
def test_every_mermaid_block_parses_at_least_superficially(doc, n, block):
    lines = _lines(block)
    kind = lines[0].split()[0]
    assert kind in DIAGRAM_TYPES, f"{doc.name}, diagram {n + 1}: starts with {kind!r}, not a diagram type"
    assert _balanced(block), f"{doc.name}, diagram {n + 1}: unbalanced brackets"
    assert "\t" not in block, f"{doc.name}, diagram {n + 1}: tabs"
    words = [line.split()[0] for line in lines[1:]]
    if kind in ("flowchart", "graph"):
        assert words.count("subgraph") == words.count("end"), f"{doc.name}, diagram {n + 1}: subgraph without end"
    if kind == "sequenceDiagram":
        assert sum(words.count(w) for w in SEQUENCE_BLOCKS) == words.count("end"), \
            f"{doc.name}, diagram {n + 1}: a loop/alt/opt/… without its end"
        declared = {line.split()[1] for line in lines if line.split()[0] in ("participant", "actor")}
        used = {name for pair in _sequence_arrows(lines) for name in pair}
        assert used and not used - declared, f"{doc.name}, diagram {n + 1}: undeclared {sorted(used - declared)}"


def _states(block: str) -> set[str]:
    """The states a stateDiagram's transitions name (not [*])."""
    found = set()
    for line in _lines(block)[1:]:
        if "-->" in line:
            left, right = line.split(":", 1)[0].split("-->")
            found |= {left.strip(), right.strip()} - {"[*]"}
    return found


def test_the_hc_lastop_diagram_has_exactly_connects_states():
    (block,) = [b for b in _diagrams("connect-contract.md") if b.lstrip().startswith("stateDiagram")]
    assert _states(block) == set(connect.LASTOP_STATES)


def test_the_job_diagrams_match_the_job_code():
    (states,) = [b for b in _diagrams("long-work.md") if b.lstrip().startswith("stateDiagram")]
    assert _states(states) == {jobs.QUEUED, jobs.STARTED, jobs.FINISHED, jobs.FAILED}
    (life,) = [b for b in _diagrams("long-work.md") if b.lstrip().startswith("sequenceDiagram")]
    assert "SIGTERM" in life and "SIGKILL" in life and "ShutDownImminentException" in life
    assert ", ".join(f"{s} s" for s in jobs.RETRY_INTERVALS) in life
    (fan_out,) = _diagrams("batch-invoicing.md")
    retry = invoicing.CHUNK_RETRY
    assert f"Retry(max={retry['max']}, after {', '.join(map(str, retry['interval']))} s)" in fan_out


DOC_PAGES = sorted((ROOT / "docs").glob("*.md"))
SUMMARY_LABELS = ("**What:**", "**For:**")


def _opening(page) -> list[str]:
    """The first block after a page's title: its lines up to the first blank line."""
    lines = page.read_text().splitlines()
    assert lines[0].startswith("# ") and lines[1] == "", f"{page.name}: a `# title`, then a blank line"
    block = []
    for line in lines[2:]:
        if not line.strip():
            break
        block.append(line)
    return block


@pytest.mark.parametrize("page", DOC_PAGES, ids=lambda p: p.name)
def test_every_docs_page_opens_with_a_five_line_summary(page):
    block = _opening(page)
    assert 4 <= len(block) <= 6, f"{page.name}: open with a summary of about five lines, not {len(block)}"
    assert all(line.startswith("- **") for line in block), f"{page.name}: the summary is a list of `- **Label:** …`"
    labels = [line[2:].split(":**")[0] + ":**" for line in block]
    assert labels[:2] == list(SUMMARY_LABELS), f"{page.name}: say what the page is, then who it is for"
    assert any(label.startswith(("**Next", "**Start", "**Then")) for label in labels), \
        f"{page.name}: end the summary with where to go next"
    assert all(len(line) <= 240 for line in block), f"{page.name}: keep each summary line short"
