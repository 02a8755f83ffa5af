"""Blends in the warehouse: create one, generate a generation of tracks, read the latest one.

The pure ``blend`` package over `db.blends` (its SQL), no Dagster: the blend asset, the CLI and `blendify demo` all
call these functions. A generation is appended, never edited: every row of one generation shares
one ``created_at``, so a blend's history is the sequence of its generations.
"""

from __future__ import annotations

import inspect
import json
import math
import re
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection, Engine

from blendify_assets.analytics.tastes import load_tastes
from blendify_assets.blend import ALGORITHMS, MAX_MEMBERS, MIN_MEMBERS, BlendPick, generate_blend
from blendify_assets.blend import algorithms as _algorithms
from blendify_assets.blend.picks import names
from blendify_assets.core.errors import BlendifyError
from blendify_assets.core.time import utcnow
from blendify_assets.db import blends
from blendify_assets.db.users import email_of, ids_for_emails, normalise_email

MAX_SIZE = 500
# Weights are relative shares stored as `real`: this range keeps every ratio meaningful (up to 10^6)
# and every value far from real's overflow and underflow.
MIN_WEIGHT, MAX_WEIGHT = 0.001, 1000.0
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class BlendNotFound(BlendifyError):
    pass


@dataclass(frozen=True)
class GenerationResult:
    """What one generation appended (``created_at`` is None when nothing could be picked).

    ``note`` says what a listener should know about it: why nothing was picked, or which members
    have no music yet.
    """

    blend_id: uuid.UUID
    algorithm: str
    created_at: datetime | None
    tracks: int
    shared: int
    discovery: int
    cross_provider: int
    per_member: Mapping[str, int] = field(default_factory=dict)
    """Tracks attributed to each member, by label (display name, else email)."""
    note: str | None = None


@dataclass(frozen=True)
class Generation:
    """A blend and the rows of its latest generation, in playlist order."""

    blend: Mapping[str, Any]  # rows as the database returns them
    members: Sequence[Mapping[str, Any]]
    created_at: datetime | None
    tracks: Sequence[Mapping[str, Any]]


# --- create ----------------------------------------------------------------------------------------


def create_blend(
    engine: Engine,
    name: str,
    member_emails: Sequence[str],
    algorithm: str,
    weights: Sequence[float] | None = None,
    size: int = 50,
    description: str | None = None,
    creator_email: str | None = None,
) -> uuid.UUID:
    """Write a blend and its participants; nothing is written unless every input is valid.

    ``weights`` follow ``member_emails`` in order (weighted blends only); the creator defaults to
    the first member. The first generation is left to the new-blends sensor; use
    :func:`create_and_generate` to have the tracks at once.
    """
    spec = _checked(name, member_emails, algorithm, weights, size, description, creator_email)
    with engine.begin() as conn:
        return _insert_blend(conn, spec)


def create_and_generate(
    engine: Engine,
    name: str,
    member_emails: Sequence[str],
    algorithm: str,
    weights: Sequence[float] | None = None,
    size: int = 50,
    description: str | None = None,
    creator_email: str | None = None,
) -> GenerationResult:
    """Create a blend and generate its first tracks in one transaction (``create_blend``'s rules).

    The new-blends sensor sees only committed blends, so it finds this one already generated and
    does not generate it a second time; it only registers the blend for the daily refresh.
    """
    spec = _checked(name, member_emails, algorithm, weights, size, description, creator_email)
    with engine.begin() as conn:
        return _generate(conn, _insert_blend(conn, spec))


@dataclass(frozen=True)
class _BlendSpec:
    """A blend's checked inputs."""

    name: str
    emails: list[str]
    algorithm: str
    weights: list[float]
    size: int
    description: str | None
    creator: str


