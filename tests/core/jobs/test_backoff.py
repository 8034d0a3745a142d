"""Retry times and giving up: a pure function of the tries, checked without a clock."""

from __future__ import annotations

import pytest

from core.jobs import RetryPolicy


def test_the_default_policy_waits_10_20_40_80_seconds_and_gives_up_after_five_tries() -> None:
    policy = RetryPolicy()
    assert [policy.delay(tries) for tries in range(1, 5)] == [10, 20, 40, 80]
    assert [policy.gives_up(tries) for tries in range(1, 6)] == [False] * 4 + [True]


def test_the_delay_stops_growing_at_its_cap_however_many_tries() -> None:
    policy = RetryPolicy(max_tries=100_000, base_seconds=1, factor=3, max_seconds=600)
    assert policy.delay(6) == 243
    assert policy.delay(7) == 600
    assert policy.delay(50_000) == 600


@pytest.mark.parametrize("kwargs", [{"max_tries": 0}, {"factor": 0.5}, {"base_seconds": -1}])
def test_a_policy_that_could_not_work_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
