"""Discovery blends: each track is new to every member but one, and close to the group's taste.

No Spotify ``/recommendations`` (gone for new apps since 2024): candidates come from the members'
own long tails. A candidate is a recording that exactly one member (its source) holds, outside the
source's ``head`` most relevant tracks, so it is absent from every other member's data.

Score, in 0-1, over the other members O of the group (the pick's ``similarity_score`` is it x 100:
how close the track is to the taste of the people it is new to)::

    0.5 x artist closeness  = mean over O of their weight for the track's best-liked credited artist
  + 0.3 x genre closeness   = mean over O of the mean of their genre weights over the artist's genres
  + 0.2 x source relevance  = how much the source member likes it

Candidates with neither artist nor genre closeness are left out: a discovery must be near the
group's taste, not random. Ties: the source's latest play or like, then title and artist. Seats are
equal per source member (largest remainder); picks come in fair turns so no member dominates a
stretch, each turn taking the pick that flows best from the track before (``blend.order``).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from blendify_assets.blend.group import GroupTaste, sort_ties_apart
from blendify_assets.blend.model import MemberTaste
from blendify_assets.blend.normalize import credited_artist_keys
from blendify_assets.blend.order import Flow, flow_order
from blendify_assets.blend.picks import BlendPick, describe, names
from blendify_assets.blend.selection import ArtistCap, largest_remainder


def discovery_blend(group: GroupTaste, *, size: int, max_per_artist: int, head: int) -> list[BlendPick]:
    """The algorithm of the module docstring."""
    n_others = len(group.members) - 1
    artist_total: dict[str, float] = defaultdict(float)
    genre_total: dict[str, float] = defaultdict(float)
    artist_genres: dict[str, set[str]] = defaultdict(set)
    for m in group.members:
        for a, w in m.artists.items():
            artist_total[a] += w
        for g, w in m.genres.items():
            genre_total[g] += w
        for a, gs in m.artist_genres.items():
            artist_genres[a].update(gs)

    candidates: dict[str, list[tuple[float, str, dict[str, Any]]]] = {}
    for m in group.members:
        mine: list[tuple[float, str, dict[str, Any]]] = []
        # Closeness depends only on the credited artists, and a member holds ~10 tracks of each:
        # worked out once per credit line, it no longer dominates the algorithm (#17).
        closeness: dict[tuple[str, ...], tuple[str, float, list[str], float]] = {}
        for cid in group.ranked[m.user_id][head:]:
            holders = group.holdings[cid]
            if len(holders) != 1:
                continue
            h = holders[m.user_id]
            keys = credited_artist_keys(h.info.artist_name)
            known = closeness.get(keys)
            if known is None:
                known = closeness[keys] = _closeness(
                    m, keys, n_others, artist_total, genre_total, artist_genres
                )
            best_artist, artist_close, genres, genre_close = known
            if artist_close <= 0 and genre_close <= 0:
                continue
            score = round(0.5 * artist_close + 0.3 * genre_close + 0.2 * h.relevance, 4)
            why: dict[str, Any] = {"artist": best_artist, "artist_closeness": round(artist_close, 4)}
            why |= {"genres": genres[:5], "genre_closeness": round(genre_close, 4)}
            mine.append((score, cid, why))
        candidates[m.user_id] = sort_ties_apart(
            mine, lambda t: -t[0], functools.partial(_tie, group, m.user_id)
        )

    seats = largest_remainder(dict.fromkeys(candidates, 1.0), size)
    picks = _select(group, candidates, seats, size, ArtistCap(max_per_artist))
    ordered = flow_order(
        Flow(group),
        [],
        picks,
        track=lambda entry: group.holdings[entry[2]][entry[0]].info,
        strength=lambda entry: entry[1],
    )
    return [_pick(group, i + 1, entry) for i, entry in enumerate(ordered)]


def _closeness(
    m: MemberTaste,
    keys: tuple[str, ...],
    n_others: int,
    artist_total: Mapping[str, float],
    genre_total: Mapping[str, float],
    artist_genres: Mapping[str, set[str]],
) -> tuple[str, float, list[str], float]:
    """How close the others are to these credited artists: the best artist and its closeness,
    the artists' genres and their closeness."""
    best_artist, artist_close = "", 0.0
    for a in keys:
        close = (artist_total.get(a, 0.0) - m.artists.get(a, 0.0)) / n_others
        if close > artist_close:
            best_artist, artist_close = a, close
    genres = sorted(set().union(*(artist_genres.get(a, ()) for a in keys))) if keys else []
    genre_close = 0.0
    if genres:
        theirs = sum(genre_total.get(g, 0.0) - m.genres.get(g, 0.0) for g in genres)
        genre_close = theirs / len(genres) / n_others
    return best_artist, artist_close, genres, genre_close


def _select(
    group: GroupTaste,
    candidates: Mapping[str, list[tuple[float, str, dict[str, object]]]],
    seats: Mapping[str, int],
    size: int,
    cap: ArtistCap,
) -> dict[str, list[tuple[str, float, str, dict[str, object]]]]:
    picks: dict[str, list[tuple[str, float, str, dict[str, object]]]] = {u: [] for u in seats}
    cursor = dict.fromkeys(seats, 0)
    total = 0
    for respect_seats in (True, False):
        active = sorted(seats)
        while active and total < size:
            for user in list(active):
                if total >= size:
                    break
                if respect_seats and len(picks[user]) >= seats[user]:
                    active.remove(user)
                    continue
                got = None
                while cursor[user] < len(candidates[user]):
                    score, cid, why = candidates[user][cursor[user]]
                    cursor[user] += 1
                    info = group.holdings[cid][user].info
                    if cap.allows(info):
                        cap.take(info)
                        got = (user, score, cid, why)
                        break
                if got is None:
                    active.remove(user)
                else:
                    picks[user].append(got)
                    total += 1
    return picks


def _tie(group: GroupTaste, user: str, candidate: tuple[float, str, dict[str, Any]]) -> tuple[object, ...]:
    """Equal scores: the holder's latest play or like, then the recording."""
    return (*group.holdings[candidate[1]][user].tie_key(), candidate[1])


def _pick(group: GroupTaste, position: int, entry: tuple[str, float, str, dict[str, Any]]) -> BlendPick:
    user, score, cid, why = entry
    h = group.holdings[cid][user]
    others = [m for m in group.members if m.user_id != user]
    new_to = names([m.user_id for m in others])
    artist = str(why["artist"])
    fans = [m.user_id for m in others if m.artists.get(artist, 0.0) > 0]
    if fans:
        name = next(m.artist_names.get(artist, artist) for m in others if m.user_id == fans[0])
        if len(fans) == len(others):
            who = "who likes" if len(fans) == 1 else "who both like" if len(fans) == 2 else "who all like"
            close = f"new to {new_to}, {who} {name}"
        else:
            close = f"new to {new_to}; {names(fans)} {'likes' if len(fans) == 1 else 'like'} {name}"
    else:
        genres = ", ".join(why["genres"])
        close = f"new to {new_to}, close to genres they like ({genres})"
    reason = f"{close}; from {user}: {describe(h)}"
    metadata = {
        "algorithm": "discovery",
        "kind": "discovery",
        "cluster_id": cid,
        "shared_by": 1,
        "attributed_to": user,
        "members": {user: h.to_dict()},
        "new_to": [m.user_id for m in others],
        "because": {**why, "artist_liked_by": fans},
        "match": group.identity.match[cid].to_dict(),
        "reason": reason,
    }
    return BlendPick(position, h.info, user, round(100 * score, 1), metadata)