def _checked(
    name: str,
    member_emails: Sequence[str],
    algorithm: str,
    weights: Sequence[float] | None,
    size: int,
    description: str | None,
    creator_email: str | None,
    min_members: int = MIN_MEMBERS,
) -> _BlendSpec:
    """Every input checked before anything is written; one clear error otherwise."""
    name = (name or "").strip()
    if not name:
        raise BlendifyError("a blend needs a name")
    if algorithm not in ALGORITHMS:
        raise BlendifyError(f"unknown algorithm {algorithm!r}: choose one of {', '.join(ALGORITHMS)}")
    emails = [normalise_email(e) for e in member_emails]
    dupes = sorted(e for e, n in Counter(emails).items() if n > 1)
    if dupes:
        raise BlendifyError(f"a member is listed twice: {', '.join(dupes)}")
    if not min_members <= len(emails) <= MAX_MEMBERS:
        raise BlendifyError(f"a blend needs {MIN_MEMBERS} to {MAX_MEMBERS} members; got {len(emails)}")
    member_weights = _check_weights(algorithm, weights, len(emails))
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_SIZE:
        raise BlendifyError(f"size must be a whole number from 1 to {MAX_SIZE}; got {size!r}")
    creator = normalise_email(creator_email) if creator_email else emails[0]
    return _BlendSpec(name, emails, algorithm, member_weights, size, description, creator)


def _insert_blend(conn: Connection, spec: _BlendSpec) -> uuid.UUID:
    found = ids_for_emails(conn, [*spec.emails, spec.creator])
    unknown = [e for e in dict.fromkeys([*spec.emails, spec.creator]) if e not in found]
    if unknown:
        raise BlendifyError(f"no such user: {', '.join(unknown)} (add with `blendify users add`)")
    return blends.insert_blend(
        conn,
        name=spec.name,
        description=spec.description,
        creator=found[spec.creator],
        algorithm=spec.algorithm,
        config={"size": spec.size},
        members=[(found[e], w) for e, w in zip(spec.emails, spec.weights, strict=True)],
    )


def create_open_blend(
    engine: Engine,
    name: str,
    creator_user_id: uuid.UUID,
    algorithm: str,
    size: int = 50,
    description: str | None = None,
) -> uuid.UUID:
    """A blend with its creator as the only member, for others to join by invite (the web app).

    Same checks as :func:`create_blend` except the member count: it is generated once a second
    member joins (until then a generation is a no-op that says it waits for members).
    """
    with engine.connect() as conn:
        email = email_of(conn, creator_user_id)
    if email is None:
        raise BlendifyError("no such user")
    spec = _checked(name, [email], algorithm, None, size, description, email, min_members=1)
    with engine.begin() as conn:
        return _insert_blend(conn, spec)


