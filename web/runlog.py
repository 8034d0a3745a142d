"""A run's log as the run page shows it: what the agent said, each tool call folded with
what it gave back, failures marked.

The log is the run's stored events (``RunManager.logs``, ids in order). A tool call's result
is a later event (``tool_result``, or ``tool_error`` when it failed); results come in the
order of their calls, so each goes to the oldest call still waiting for one. A finished turn
or an interrupt ends the wait of calls that got no result.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.runs.store import RunEvent

RESULTS = ("tool_result", "tool_error")
ENDS_TURN = ("result", "interrupt")
LABELS = {"text": "", "tool": "", "tool_result": "result", "tool_error": "failed",
          "result": "turn ended", "retry": "retrying", "steer": "steered", "answer": "answered",
          "interrupt": "interrupted", "merge": "merge"}


@dataclass
class LogItem:
    """One line of the log: an event, and for a tool call the result that came back."""

    event: RunEvent
    result: RunEvent | None = None
    waiting: bool = False  # a tool call whose result may still come

    @property
    def kind(self) -> str:
        return self.event.kind

    @property
    def failed(self) -> bool:
        return self.kind == "tool_error" or (
            self.result is not None and self.result.kind == "tool_error")

    @property
    def label(self) -> str:
        return LABELS.get(self.kind, self.kind)


def fold(events: list[RunEvent]) -> list[LogItem]:
    items: list[LogItem] = []
    waiting: list[LogItem] = []  # tool calls without their result yet, oldest first
    for event in events:
        if event.kind in RESULTS and waiting:
            call = waiting.pop(0)
            call.result, call.waiting = event, False
            continue
        item = LogItem(event)
        items.append(item)
        if event.kind == "tool":
            item.waiting = True
            waiting.append(item)
        elif event.kind in ENDS_TURN:
            for call in waiting:
                call.waiting = False
            waiting.clear()
    return items
