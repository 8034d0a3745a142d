"""The witness's rules on one run's events, without an agent: stuck after turns without a file
change or a new kind of action, healthy again on progress; stalled only while running, silent
past its threshold and idle; looping on the same call."""

from __future__ import annotations

from core.config import WitnessConfig
from core.witness import Classification
from core.witness.watch import Watch, classify

CFG = WitnessConfig(stuck_turns=3, loop_repeats=3, stalled_after_seconds=60,
                    stalled_cpu_percent=1)


def test_turns_without_progress_are_stuck_and_a_file_change_is_progress() -> None:
    w = Watch("r1", "demo", 0.0, CFG.window)
    for name in ("a", "b", "c"):
        w.tool_called("Read", f"Read {name}.py", 1)
    w.turn_finished(2)  # new kinds of action: progress
    for t, name in ((3, "a"), (4, "b"), (5, "c")):  # seen before, none of them three times
        w.tool_called("Read", f"Read {name}.py", t)
        w.turn_finished(t)
    verdict = classify(w, CFG, 6)
    assert (verdict.classification, verdict.reason) == (
        Classification.STUCK, "no file change and no new kind of action in 3 turns")
    w.tool_called("Edit", "Edit app.py", 7)
    w.turn_finished(8)
    assert classify(w, CFG, 9).classification is Classification.HEALTHY


def test_stalled_needs_silence_past_the_threshold_an_idle_process_and_a_running_run() -> None:
    w = Watch("r2", "demo", 0.0, CFG.window)
    w.sampled(42, True, 5.0, 10)
    w.sampled(42, True, 5.0, 70)  # no CPU time in a minute
    assert classify(w, CFG, 70).classification is Classification.STALLED
    assert classify(w, CFG, 70).reason == "no output for 70 s at 0% CPU"
    w.sampled(42, True, 35.0, 100)  # busy: 100% of the last 30 s
    assert classify(w, CFG, 100).classification is Classification.HEALTHY
    w.sampled(42, True, 35.0, 130)
    w.running = False  # waiting for a person is not stalled
    assert classify(w, CFG, 130).classification is Classification.HEALTHY
    w.sampled(42, False, None, 140)
    assert classify(w, CFG, 140).classification is Classification.ZOMBIE


def test_the_same_call_three_times_is_looping_until_other_calls_push_it_out() -> None:
    w = Watch("r3", "demo", 0.0, 4)
    for t in (1, 2, 3):
        w.tool_called("Bash", "Run: npm test", t)
    assert classify(w, CFG, 4).reason == (
        "the same call (Run: npm test) 3 times in its last 3 tool calls")
    for t in (5, 6):
        w.tool_called("Read", f"Read f{t}.py", t)
    assert classify(w, CFG, 7).classification is Classification.HEALTHY


def test_a_run_three_times_longer_than_its_project_usually_takes_is_slow() -> None:
    w = Watch("r4", "demo", 0.0, CFG.window, started_at=100.0)
    w.usual = (600.0, 8)  # the median of the project's last 8 finished runs: 10 min
    w.tool_called("Edit", "Edit app.py", 1500)
    assert classify(w, CFG, 1500).classification is Classification.HEALTHY
    verdict = classify(w, CFG, 100 + 1801)
    assert (verdict.classification, verdict.reason) == (
        Classification.SLOW, "live for 30 min; its project's runs usually take 10 min "
        "(median of the last 8)")
    w.usual = None  # too few finished runs to know what is usual
    assert classify(w, CFG, 100 + 1801).classification is Classification.HEALTHY
