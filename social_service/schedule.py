"""Posting-time suggestions from best-practice engagement windows, time-zone (and DST) aware.

A tenant's own posting windows (``TenantProfile.posting_windows``, read by ``common.agents.profile``) narrow the
choice: a platform with windows of its own (or windows for every platform) gets slots only inside them, at a
best-practice time that falls inside a window when there is one, else at the window's first hour.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from common.agents.profile import PostingHours
from social_service.platforms import RULES, Platform

MIN_POSTS_PER_PLATFORM = 1
MAX_POSTS_PER_PLATFORM = 10
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class PostingWindow:
    """A recommended local posting time on given weekdays (0 = Monday)."""

    weekdays: frozenset[int]
    at: time
    reason: str


POSTING_WINDOWS: Mapping[Platform, tuple[PostingWindow, ...]] = MappingProxyType(
    {
        # X: weekday engagement peaks around the morning commute, lunch and the end of the working day.
        Platform.X: (
            PostingWindow(frozenset(range(5)), time(9, 0), "weekday morning peak as people start work"),
            PostingWindow(frozenset(range(5)), time(12, 0), "weekday lunch-break peak"),
            PostingWindow(frozenset(range(5)), time(17, 0), "weekday end-of-workday peak"),
        ),
        # LinkedIn: professional audience, strongest mid-week (Tuesday to Thursday) during business mornings.
        Platform.LINKEDIN: (
            PostingWindow(frozenset({1, 2, 3}), time(8, 0), "mid-week before-work reading"),
            PostingWindow(frozenset({1, 2, 3}), time(10, 0), "mid-week mid-morning peak"),
            PostingWindow(frozenset({1, 2, 3}), time(12, 0), "mid-week lunch-break peak"),
        ),
    }
)
"""Best-practice posting windows per platform, in the audience's local time (ordered by time of day)."""


@dataclass(frozen=True)
class ScheduledSlot:
    """A proposed publication time for one post."""

    platform: Platform
    at: datetime
    rationale: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly representation with ``at`` in ISO 8601 (with UTC offset)."""
        return {"platform": self.platform.value, "at": self.at.isoformat(), "rationale": self.rationale}


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValueError(f"unknown time zone {tz!r}; use an IANA name such as 'Europe/Berlin'") from exc


def _local(day: datetime, at: time, zone: ZoneInfo) -> datetime:
    """Wall-clock ``at`` on ``day`` in ``zone``, normalised through UTC so DST gaps map to a real instant."""
    naive = datetime.combine(day.date(), at)
    return naive.replace(tzinfo=zone).astimezone(UTC).astimezone(zone)


def _candidates(
    platform: Platform, day: datetime, windows: Sequence[PostingHours]
) -> list[tuple[time, str, PostingHours | None]]:
    """Local posting times on ``day``, ordered, with their reason and the tenant window they fall in.

    Without a tenant window for the platform: the best-practice times of that weekday. With windows: inside each
    window open that day, the best-practice times it contains, else its first hour.
    """
    best = [w for w in POSTING_WINDOWS[platform] if day.weekday() in w.weekdays]
    if not any(w.applies_to(platform.value) for w in windows):
        return [(w.at, w.reason, None) for w in best]
    found: list[tuple[time, str, PostingHours | None]] = []
    for window in windows:
        if not (window.applies_to(platform.value) and window.open_on(day.isoweekday())):
            continue
        hours = f"the tenant's posting window ({window.describe()})"
        inside = [
            (b.at, f"{b.reason}, inside {hours}", window)
            for b in best
            if window.contains(b.at.hour, b.at.minute)
        ]
        found += inside or [(time(window.start_hour), f"first hour of {hours}", window)]
    return sorted(found, key=lambda candidate: candidate[0])


def _slots_for(
    platform: Platform,
    start: datetime,
    count: int,
    zone: ZoneInfo,
    tz: str,
    windows: Sequence[PostingHours] = (),
) -> list[ScheduledSlot]:
    name = RULES[platform].display_name
    slots: list[ScheduledSlot] = []
    day = start.astimezone(zone)
    for _ in range(7 * (count + 2)):  # every window opens at least once a week
        if len(slots) >= count:
            break
        for at_time, reason, window in _candidates(platform, day, windows):
            at = _local(day, at_time, zone)
            if at <= start or (window is not None and not window.contains(at.hour, at.minute)):
                continue  # past, or moved out of the window by a daylight-saving gap
            rationale = (
                f"{name}: {_DAY_NAMES[at.weekday()]} {at_time:%H:%M} {tz}, {reason}; "
                "at most one post per day on this platform."
            )
            slots.append(ScheduledSlot(platform=platform, at=at, rationale=rationale))
            break  # one slot per platform per day
        day = (day.replace(hour=12, minute=0, second=0, microsecond=0) + timedelta(days=1)).astimezone(zone)
    return slots


def propose_posting_times(
    platforms: Sequence[Platform],
    start: datetime,
    posts_per_platform: int = 1,
    tz: str = "UTC",
    windows: Sequence[PostingHours] = (),
) -> list[ScheduledSlot]:
    """Propose the next best-practice posting slots for each platform, inside the tenant's posting windows.

    For every platform, the earliest :data:`POSTING_WINDOWS` strictly after ``start`` are taken, at most one
    per local calendar day, so the same platform never posts twice on one day. Times are wall-clock times
    in ``tz`` and follow its daylight-saving rules. When ``windows`` has windows for a platform (or for every
    platform), its slots lie inside them: a best-practice time inside a window, else the window's first hour.

    Args:
        platforms: Platforms to schedule (duplicates are ignored; an empty sequence gives no slots).
        start: Time-zone-aware instant after which slots are proposed.
        posts_per_platform: Slots per platform, 1 to 10.
        tz: IANA time zone of the audience, e.g. "Europe/Berlin".
        windows: The tenant's posting windows (local hours in ``tz``); empty: best-practice times only.

    Returns:
        All slots sorted by time (ties in the order of ``platforms``), ``at`` expressed in ``tz``.

    Raises:
        ValueError: If ``start`` is naive, ``posts_per_platform`` is out of range or ``tz`` is unknown.
    """
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("start must be timezone-aware (e.g. datetime.now(UTC))")
    if (
        isinstance(posts_per_platform, bool)
        or not isinstance(posts_per_platform, int)
        or not MIN_POSTS_PER_PLATFORM <= posts_per_platform <= MAX_POSTS_PER_PLATFORM
    ):
        raise ValueError(
            f"posts_per_platform must be an integer from {MIN_POSTS_PER_PLATFORM} "
            f"to {MAX_POSTS_PER_PLATFORM}, got {posts_per_platform!r}"
        )
    zone = _zone(tz)
    ordered = list(dict.fromkeys(Platform(p) for p in platforms))
    slots: list[tuple[datetime, int, ScheduledSlot]] = []
    for rank, platform in enumerate(ordered):
        slots.extend(
            (slot.at, rank, slot)
            for slot in _slots_for(platform, start, posts_per_platform, zone, tz, windows)
        )
    return [slot for _, _, slot in sorted(slots, key=lambda item: (item[0], item[1]))]