def add_member(conn: Connection, blend_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """Add a member inside the caller's transaction (an invite's redemption); False if already in.

    The blend row is locked first, so concurrent joins count members one at a time and a blend
    never passes MAX_MEMBERS.
    """
    if blends.lock(conn, blend_id) is None:
        raise BlendNotFound(f"no blend with id {blend_id}")
    ids = {m["user_id"] for m in blends.members(conn, blend_id)}
    if user_id in ids:
        return False
    if len(ids) >= MAX_MEMBERS:
        raise BlendifyError(f"this blend is full: a blend has at most {MAX_MEMBERS} members")
    blends.add_participant(conn, blend_id, user_id)
    return True


def remove_member(engine: Engine, blend_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """The member leaves. Past generations keep whose taste put each track there."""
    with engine.begin() as conn:
        if blends.lock(conn, blend_id) is None:
            return False
        return blends.remove_participant(conn, blend_id, user_id)


def set_member_weight(engine: Engine, blend_id: uuid.UUID, user_id: uuid.UUID, weight: float) -> None:
    """A member's own weight in a weighted blend (same bounds as ``blends create --weights``)."""
    with engine.begin() as conn:
        blend = blends.lock(conn, blend_id)
        if blend is None:
            raise BlendNotFound(f"no blend with id {blend_id}")
        (value,) = _check_weights(str(blend["algorithm_type"]), [weight], 1)
        if not blends.set_weight(conn, blend_id, user_id, value):
            raise BlendNotFound(f"no blend with id {blend_id}")


def _check_weights(algorithm: str, weights: Sequence[float] | None, members: int) -> list[float]:
    if weights is None:
        return [1.0] * members
    if algorithm != "weighted":
        raise BlendifyError(f"weights apply only to the weighted algorithm, not {algorithm}")
    if len(weights) != members:
        raise BlendifyError(f"give one weight per member: {members} members, {len(weights)} weights")
    out = []
    for w in weights:
        try:
            value = float(w)
        except (TypeError, ValueError):
            raise BlendifyError(f"a weight must be a number; got {w!r}") from None
        if not math.isfinite(value) or not MIN_WEIGHT <= value <= MAX_WEIGHT:
            raise BlendifyError(
                f"weights must be positive numbers from {MIN_WEIGHT:g} to {MAX_WEIGHT:g}; got {w!r}"
            )
        out.append(value)
    return out


# --- generate --------------------------------------------------------------------------------------


def generate_blend_tracks(engine: Engine, blend_id: uuid.UUID | str) -> GenerationResult:
    """Run the blend's algorithm on its members' current tastes and append one generation.

    One transaction: the blend row is locked (generations of one blend queue), members' latest
    state is read from the views across all their providers, the rows are appended with one
    ``created_at``, and ``blends.total_tracks`` / ``updated_at`` follow. Deterministic: the same
    warehouse state gives the same tracks in the same order. When no member has anything to pick
    from, nothing is appended and the previous generation stays current.
    """
    bid = _blend_uuid(blend_id)
    with engine.begin() as conn:
        return _generate(conn, bid)


def _generate(conn: Connection, bid: uuid.UUID) -> GenerationResult:
    blend = blends.lock(conn, bid)
    if blend is None:
        raise BlendNotFound(f"no blend with id {bid}")
    members = blends.members(conn, bid)
    if len(members) < MIN_MEMBERS:  # a blend waiting for invitees to join (the web app)
        waiting = f"waiting for members: a blend is generated once it has {MIN_MEMBERS} to {MAX_MEMBERS}"
        return GenerationResult(bid, str(blend["algorithm_type"]), None, 0, 0, 0, 0, {}, waiting)
    if len(members) > MAX_MEMBERS:
        raise BlendifyError(
            f"blend {bid} has {len(members)} member(s); a blend needs {MIN_MEMBERS} to {MAX_MEMBERS}"
        )
    ids = [str(m["user_id"]) for m in members]
    tastes = load_tastes(conn, ids)
    weights = {str(m["user_id"]): float(m["weight"] or 1.0) for m in members}
    algorithm = str(blend["algorithm_type"])
    options = algorithm_options(algorithm, blend["algorithm_config"])
    try:
        picks = generate_blend(
            algorithm, tastes, weights=weights if algorithm == "weighted" else None, config=options
        )
    except ValueError as exc:
        raise BlendifyError(f"blend {bid}: {exc}") from None
    labels = {str(m["user_id"]): str(m["label"]) for m in members}
    created_at = None
    if picks:
        created_at = blends.next_created_at(conn, bid, utcnow().replace(tzinfo=None))
        blends.append_generation(conn, bid, [_row(bid, p, labels, created_at) for p in picks], created_at)
    silent = [labels[t.user_id] for t in tastes if not t.tracks]
    note = _note(algorithm, options, bool(picks), silent, len(members))
    return _result(bid, algorithm, created_at, picks, labels, note)


def _note(
    algorithm: str, options: Mapping[str, object], picked: bool, silent: list[str], n: int
) -> str | None:
    """What actually happened, in a sentence: why a generation is empty, or who has no music yet."""
    without = ""
    if silent:
        verb = "has" if len(silent) == 1 else "have"
        without = f"{names(silent)} {verb} no synced music yet"
    if picked:
        return f"{without}, so no tracks are theirs" if silent else None
    if len(silent) == n:
        return "none of the members has synced music to pick from yet"
    if algorithm == "discovery":
        head = options.get("head", _algorithms.DEFAULT_DISCOVERY_HEAD)
        found = (
            f"no discoveries: beyond each member's {head} most relevant tracks, nothing one of them "
            "has is by an artist or in a genre the others like"
        )
        return f"{found}; {without}" if silent else found
    return f"nothing could be picked; {without}" if silent else "nothing could be picked"


def algorithm_options(algorithm: str, config: object) -> dict[str, object]:
    """The keys of ``blends.algorithm_config`` the algorithm understands (the web app may store more)."""
    if not isinstance(config, Mapping):
        return {}
    fn = getattr(_algorithms, algorithm)
    accepted = {p.name for p in inspect.signature(fn).parameters.values() if p.kind is p.KEYWORD_ONLY}
    return {k: v for k, v in config.items() if k in accepted - {"identity"}}


def _blend_uuid(blend_id: uuid.UUID | str) -> uuid.UUID:
    if isinstance(blend_id, uuid.UUID):
        return blend_id
    if not _UUID.match(str(blend_id).strip()):
        raise BlendNotFound(f"not a blend id (expected a UUID): {blend_id!r}")
    return uuid.UUID(str(blend_id).strip())


def _row(
    bid: uuid.UUID, pick: BlendPick, labels: Mapping[str, str], created_at: datetime
) -> dict[str, object]:
    row = pick.to_row()
    metadata = dict(pick.blend_metadata)
    metadata["reason"] = humanise(str(metadata.get("reason", "")), labels)
    named = {*metadata.get("members", {}), pick.source_user_id, *metadata.get("new_to", ())}
    metadata["member_labels"] = {u: labels[u] for u in sorted(named) if u in labels}
    row.update(
        blend_id=bid,
        source_user_id=uuid.UUID(str(row["source_user_id"])),
        blend_metadata=json.dumps(metadata),
        created_at=created_at,
    )
    return row


def humanise(text: str, labels: Mapping[str, str]) -> str:
    """Member ids in a reason become names people recognise."""
    for uid, label in labels.items():
        text = text.replace(uid, label)
    return text


def _result(
    bid: uuid.UUID,
    algorithm: str,
    created_at: datetime | None,
    picks: list[BlendPick],
    labels: Mapping[str, str],
    note: str | None,
) -> GenerationResult:
    per_member = Counter(labels[p.source_user_id] for p in picks)
    return GenerationResult(
        blend_id=bid,
        algorithm=algorithm,
        created_at=created_at,
        tracks=len(picks),
        shared=sum(1 for p in picks if p.blend_metadata.get("kind") == "shared"),
        discovery=sum(1 for p in picks if p.blend_metadata.get("kind") == "discovery"),
        cross_provider=sum(
            1 for p in picks if len({m["provider"] for m in p.blend_metadata["members"].values()}) > 1
        ),
        per_member={labels[u]: per_member.get(labels[u], 0) for u in labels},
        note=note,
    )


# --- read ------------------------------------------------------------------------------------------


def blends_created_since(
    engine: Engine, since: datetime | None, lookback: timedelta, limit: int = 1000
) -> list[tuple[str, datetime, bool]]:
    """(id, created_at, generated) of blends created after ``since - lookback`` (see
    `db.blends.created_since`)."""
    return blends.created_since(engine, since, lookback, limit)


def latest_generation(engine: Engine, blend_id: uuid.UUID | str) -> Generation:
    """The blend, its members and the rows of its latest generation (empty before the first)."""
    bid = _blend_uuid(blend_id)
    with engine.connect() as conn:
        blend = blends.blend_with_creator(conn, bid)
        if blend is None:
            raise BlendNotFound(f"no blend with id {bid}")
        members = blends.members(conn, bid)
        created_at = blends.last_generation_at(conn, bid)
        tracks = blends.generation_tracks(conn, bid, created_at) if created_at is not None else []
    return Generation(dict(blend), [dict(m) for m in members], created_at, tracks)
