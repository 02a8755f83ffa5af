"""What a wheel carries: every subpackage (the list in pyproject.toml is explicit) and the migrations."""

from __future__ import annotations

import tomllib
from pathlib import Path

from setuptools import find_packages

from blendify_assets.db import migrations

REPO = Path(__file__).resolve().parents[1]


def test_the_package_list_names_every_subpackage_and_the_migrations() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = find_packages(str(REPO), include=["blendify_assets*"])
    assert sorted(config["packages"]) == sorted([*found, "blendify_assets.sql"])
    assert config["package-dir"] == {"blendify_assets.sql": "sql"}


def test_the_migrations_are_found_through_the_package() -> None:
    found = migrations.discover()
    assert found and found[0].path.name == "0001_seed_schema.sql"
    assert migrations.sql_dir().resolve() == (REPO / "sql").resolve()  # editable: the repository's own
