"""Runs: starting them through the job queue, their supervisors, the commands that reach them,
questions to people, review and health.

Public names load their module on first use (see :mod:`core.exports`)."""

from typing import TYPE_CHECKING

from core.exports import lazy_exports

if TYPE_CHECKING:
    from core.runs.commands import CommandChannel as CommandChannel
    from core.runs.commands import CommandKind as CommandKind
    from core.runs.commands import RunCommand as RunCommand
    from core.runs.commands import SqliteCommandChannel as SqliteCommandChannel
    from core.runs.executor import Executor as Executor
    from core.runs.files import FileTooLarge as FileTooLarge
    from core.runs.files import RunFiles as RunFiles
    from core.runs.gate import Capacity as Capacity
    from core.runs.gate import Gate as Gate
    from core.runs.gate import Hold as Hold
    from core.runs.health import Condition as Condition
    from core.runs.health import Health as Health
    from core.runs.health import assess as assess
    from core.runs.interactions import Interactions as Interactions
    from core.runs.review import MergeOutcome as MergeOutcome
    from core.runs.review import Review as Review
    from core.runs.service import RunManager as RunManager
    from core.runs.store import RunEvent as RunEvent
    from core.runs.store import RunStore as RunStore
    from core.runs.supervisor import RunSupervisor as RunSupervisor
    from core.runs.uploads import UploadTooBig as UploadTooBig
    from core.runs.uploads import save_upload as save_upload
    from core.runs.uploads import uploads_dir as uploads_dir

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "RunManager": "service",
    "RunStore": "store",
    "RunEvent": "store",
    "Interactions": "interactions",
    "Executor": "executor",
    "RunFiles": "files",
    "FileTooLarge": "files",
    "Gate": "gate",
    "Hold": "gate",
    "Capacity": "gate",
    "CommandChannel": "commands",
    "CommandKind": "commands",
    "RunCommand": "commands",
    "SqliteCommandChannel": "commands",
    "RunSupervisor": "supervisor",
    "Review": "review",
    "MergeOutcome": "review",
    "Health": "health",
    "Condition": "health",
    "assess": "health",
    "save_upload": "uploads",
    "UploadTooBig": "uploads",
    "uploads_dir": "uploads",
})
