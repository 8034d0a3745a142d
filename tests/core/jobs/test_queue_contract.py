"""The job queue's contract, run against both backends: SQLite on a real file and Redis Streams
on a real ``redis-server``.

Time: ``not_before`` and retry times follow the backend's manual clock, so backoff needs no
waiting. Leases in SQLite follow it too; Redis measures leases on its own clock (key expiry,
idle times), so the tests that let a lease run out wait for about a second there.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from core.errors import Conflict, InvalidInput, NotFound
from core.jobs import JobId, JobQueue, JobState, Lease, LeaseLost, RetryPolicy, SystemClock
from tests.core.jobs.conftest import LEASE, Backend, claim_when_ready

ROOT = Path(__file__).resolve().parents[3]


async def claim_all(queue: JobQueue, worker: str = "w") -> list[Lease]:
    leases = []
    while (lease := await queue.claim(worker, lease_seconds=60)) is not None:
        leases.append(lease)
    return leases


async def claimed(queue: JobQueue, worker: str = "w") -> Lease:
    lease = await queue.claim(worker, lease_seconds=LEASE)
    assert lease is not None, "no job was claimable"
    return lease


# -- order ---------------------------------------------------------------------------------------


async def test_jobs_of_one_priority_are_claimed_first_in_first_out(backend: Backend) -> None:
    queue = await backend.open()
    ids = [await queue.enqueue("run.start", {"n": n}) for n in range(20)]
    leases = await claim_all(queue)
    assert [lease.job_id for lease in leases] == ids
    assert [lease.payload for lease in leases] == [{"n": n} for n in range(20)]
    assert await queue.claim("w", lease_seconds=LEASE) is None


async def test_a_higher_priority_job_is_claimed_before_older_lower_priority_ones(
        backend: Backend) -> None:
    queue = await backend.open()
    low = [await queue.enqueue("chore", {"n": n}, priority=-5) for n in range(2)]
    normal = [await queue.enqueue("chore", {"n": n}) for n in range(2)]
    urgent = [await queue.enqueue("chore", {"n": n}, priority=10) for n in range(2)]
    assert [lease.job_id for lease in await claim_all(queue)] == urgent + normal + low


async def test_a_job_is_not_claimed_before_its_not_before_time(backend: Backend) -> None:
    queue = await backend.open()
    later = await queue.enqueue("cron.fire", {"schedule": "nightly"},
                                not_before=backend.clock.now() + 3600)
    now = await queue.enqueue("run.start", {})
    [lease] = await claim_all(queue)
    assert lease.job_id == now
    await queue.ack(lease)
    backend.clock.advance(3599)
    assert await queue.claim("w", lease_seconds=LEASE) is None
    assert (await queue.get(later)).state is JobState.QUEUED
    backend.clock.advance(1)
    assert (await claimed(queue)).job_id == later


# -- idempotent enqueue --------------------------------------------------------------------------


async def test_enqueueing_the_same_key_again_returns_the_first_job_and_adds_nothing(
        backend: Backend) -> None:
    queue = await backend.open()
    first = await queue.enqueue("cron.fire", {"at": "00:00"}, key="cron:nightly:2030-01-01")
    again = await queue.enqueue("cron.fire", {"at": "other"}, key="cron:nightly:2030-01-01")
    other = await queue.enqueue("cron.fire", {"at": "00:00"}, key="cron:nightly:2030-01-02")
    assert again == first and other != first
    leases = await claim_all(queue)
    assert [lease.job_id for lease in leases] == [first, other]
    assert leases[0].payload == {"at": "00:00"}
    await queue.ack(leases[0])
    # A webhook replayed after its job finished still starts nothing.
    assert await queue.enqueue("gh.push", {}, key="cron:nightly:2030-01-01") == first
    assert await queue.claim("w", lease_seconds=LEASE) is None
    assert len(await queue.list()) == 2


# -- ack and fail --------------------------------------------------------------------------------


async def test_an_acked_job_is_done_and_never_claimed_again(backend: Backend) -> None:
    queue = await backend.open()
    job_id = await queue.enqueue("run.start", {"run": "r1"})
    lease = await claimed(queue)
    assert (lease.job_id, lease.kind, lease.tries, lease.token) == (job_id, "run.start", 1, 1)
    assert (await queue.get(job_id)).state is JobState.LEASED
    await queue.ack(lease)
    assert (await queue.get(job_id)).state is JobState.DONE
    await backend.pass_time(LEASE + 0.2)
    assert await queue.claim("other", lease_seconds=LEASE) is None
    with pytest.raises(LeaseLost, match="already done"):
        await queue.ack(lease)


async def test_a_failing_job_is_retried_with_backoff_then_dead_with_its_last_error(
        backend: Backend) -> None:
    queue = await backend.open(RetryPolicy(max_tries=3, base_seconds=10, factor=2))
    job_id = await queue.enqueue("run.start", {"run": "r1"})
    for tries, delay in ((1, 10), (2, 20)):
        lease = await claimed(queue)
        assert lease.tries == tries
        assert await queue.fail(lease, f"try {tries}: exit 1") is JobState.QUEUED
        job = await queue.get(job_id)
        assert (job.state, job.error) == (JobState.QUEUED, f"try {tries}: exit 1")
        assert job.not_before == pytest.approx(backend.clock.now() + delay)
        backend.clock.advance(delay - 1)
        assert await queue.claim("w", lease_seconds=LEASE) is None, "retried before its backoff"
        backend.clock.advance(1)
    lease = await claimed(queue)
    assert lease.tries == 3
    assert await queue.fail(lease, "try 3: out of disk\nTraceback ...") is JobState.DEAD
    dead = await queue.get(job_id)
    assert (dead.state, dead.tries, dead.error) == (
        JobState.DEAD, 3, "try 3: out of disk\nTraceback ...")
    assert [job.id for job in await queue.dead_letters()] == [job_id]
    backend.clock.advance(10_000)
    assert await queue.claim("w", lease_seconds=LEASE) is None


async def test_fail_with_a_retry_time_retries_at_that_time(backend: Backend) -> None:
    queue = await backend.open()
    job_id = await queue.enqueue("gh.comment", {"issue": 7})
    lease = await claimed(queue)
    assert await queue.fail(lease, "rate limited", retry_at=backend.clock.now() + 300) \
        is JobState.QUEUED
    backend.clock.advance(299)
    assert await queue.claim("w", lease_seconds=LEASE) is None
    backend.clock.advance(1)
    again = await claimed(queue)
    assert (again.job_id, again.tries) == (job_id, 2)


# -- leases and fencing --------------------------------------------------------------------------


async def test_a_lease_that_runs_out_lets_another_worker_claim_the_job(
        backend: Backend) -> None:
    queue = await backend.open()
    other = await backend.open()
    job_id = await queue.enqueue("run.start", {"run": "r1"})
    first = await queue.claim("worker-a", lease_seconds=LEASE)
    assert first is not None
    assert await other.claim("worker-b", lease_seconds=LEASE) is None
    second = await backend.claim_after_lease(other, "worker-b")
    assert (second.job_id, second.tries, second.worker) == (job_id, 2, "worker-b")
    assert second.token > first.token
    await other.ack(second)
    assert (await queue.get(job_id)).state is JobState.DONE


async def test_a_stale_lease_can_neither_renew_ack_nor_fail(backend: Backend) -> None:
    queue = await backend.open()
    job_id = await queue.enqueue("run.start", {"run": "r1"})
    stale = await claimed(queue, "worker-a")
    fresh = await backend.claim_after_lease(queue, "worker-b")
    attempts: list[Callable[[], Awaitable[object]]] = [
        lambda: queue.renew(stale), lambda: queue.ack(stale), lambda: queue.fail(stale, "late")]
    for attempt in attempts:
        with pytest.raises(LeaseLost) as caught:
            await attempt()
        message = str(caught.value)
        assert job_id in message and "worker-b" in message and "\n" not in message
    job = await queue.get(job_id)
    assert (job.state, job.worker, job.error) == (JobState.LEASED, "worker-b", None)
    await queue.ack(fresh)
    assert (await queue.get(job_id)).state is JobState.DONE


async def test_renewing_a_lease_keeps_other_workers_off_the_job(backend: Backend) -> None:
    queue = await backend.open()
    job_id = await queue.enqueue("run.start", {"run": "r1"})
    lease = await claimed(queue, "worker-a")
    for _ in range(6):  # one and a half leases in all
        await backend.pass_time(LEASE / 4)
        assert await queue.claim("worker-b", lease_seconds=LEASE) is None
        lease = await queue.renew(lease)
    assert lease.leased_until == pytest.approx(backend.clock.now() + LEASE)
    taken = await backend.claim_after_lease(queue, "worker-b")
    assert (taken.job_id, taken.worker) == (job_id, "worker-b")


async def test_a_lease_that_ran_out_unclaimed_can_still_be_acked(backend: Backend) -> None:
    queue = await backend.open()
    job_id = await queue.enqueue("run.start", {})
    lease = await claimed(queue)
    await backend.pass_time(LEASE + 0.2)
    await queue.ack(lease)
    assert (await queue.get(job_id)).state is JobState.DONE
    assert await queue.claim("other", lease_seconds=LEASE) is None


async def test_a_job_whose_lease_runs_out_max_tries_times_is_dead(backend: Backend) -> None:
    queue = await backend.open(RetryPolicy(max_tries=2))
    job_id = await queue.enqueue("run.start", {"poison": True})
    await claimed(queue, "worker-a")
    await backend.claim_after_lease(queue, "worker-b")
    # worker-b's lease runs out too: the next claim buries the job instead of handing it out.
    backend.clock.advance(LEASE)
    async with asyncio.timeout(10):
        while (await queue.get(job_id)).state is not JobState.DEAD:
            assert await queue.claim("worker-c", lease_seconds=LEASE) is None
            await asyncio.sleep(0.02)
    job = await queue.get(job_id)
    assert job.state is JobState.DEAD
    assert job.error is not None and "worker-b" in job.error and "ran out" in job.error
    assert [dead.id for dead in await queue.dead_letters()] == [job_id]


async def test_concurrent_claimers_never_get_the_same_job(backend: Backend) -> None:
    producer = await backend.open()
    ids = {await producer.enqueue("run.start", {"n": n}) for n in range(60)}
    workers = [await backend.open() for _ in range(4)]  # each its own connection
    every: list[JobId] = []
    for _ in range(15):  # rounds of four claims racing for the same head of the queue
        got = await asyncio.gather(*(queue.claim(f"worker-{n}", lease_seconds=60)
                                     for n, queue in enumerate(workers)))
        assert all(lease is not None for lease in got)
        every += [lease.job_id for lease in got if lease is not None]
    assert len(set(every)) == len(every), "a job was claimed twice"
    assert set(every) == ids
    assert await producer.claim("late", lease_seconds=60) is None


# -- durability ----------------------------------------------------------------------------------


async def test_nothing_is_lost_when_the_queue_is_reopened(backend: Backend) -> None:
    queue = await backend.open()
    done, dead, leased, later, waiting = [
        await queue.enqueue("run.start", {"n": n}, key=f"k{n}") for n in range(5)]
    await queue.ack(await claimed(queue))
    hopeless = await backend.open(RetryPolicy(max_tries=1))
    await hopeless.fail(await claimed(hopeless), "broken")
    held = await queue.claim("worker-a", lease_seconds=600)
    assert held is not None and held.job_id == leased
    await queue.fail(await claimed(queue), "later", retry_at=backend.clock.now() + 60)
    await queue.close()

    again = await backend.open(RetryPolicy(max_tries=3))
    states = {job.id: job.state for job in await again.list()}
    assert states == {done: JobState.DONE, dead: JobState.DEAD, leased: JobState.LEASED,
                      later: JobState.QUEUED, waiting: JobState.QUEUED}
    assert (await again.get(dead)).error == "broken"
    assert await again.enqueue("run.start", {}, key="k0") == done
    first = await claimed(again)
    assert first.job_id == waiting
    await again.ack(first)
    assert await again.claim("w", lease_seconds=LEASE) is None
    backend.clock.advance(60)
    assert (await claimed(again)).job_id == later
    await again.ack(held)  # the lease taken before the reopen still holds


async def test_a_worker_killed_with_sigkill_loses_its_lease_and_another_worker_claims_the_job(
        backend: Backend) -> None:
    queue = await backend.open(clock=SystemClock())
    job_id = await queue.enqueue("run.start", {"run": "r1"})
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.core.jobs.worker_proc", backend.name, backend.target,
        str(2 * LEASE), cwd=ROOT, stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert worker.stdout is not None
        async with asyncio.timeout(30):
            line = await worker.stdout.readline()
        held = json.loads(line)
        assert held == {"job": job_id, "token": 1}
        assert await queue.claim("survivor", lease_seconds=LEASE) is None
    finally:
        worker.send_signal(signal.SIGKILL)
        await worker.wait()
    assert worker.returncode == -signal.SIGKILL
    lease = await claim_when_ready(queue, "survivor")
    assert (lease.job_id, lease.tries, lease.token) == (job_id, 2, 2)
    await queue.ack(lease)
    assert (await queue.get(job_id)).state is JobState.DONE


# -- inspection and bad input --------------------------------------------------------------------


async def test_list_and_get_show_each_job_with_its_state(backend: Backend) -> None:
    queue = await backend.open()
    first = await queue.enqueue("run.start", {"run": "r1"}, key="chat:42")
    second = await queue.enqueue("cron.fire", {"schedule": "nightly"}, priority=3)
    await queue.ack(await claimed(queue, "host-1"))  # the urgent cron fire
    jobs = await queue.list()
    assert [job.id for job in jobs] == [second, first]  # newest first
    assert [(job.kind, job.state) for job in jobs] == [("cron.fire", JobState.DONE),
                                                       ("run.start", JobState.QUEUED)]
    assert [job.id for job in await queue.list(state=JobState.QUEUED)] == [first]
    assert [job.id for job in await queue.list(kind="cron.fire")] == [second]
    assert await queue.list(state=JobState.DEAD) == []
    got = await queue.get(first)
    assert (got.key, got.priority, got.tries, got.payload) == ("chat:42", 0, 0,
                                                                {"run": "r1"})
    done = await queue.get(second)
    assert (done.worker, done.tries, done.priority) == ("host-1", 1, 3)
    with pytest.raises(NotFound, match="no job with id 'nope'"):
        await queue.get(JobId("nope"))


@pytest.mark.parametrize(("payload", "words"), [
    ({"github_token": "abc"}, "'github_token' looks like a secret"),
    ({"env": {"API_KEY": "x"}}, "'env.API_KEY' looks like a secret"),
    ({"headers": [{"Authorization": "Bearer x"}]}, "looks like a secret"),
    ({"note": "sk-ant-api03-abcdef"}, "'note' looks like a credential"),
    ({"when": float("nan")}, "plain JSON"),
    ({"blob": "x" * 70_000}, "more than 65536"),
])
async def test_a_payload_with_a_secret_or_not_plain_json_is_refused_and_nothing_is_enqueued(
        backend: Backend, payload: dict[str, object], words: str) -> None:
    queue = await backend.open()
    with pytest.raises(InvalidInput) as caught:
        await queue.enqueue("run.start", payload)  # type: ignore[arg-type]
    assert words in str(caught.value) and "\n" not in str(caught.value)
    assert "abc" not in str(caught.value) and "Bearer" not in str(caught.value)
    assert await queue.list() == []


async def test_bad_arguments_get_one_line_messages_saying_what_is_expected(
        backend: Backend) -> None:
    queue = await backend.open()
    cases: list[tuple[Callable[[], Awaitable[object]], str]] = [
        (lambda: queue.enqueue("Run Start!", {}), "job kind 'Run Start!' is not valid"),
        (lambda: queue.enqueue("run.start", {}, priority=1000), "from -100 to 100"),
        (lambda: queue.enqueue("run.start", {}, key=""), "job key '' is not valid"),
        (lambda: queue.claim("w", lease_seconds=0), "lease of 0 seconds is not valid"),
        (lambda: queue.claim("", lease_seconds=1), "worker name '' is not valid"),
    ]
    for call, words in cases:
        with pytest.raises(InvalidInput) as caught:
            await call()
        assert words in str(caught.value) and "\n" not in str(caught.value)
    assert await queue.list() == []


# -- giving jobs back ----------------------------------------------------------------------------


async def test_a_released_job_is_claimable_at_once_in_its_place_and_the_claim_is_not_a_try(
        backend: Backend) -> None:
    queue = await backend.open(RetryPolicy(max_tries=1))
    first = await queue.enqueue("run.start", {"n": 1})
    second = await queue.enqueue("run.start", {"n": 2})
    held = await claimed(queue, "worker-a")
    assert held.job_id == first
    for _ in range(3):  # given back again and again, it never dies of tries
        await queue.release(held)
        assert (await queue.get(first)).state is JobState.QUEUED
        held = await claimed(queue, "worker-b")
        assert (held.job_id, held.tries) == (first, 1)
    assert (await claimed(queue, "worker-b")).job_id == second
    await queue.ack(held)
    assert (await queue.get(first)).state is JobState.DONE


async def test_a_released_lease_is_stale(backend: Backend) -> None:
    queue = await backend.open()
    job_id = await queue.enqueue("run.start", {})
    lease = await claimed(queue)
    await queue.release(lease)
    attempts: list[Callable[[], Awaitable[object]]] = [
        lambda: queue.ack(lease), lambda: queue.release(lease)]
    for attempt in attempts:
        with pytest.raises(LeaseLost, match=job_id):
            await attempt()
    assert (await claimed(queue)).job_id == job_id


async def test_expiring_a_dead_workers_leases_lets_a_claim_take_its_jobs_without_waiting(
        backend: Backend) -> None:
    queue = await backend.open()
    ids = [await queue.enqueue("run.start", {"n": n}) for n in range(3)]
    dead = [await queue.claim("serve/home-a/pid-1", lease_seconds=3600) for _ in range(2)]
    alive = await queue.claim("worker-elsewhere", lease_seconds=3600)
    assert all(dead) and alive is not None
    assert await queue.claim("serve/home-a/pid-2", lease_seconds=3600) is None

    assert await queue.expire("serve/home-a/") == 2
    taken = [await queue.claim("serve/home-a/pid-2", lease_seconds=3600) for _ in range(2)]
    assert [(t.job_id, t.tries) for t in taken if t] == [(ids[0], 2), (ids[1], 2)]
    assert await queue.claim("serve/home-a/pid-2", lease_seconds=3600) is None
    await queue.ack(alive)  # the other worker's lease was left alone
    for lease in dead:
        assert lease is not None
        with pytest.raises(LeaseLost):
            await queue.renew(lease)


# -- moving jobs ---------------------------------------------------------------------------------


async def test_a_job_moved_to_another_priority_goes_behind_the_jobs_waiting_there(
        backend: Backend) -> None:
    queue = await backend.open()
    a, b, c = [await queue.enqueue("run.start", {"n": n}) for n in range(3)]
    urgent = await queue.enqueue("run.start", {"n": 3}, priority=5)
    moved = await queue.reprioritize(c, 5)
    assert (moved.id, moved.priority, moved.state) == (c, 5, JobState.QUEUED)
    await queue.reprioritize(a, -1)
    leases = await claim_all(queue)
    assert [lease.job_id for lease in leases] == [urgent, c, b, a]
    assert [lease.priority for lease in leases] == [5, 5, 0, -1]


async def test_moving_a_job_to_its_own_priority_keeps_its_place(backend: Backend) -> None:
    queue = await backend.open()
    a, b = [await queue.enqueue("run.start", {"n": n}) for n in range(2)]
    assert (await queue.reprioritize(a, 0)).priority == 0
    assert [lease.job_id for lease in await claim_all(queue)] == [a, b]


async def test_a_job_not_yet_due_keeps_its_time_when_moved_and_lines_up_when_due(
        backend: Backend) -> None:
    queue = await backend.open()
    due_at = backend.clock.now() + 600
    later = await queue.enqueue("run.start", {"n": 0}, not_before=due_at)
    now = await queue.enqueue("run.start", {"n": 1}, priority=2)
    moved = await queue.reprioritize(later, 2)
    assert moved.not_before == pytest.approx(due_at)
    [lease] = await claim_all(queue)
    assert lease.job_id == now
    await queue.ack(lease)
    backend.clock.advance(600)
    again = await queue.enqueue("run.start", {"n": 2})
    assert [(x.job_id, x.priority) for x in await claim_all(queue)] == [(later, 2), (again, 0)]


async def test_a_released_job_can_be_moved_and_is_claimed_once(backend: Backend) -> None:
    queue = await backend.open()
    first = await queue.enqueue("run.start", {"n": 1})
    second = await queue.enqueue("run.start", {"n": 2}, priority=1)
    held = await claimed(queue)
    assert held.job_id == second
    await queue.release(held)
    await queue.reprioritize(second, -3)
    leases = await claim_all(queue)
    assert [lease.job_id for lease in leases] == [first, second]
    assert await queue.claim("w", lease_seconds=LEASE) is None


async def test_only_a_waiting_job_can_be_moved(backend: Backend) -> None:
    queue = await backend.open()
    held_id = await queue.enqueue("run.start", {"n": 1})
    done_id = await queue.enqueue("run.start", {"n": 2})
    held = await claimed(queue, "worker-a")
    await queue.ack(await claimed(queue))
    with pytest.raises(Conflict, match="worker 'worker-a' holds it") as caught:
        await queue.reprioritize(held_id, 9)
    assert "\n" not in str(caught.value)
    with pytest.raises(Conflict, match="already done"):
        await queue.reprioritize(done_id, 9)
    with pytest.raises(NotFound, match="no job with id 'nope'"):
        await queue.reprioritize(JobId("nope"), 9)
    with pytest.raises(InvalidInput, match="from -100 to 100"):
        await queue.reprioritize(held_id, 101)
    assert (await queue.get(held_id)).priority == 0
    await queue.ack(held)
