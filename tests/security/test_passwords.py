"""The password policy the web app's sign-up and `users add` share."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from blendify_assets.security.passwords import (
    hash_password,
    password_problem,
    spend_verify_time,
    verify_password,
)


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short", "at least 8"),
        ("password123", "most common"),
        ("aaaaaaaaaaaa", "most common"),
        ("ada@example.com", "email"),
        ("correct horse battery", None),
        ("ünïcødé pässwörd ✓", None),
    ],
)
def test_password_policy(password: str, problem: str | None) -> None:
    found = password_problem(password, "ada@example.com")
    assert (found is None) if problem is None else (problem in found)


def test_verify_password_accepts_only_the_right_one() -> None:
    stored = hash_password("correct horse battery")
    assert verify_password(stored, "correct horse battery")
    assert not verify_password(stored, "correct horse battery ")
    assert not verify_password("not a hash", "correct horse battery")  # a damaged row: refused, no crash


def test_importing_the_module_hashes_nothing() -> None:
    """Every Dagster run and command imports it (through the users table's owner): an Argon2 hash at
    import cost each of them ~0.2 s of CPU before doing anything."""
    probe = (
        "import argon2\n"
        "calls = []\n"
        "original = argon2.PasswordHasher.hash\n"
        "argon2.PasswordHasher.hash = lambda self, *a, **k: calls.append(1) or original(self, *a, **k)\n"
        "import blendify_assets.db.users\n"
        "print(len(calls))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"


def test_an_unknown_account_still_costs_a_real_verification() -> None:
    hashed = hash_password("a long enough password")
    spend_verify_time("guess")  # the placeholder is made on first use
    started = time.process_time()
    spend_verify_time("guess")
    unknown = time.process_time() - started
    started = time.process_time()
    verify_password(hashed, "guess")
    known = time.process_time() - started
    assert unknown > known / 3, "an unknown address must cost about as much as a wrong password"
