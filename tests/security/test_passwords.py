"""The password policy the web app's sign-up and `users add` share."""

from __future__ import annotations

import pytest

from blendify_assets.security.passwords import hash_password, password_problem, verify_password


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
