"""What the loop reads from an iteration, without running one: the status block, the TODO
checklist, the circuit breaker and the hourly cap."""

from __future__ import annotations

from core.loops.signals import calls_wait, next_breaker, read_checklist, read_reply
from core.loops.types import BreakerState


def test_the_loop_is_done_only_with_both_signals_in_the_last_status_block() -> None:
    both = read_reply("Did it all.\n\n**STATUS:** COMPLETE\n**EXIT_SIGNAL:** true\nERROR: none")
    assert both.done and both.half is None and both.error is None
    one = read_reply("Part one done.\nSTATUS: COMPLETE\nEXIT_SIGNAL: false")
    assert not one.done and one.half == "`STATUS: COMPLETE` without `EXIT_SIGNAL: true`"
    other = read_reply("- STATUS: IN_PROGRESS\n- EXIT_SIGNAL: TRUE")
    assert not other.done and other.half == "`EXIT_SIGNAL: true` without `STATUS: COMPLETE`"
    later = read_reply("STATUS: COMPLETE\nEXIT_SIGNAL: true\n...then a test failed.\n"
                       "STATUS: IN_PROGRESS\nEXIT_SIGNAL: false\nERROR: test_login fails")
    assert not later.done and later.error == "test_login fails"
    assert not read_reply("TESTS_STATUS: COMPLETE\nEXIT_SIGNAL: true").complete
    assert not read_reply(None).done


def test_a_checklist_is_finished_when_it_has_items_and_all_are_ticked() -> None:
    assert read_checklist("# Auth\n- [x] login\n* [X] logout\n").finished
    assert not read_checklist("- [x] login\n- [ ] logout\n").finished
    assert not read_checklist("# nothing to do yet\n").finished


def test_the_breaker_half_opens_before_it_opens_and_progress_closes_it() -> None:
    first = next_breaker(0, False, 3)
    assert first.state is BreakerState.CLOSED and first.no_progress == 1
    second = next_breaker(first.no_progress, False, 3)
    assert second.state is BreakerState.HALF_OPEN
    assert next_breaker(second.no_progress, False, 3).state is BreakerState.OPEN
    assert next_breaker(second.no_progress, True, 3) == next_breaker(0, True, 3)
    assert next_breaker(0, True, 3).state is BreakerState.CLOSED
    assert next_breaker(0, False, 1).state is BreakerState.OPEN


def test_the_hourly_cap_makes_the_next_iteration_wait_for_the_oldest_to_age() -> None:
    assert calls_wait([], 1000.0, None) == ([], None)
    kept, wait = calls_wait([], 1000.0, 2)
    assert (kept, wait) == ([1000.0], None)
    kept, wait = calls_wait(kept, 1500.0, 2)
    assert (kept, wait) == ([1000.0, 1500.0], 4600.0)
    kept, wait = calls_wait([100.0, 200.0], 5000.0, 2)  # both more than an hour ago
    assert (kept, wait) == ([5000.0], None)
