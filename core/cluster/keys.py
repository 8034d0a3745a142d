"""The cluster's Redis keys and streams, and how long each lives, in one place (a leaf module).

Per run (``<run>``) and attempt of it (``<attempt>``: each time it is queued to run):

==================================  =========================================================
``gluon:dispatch:<run>``            hash: the attempt dispatched, and ``open`` (0 once the
                                    coordinator no longer wants it run). *Deleted* when the
                                    attempt ends (:func:`attempt_keys`).
``gluon:refusals:<run>:<attempt>``  hash: worker -> why it refused the attempt. *Deleted*
                                    when the attempt ends.
``gluon:cmd:<run>``                 stream: the commands (steer, interrupt, cancel, answers)
                                    sent to the run, each deleted once a worker applied it;
                                    the stream is *deleted* when the attempt ends.
``gluon:progress:<run>``            hash: what a worker taking the run over must know
                                    (session, prompt delivered, costs), written by the holder
                                    of the newest fence. *Deleted* when the attempt ends.
``gluon:replay:<run>``              hash: coordinator command id -> a steer a worker gave its
                                    agent that no shipped session may hold yet (see
                                    :mod:`core.cluster.transfer.replay`). *Deleted* when the attempt
                                    ends.
``gluon:lease:run:<run>``           the worker holding the run: its token, *expiring* with
                                    the lease (``cluster.lease_seconds``), freed at the end.
``gluon:fence:run:<run>``           counter: each worker taking the run takes the next number.
                                    No expiry from the run's dispatch to the end of the attempt
                                    (a worker that lost its lease may still write with an old
                                    number for a while); then it *expires* after
                                    :data:`FENCE_SECONDS`, and each dispatch first raises it to
                                    the newest fence the coordinator has seen and the shipped
                                    session holds, so it never goes back for the run.
``gluon:session:<run>``             hash: the agent's session, shipped after every turn (see
                                    :mod:`core.cluster.transfer.session_ship`); *kept* to
                                    resume or fork the run later: it expires
                                    :data:`SESSION_SECONDS` after the last ship.
``gluon:exec:*``                    the queue of ``run.exec`` jobs (a ``RedisJobQueue`` with
                                    prefix :data:`EXEC_PREFIX`), each a run's attempt with its
                                    snapshot, under the idempotency key :func:`exec_key`: a job
                                    done (or dead) and its key *expire* after
                                    ``core.jobs.redis_scripts.KEEP_SECONDS`` (so do the
                                    coordinator's ``run.start`` jobs when its queue is on
                                    Redis, ``gluon:jobs:*``).
==================================  =========================================================

For the whole cluster:

- ``gluon:relay``            stream: what happens on the workers, read by the coordinator's
                             consumer group ``coordinator``; each entry is deleted once applied.
- ``gluon:workers``          hash: worker name -> its heartbeat (JSON); a worker that stops
                             takes itself off, and one not heard from for
                             :data:`WORKER_SECONDS` is dropped by the others' heartbeats.
- ``gluon:workers:draining`` set: the workers that finish their runs and take no new ones
                             (dropped with the worker's heartbeat).

What is deleted at an attempt's end also *expires* :data:`LEFTOVER_SECONDS` after it was last
written, so what a stale worker writes after the end cannot stay for ever.
"""

from __future__ import annotations

EXEC_PREFIX = "gluon:exec"
EXEC_KIND = "run.exec"
RELAY = "gluon:relay"
RELAY_GROUP = "coordinator"
WORKERS = "gluon:workers"
DRAINING = "gluon:workers:draining"

DAY = 86400
SESSION_SECONDS = 30 * DAY
"""A shipped session is kept this long after its last ship (to resume or fork the run)."""
FENCE_SECONDS = DAY
"""A run's fence lives on this long after its attempt ended: far past any lease."""
LEFTOVER_SECONDS = 30 * DAY
"""The backstop expiry of a live attempt's keys, renewed as they are written."""
WORKER_SECONDS = DAY
"""A worker not heard from for this long leaves the list of workers."""


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


def replay(run_id: str) -> str:
    return f"gluon:replay:{run_id}"


def session(run_id: str) -> str:
    return f"gluon:session:{run_id}"


def attempt_keys(run_id: str, attempt: int) -> list[str]:
    """What is deleted when a run's attempt ends (the run ended, or went back to the queue:
    the next attempt's snapshot carries what it goes on with)."""
    return [dispatch(run_id), refusals(run_id, attempt), commands(run_id), progress(run_id),
            replay(run_id)]
