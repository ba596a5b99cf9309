"""The layering the docs describe, enforced: which dyno's code may import which.

    web/ → core/ ← worker/        commands/ (manage.py) → core/

Nothing deployed imports the local stand-ins or the tests, the web process never imports job
code (it enqueues jobs by dotted path), and core/ imports nothing above it. Imports sit at the
top of a module, where a reader sees a file's dependencies at a glance; one inside a function
needs a comment saying why (an import cycle, a heavy import only one command needs).
"""

import ast

import pytest

from core.paths import ROOT

# Top-level package → the packages it must never import.
FORBIDDEN = {
    "core": {"web", "worker", "commands", "standins", "tests", "bench", "tools"},
    "web": {"worker", "commands", "standins", "tests", "bench", "tools"},
    "worker": {"web", "commands", "standins", "tests", "bench", "tools"},
    "commands": {"web", "worker", "standins", "tests", "bench", "tools"},
    "manage": {"web", "worker", "standins", "tests", "bench", "tools"},
    "gunicorn.conf": {"worker", "commands", "standins", "tests", "bench", "tools"},
}
# What the Procfile and app.json run on Heroku.
DEPLOYED = ["core", "web", "worker", "commands", "manage.py", "gunicorn.conf.py"]


def _files(entry: str):
    path = ROOT / entry
    return [path] if path.is_file() else sorted(path.rglob("*.py"))


def _layer(path) -> str:
    relative = path.relative_to(ROOT)
    return relative.parts[0] if len(relative.parts) > 1 else relative.name.removesuffix(".py")


def _imports(tree):
    """(line, top-level package, node) for every import in a module."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0], node
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0], node


def _function_level(tree):
    """Import statements inside a function body."""
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(fn):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    yield node


DEPLOYED_FILES = [f for entry in DEPLOYED for f in _files(entry)]


@pytest.mark.parametrize("path", DEPLOYED_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_one_way(path):
    forbidden = FORBIDDEN[_layer(path)]
    tree = ast.parse(path.read_text(), str(path))
    wrong = [f"line {line}: imports {package}" for line, package, _ in _imports(tree) if package in forbidden]
    assert not wrong, f"{path.relative_to(ROOT)} may not import {sorted(forbidden)}: {wrong}"


@pytest.mark.parametrize("path", DEPLOYED_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_inside_functions_say_why(path):
    lines = path.read_text().splitlines()
    tree = ast.parse("\n".join(lines), str(path))

    def explained(node) -> bool:
        here, above = lines[node.lineno - 1], lines[node.lineno - 2] if node.lineno > 1 else ""
        return "#" in here or above.strip().startswith("#")

    silent = [node.lineno for node in _function_level(tree) if not explained(node)]
    assert not silent, f"{path.relative_to(ROOT)}: move these imports to the top, or say why they are here: {silent}"


def test_the_layering_test_sees_every_layer():
    assert {_layer(f) for f in DEPLOYED_FILES} == set(FORBIDDEN)


def _view_modules() -> set[str]:
    """web modules that define a blueprint: the views."""
    return {p.stem for p in (ROOT / "web").glob("*.py") if "Blueprint(" in p.read_text()}


# The app factory (web/__init__.py) registers every blueprint: it is the one module that imports them all.
@pytest.mark.parametrize("path", sorted(set((ROOT / "web").glob("*.py")) - {ROOT / "web" / "__init__.py"}),
                         ids=lambda p: p.name)
def test_no_view_module_imports_another(path):
    views = _view_modules() - {path.stem}
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "web":
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("web."):
            imported.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[1] for alias in node.names if alias.name.startswith("web.")}
    assert not imported & views, f"web/{path.name} imports the view module(s) {sorted(imported & views)}"
