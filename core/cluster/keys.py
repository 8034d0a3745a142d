"""The cluster's Redis keys and streams, in one place (a leaf module).

- ``gluon:exec``             the queue of ``run.exec`` jobs (a :class:`RedisJobQueue` prefix):
                             each a run dispatched to the workers, with its snapshot
- ``gluon:dispatch:<run>``   hash: the attempt dispatched, and ``open`` (0 once the coordinator
                             no longer wants it run: cancelled or failed before a worker took it)
- ``gluon:refusals:<run>:<attempt>``  hash: worker -> why it refused the attempt
- ``gluon:lease:run:<run>``  the worker holding the run: its token, expiring with the lease
- ``gluon:fence:run:<run>``  counter: each worker taking the run takes the next number
- ``gluon:progress:<run>``   hash: what a worker taking the run over must know (session,
                             prompt delivered, costs), written by the holder of the newest fence
- ``gluon:relay``            stream: what happens on the workers, read by the coordinator's
                             consumer group ``coordinator``
- ``gluon:cmd:<run>``        stream: the commands (steer, interrupt, cancel, answers) for a run
- ``gluon:workers``          hash: worker name -> its heartbeat (JSON)
- ``gluon:workers:draining`` set: the workers that finish their runs and take no new ones
"""

from __future__ import annotations

EXEC_PREFIX = "gluon:exec"
EXEC_KIND = "run.exec"
RELAY = "gluon:relay"
RELAY_GROUP = "coordinator"
WORKERS = "gluon:workers"
DRAINING = "gluon:workers:draining"


def exec_key(run_id: str, attempt: int) -> str:
    """The idempotency key of a run's ``run.exec`` job for one attempt."""
    return f"{EXEC_KIND}:{run_id}:{attempt}"


def dispatch(run_id: str) -> str:
    return f"gluon:dispatch:{run_id}"


def refusals(run_id: str, attempt: int) -> str:
    return f"gluon:refusals:{run_id}:{attempt}"


def lease(run_id: str) -> str:
    return f"gluon:lease:run:{run_id}"


def fence(run_id: str) -> str:
    return f"gluon:fence:run:{run_id}"


def progress(run_id: str) -> str:
    return f"gluon:progress:{run_id}"


def commands(run_id: str) -> str:
    return f"gluon:cmd:{run_id}"
