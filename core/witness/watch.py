"""What the witness knows of one live run, from its events and its process, and the rules that
classify it: a pure function of that and the time."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

from core.config import WitnessConfig
from core.witness.types import Classification, Verdict

# Tools whose call changes the worktree: progress.
FILE_TOOLS = frozenset({"Write", "Edit", "MultiEdit", "NotebookEdit"})
HEALTHY = Verdict(Classification.HEALTHY, "making progress")


def _minutes(seconds: float) -> str:
    return f"{int(seconds)} s" if seconds < 120 else f"{int(seconds // 60)} min"


@dataclass
class Watch:
    run_id: str
    project: str
    last_output_at: float  # the agent's last text, tool call or turn end (or its start)
    window: int
    running: bool = True  # RUNNING, not WAITING for a person
    recent: deque[str] = field(init=False)  # the last tool calls, as "tool: summary"
    kinds: set[str] = field(default_factory=set)  # every kind of action seen
    progress_this_turn: bool = False
    turns_without_progress: int = 0
    pid: int | None = None
    cpu: tuple[float, float] | None = None  # (when, CPU seconds) of the last sample
    cpu_percent: float | None = None  # over the last two samples
    gone: bool = False  # its process was gone at the last sample
    verdict: Verdict = HEALTHY
    since: float = 0.0
    restarts: int = 0
    errors: deque[str] = field(init=False)  # the last failed tool calls' errors
    log_cursor: int = 0  # the last run log event read for them
    started_at: float = 0.0  # when the run started working
    usual: tuple[float, int] | None = None  # its project's median run time, over how many runs
    silenced: bool = False  # its alarms are false: classified, but nothing said or done

    def __post_init__(self) -> None:
        self.recent = deque(maxlen=self.window)
        self.errors = deque(maxlen=self.window)

    def tool_failed(self, text: str) -> None:
        """A tool call failed with ``text`` (from the run's log)."""
        self.errors.append(" ".join(text.split())[:300])

    def tool_called(self, tool: str, summary: str, at: float) -> None:
        key = summary or tool  # the call as the run's log says it: the tool and its input
        if (key not in self.kinds or tool in FILE_TOOLS
                or (tool == "Bash" and "git commit" in summary)):
            self.progress_this_turn = True
        self.kinds.add(key)
        self.recent.append(key)
        self.last_output_at = max(self.last_output_at, at)

    def output(self, at: float) -> None:
        self.last_output_at = max(self.last_output_at, at)

    def turn_finished(self, at: float) -> None:
        self.output(at)
        if self.progress_this_turn:
            self.turns_without_progress = 0
        else:
            self.turns_without_progress += 1
        self.progress_this_turn = False

    def sampled(self, pid: int | None, alive: bool, cpu_seconds: float | None,
                at: float) -> None:
        """A look at the process: ``cpu_seconds`` of its tree, None when it is gone."""
        if pid != self.pid:
            self.pid, self.cpu, self.cpu_percent = pid, None, None
        self.gone = pid is not None and not alive
        if cpu_seconds is None:
            return
        if self.cpu is not None and at > self.cpu[0]:
            self.cpu_percent = 100 * max(0.0, cpu_seconds - self.cpu[1]) / (at - self.cpu[0])
        self.cpu = (at, cpu_seconds)

    def restarted(self, at: float) -> None:
        """The agent was told to go on: silence counts from now."""
        self.restarts += 1
        self.last_output_at = at
        self.cpu, self.cpu_percent = None, None

    def looping(self) -> tuple[str, int] | None:
        if not self.recent:
            return None
        key, count = Counter(self.recent).most_common(1)[0]
        return key, count

    def same_error(self) -> tuple[str, int] | None:
        if not self.errors:
            return None
        error, count = Counter(self.errors).most_common(1)[0]
        return error, count


def classify(w: Watch, cfg: WitnessConfig, now: float) -> Verdict:
    if w.gone:
        return Verdict(Classification.ZOMBIE,
                       f"its agent process (pid {w.pid}) is gone but the run is live")
    loop = w.looping()
    if loop is not None and loop[1] >= cfg.loop_repeats:
        return Verdict(Classification.LOOPING,
                       f"the same call ({loop[0][:120]}) {loop[1]} times in its last "
                       f"{len(w.recent)} tool calls")
    error = w.same_error()
    if error is not None and error[1] >= cfg.loop_repeats:
        return Verdict(Classification.LOOPING,
                       f"the same error ({error[0][:120]}) {error[1]} times in its last "
                       f"{len(w.errors)} failed tool calls")
    silent = now - w.last_output_at
    if (w.running and silent >= cfg.stalled_after_seconds and w.cpu_percent is not None
            and w.cpu_percent < cfg.stalled_cpu_percent):
        return Verdict(Classification.STALLED,
                       f"no output for {_minutes(silent)} at {w.cpu_percent:.0f}% CPU")
    if w.turns_without_progress >= cfg.stuck_turns:
        return Verdict(Classification.STUCK,
                       f"no file change and no new kind of action in "
                       f"{w.turns_without_progress} turns")
    if w.usual is not None and w.started_at and now - w.started_at > cfg.slow_factor * w.usual[0]:
        return Verdict(Classification.SLOW,
                       f"live for {_minutes(now - w.started_at)}; its project's runs usually "
                       f"take {_minutes(w.usual[0])} (median of the last {w.usual[1]})")
    return HEALTHY
