"""Unit tests for social_service.schedule."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from social_service.platforms import Platform
from social_service.schedule import propose_posting_times

# 2025-03-05 is a Wednesday.
WEDNESDAY_1030_UTC = datetime(2025, 3, 5, 10, 30, tzinfo=UTC)


def test_x_next_slots_one_per_day_on_weekdays() -> None:
    slots = propose_posting_times([Platform.X], WEDNESDAY_1030_UTC, posts_per_platform=4)
    assert [slot.at for slot in slots] == [
        datetime(2025, 3, 5, 12, 0, tzinfo=UTC),  # Wed, 09:00 already passed
        datetime(2025, 3, 6, 9, 0, tzinfo=UTC),  # Thu
        datetime(2025, 3, 7, 9, 0, tzinfo=UTC),  # Fri
        datetime(2025, 3, 10, 9, 0, tzinfo=UTC),  # Mon, weekend skipped
    ]
    assert all(slot.platform is Platform.X for slot in slots)
    assert "Wednesday 12:00 UTC" in slots[0].rationale


def test_linkedin_only_tuesday_to_thursday() -> None:
    slots = propose_posting_times([Platform.LINKEDIN], WEDNESDAY_1030_UTC, posts_per_platform=5)
    assert [slot.at.weekday() for slot in slots] == [2, 3, 1, 2, 3]
    assert [slot.at.time() for slot in slots] == [time(12, 0)] + [time(8, 0)] * 4
    assert len({slot.at.date() for slot in slots}) == 5


@pytest.mark.parametrize("posts", [1, 3, 10])
def test_slots_strictly_after_start_sorted_and_one_per_day(posts: int) -> None:
    start = datetime(
        2025, 3, 4, 8, 0, tzinfo=UTC
    )  # Tuesday 08:00 exactly: the LinkedIn 08:00 slot is excluded
    slots = propose_posting_times([Platform.X, Platform.LINKEDIN], start, posts_per_platform=posts)
    assert len(slots) == 2 * posts
    assert all(slot.at > start for slot in slots)
    assert [slot.at for slot in slots] == sorted(slot.at for slot in slots)
    for platform in Platform:
        days = [slot.at.date() for slot in slots if slot.platform is platform]
        assert len(days) == posts == len(set(days))
    first_linkedin = next(slot for slot in slots if slot.platform is Platform.LINKEDIN)
    assert first_linkedin.at == datetime(2025, 3, 4, 10, 0, tzinfo=UTC)


def test_ties_keep_platform_order() -> None:
    start = datetime(2025, 3, 4, 11, 0, tzinfo=UTC)  # Tuesday: both platforms have a 12:00 window
    slots = propose_posting_times([Platform.LINKEDIN, Platform.X, Platform.LINKEDIN], start)
    assert [(slot.platform, slot.at.hour) for slot in slots] == [(Platform.LINKEDIN, 12), (Platform.X, 12)]


def test_dst_aware_local_times() -> None:
    tz = "America/New_York"  # DST starts Sunday 2025-03-09
    start = datetime(2025, 3, 7, 21, 0, tzinfo=UTC)  # Friday 16:00 EST
    slots = propose_posting_times([Platform.X], start, posts_per_platform=3, tz=tz)
    assert [slot.at.isoformat() for slot in slots] == [
        "2025-03-07T17:00:00-05:00",
        "2025-03-10T09:00:00-04:00",
        "2025-03-11T09:00:00-04:00",
    ]
    assert all(slot.at.tzinfo == ZoneInfo(tz) for slot in slots)
    assert slots[1].at.astimezone(UTC) == datetime(2025, 3, 10, 13, 0, tzinfo=UTC)
    assert slots[0].to_dict() == {
        "platform": "x",
        "at": "2025-03-07T17:00:00-05:00",
        "rationale": slots[0].rationale,
    }


def test_start_in_other_zone_is_compared_as_instant() -> None:
    # Monday 23:30 in Tokyo is still Monday 14:30 UTC... and Monday 10:30 in New York.
    start = datetime(2025, 3, 10, 23, 30, tzinfo=ZoneInfo("Asia/Tokyo"))
    [slot] = propose_posting_times([Platform.X], start, tz="America/New_York")
    assert slot.at.isoformat() == "2025-03-10T12:00:00-04:00"


def test_local_weekday_is_used_not_utc_weekday() -> None:
    start = datetime(2025, 3, 8, 1, 0, tzinfo=UTC)  # Saturday in UTC, still Friday 20:00 in New York
    [slot] = propose_posting_times([Platform.X], start, tz="America/New_York")
    assert slot.at.date() == date(2025, 3, 10)  # Monday, not Saturday
    assert slot.at - start > timedelta(days=2)


def test_empty_platforms() -> None:
    assert propose_posting_times([], WEDNESDAY_1030_UTC) == []


def test_validation_errors() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        propose_posting_times([Platform.X], datetime(2025, 3, 5, 10, 0))
    for bad in (0, 11, -1):
        with pytest.raises(ValueError, match="posts_per_platform"):
            propose_posting_times([Platform.X], WEDNESDAY_1030_UTC, posts_per_platform=bad)
    for bad_tz in ("Mars/Olympus_Mons", "", "../etc/passwd"):
        with pytest.raises(ValueError, match="unknown time zone"):
            propose_posting_times([Platform.X], WEDNESDAY_1030_UTC, tz=bad_tz)
