"""Cron expressions, time zones and next fire times: pure functions, no clock."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from core.errors import InvalidInput
from core.schedules.cron import check_cron, check_zone, next_fire, next_fires, slot_name

BERLIN = "Europe/Berlin"


def at(text: str, zone: str = BERLIN) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp()


def local(ts: float, zone: str = BERLIN) -> str:
    return dt.datetime.fromtimestamp(ts, ZoneInfo(zone)).isoformat()


def fires_between(expr: str, start: float, end: float, zone: str = BERLIN) -> list[str]:
    """Every fire a schedule makes from ``start`` to ``end`` (as the scheduler moves on)."""
    out, t = [], next_fire(expr, start, zone)
    while t < end:
        out.append(local(t, zone))
        t = next_fire(expr, t, zone, last=t)
    return out


@pytest.mark.parametrize(("expr", "message"), [
    ("0 9 * *", "`0 9 * *`: 4 fields, expected 5 (minute hour day-of-month month "
                "day-of-week)"),
    ("0 9 * * * 30", "`0 9 * * * 30`: 6 fields, expected 5"),
    ("", "the cron expression is empty; give 5 fields"),
    ("61 * * * *", "`61 * * * *`: is not acceptable, out of range"),
    ("*/0 * * * *", "`*/0 * * * *`: step '0' in field 0 is not acceptable"),
    ("0 9 * * mon-xyz", "`0 9 * * mon-xyz`: is not acceptable"),
    ("0 9 31 2 *", "`0 9 31 2 *` never fires (no such date)"),
    ("@sometimes", "`@sometimes` is not a cron alias"),
])
def test_a_bad_cron_expression_is_refused_in_one_line(expr: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_cron(expr)
    assert str(caught.value).startswith(message), str(caught.value)
    assert "\n" not in str(caught.value)


def test_good_expressions_are_kept_with_their_spaces_normalised() -> None:
    assert check_cron("  0  7 * *   mon-fri ") == "0 7 * * mon-fri"
    assert check_cron("@Daily") == "@daily"


def test_an_unknown_time_zone_is_refused_and_none_means_the_machines() -> None:
    with pytest.raises(InvalidInput, match="unknown time zone 'Mars/Olympus'; use an IANA "
                       "name such as Europe/Berlin"):
        check_zone("Mars/Olympus")
    assert check_zone("America/New_York") == "America/New_York"
    ZoneInfo(check_zone(None))  # whatever this machine's is, it is a real zone


def test_every_weekday_at_seven_skips_the_weekend_in_its_own_time_zone() -> None:
    friday = at("2025-06-06T07:00", "America/New_York")
    nxt = next_fires("0 7 * * mon-fri", friday, "America/New_York", 3)
    assert [local(t, "America/New_York") for t in nxt] == [
        "2025-06-09T07:00:00-04:00", "2025-06-10T07:00:00-04:00", "2025-06-11T07:00:00-04:00"]
    assert slot_name(nxt[0]) == "2025-06-09T11:00:00Z"


def test_a_time_skipped_by_spring_forward_fires_right_after_the_gap() -> None:
    fires = fires_between("30 2 * * *", at("2025-03-29T12:00"), at("2025-04-01T00:00"))
    assert fires == ["2025-03-30T03:00:00+02:00", "2025-03-31T02:30:00+02:00"]


def test_a_time_repeated_by_fall_back_fires_once() -> None:
    fires = fires_between("30 2 * * *", at("2025-10-25T12:00"), at("2025-10-28T00:00"))
    assert fires == ["2025-10-26T02:30:00+02:00", "2025-10-27T02:30:00+01:00"]


def test_an_hourly_schedule_follows_real_time_through_fall_back() -> None:
    fires = fires_between("0 * * * *", at("2025-10-26T01:30"), at("2025-10-26T04:30"))
    assert fires == ["2025-10-26T02:00:00+02:00", "2025-10-26T02:00:00+01:00",
                     "2025-10-26T03:00:00+01:00", "2025-10-26T04:00:00+01:00"]


def test_a_late_fire_in_the_repeated_hour_does_not_fire_the_same_time_again() -> None:
    slot = at("2025-10-26T02:30")  # the first 02:30 (+02:00)
    fired_late = slot + 50 * 60  # at 02:20 the second time (+01:00)
    assert local(next_fire("30 2 * * *", fired_late, BERLIN, last=slot)) == \
        "2025-10-27T02:30:00+01:00"
