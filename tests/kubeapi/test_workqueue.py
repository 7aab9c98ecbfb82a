"""The work queue: dedupe, one worker per key, delayed and rate-limited adds, all on a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from kubeapi.workqueue import ShutDown, Workers, WorkQueue


class Clock:
    """Time that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _queue(**kw: float) -> tuple[WorkQueue[str], Clock]:
    clock = Clock()
    return WorkQueue(clock=clock, **kw), clock


def test_keys_are_deduplicated_and_served_in_order() -> None:
    queue, _ = _queue()
    for key in ("a", "b", "a", "c", "b"):
        queue.add(key)
    assert len(queue) == 3
    assert [queue.get_nowait() for _ in range(4)] == ["a", "b", "c", None]


def test_a_key_being_worked_on_is_not_handed_out_twice() -> None:
    queue, _ = _queue()
    queue.add("a")
    assert queue.get_nowait() == "a"
    queue.add("a")  # changed while a worker has it
    queue.add("a")
    assert queue.get_nowait() is None
    queue.done("a")
    assert queue.get_nowait() == "a"
    queue.done("a")
    assert queue.get_nowait() is None


def test_delayed_add_waits_for_the_clock() -> None:
    queue, clock = _queue()
    queue.add_after("a", 30)
    queue.add_after("a", 50)  # a later time does not postpone it
    assert queue.get_nowait() is None and queue.delayed == 1 and queue.next_due() == 1030
    clock.now += 29.5
    assert queue.get_nowait() is None
    clock.now += 0.5
    assert queue.get_nowait() == "a" and queue.delayed == 0


def test_an_earlier_delay_wins() -> None:
    queue, clock = _queue()
    queue.add_after("a", 50)
    queue.add_after("a", 10)
    assert queue.next_due() == 1010
    clock.now += 10
    assert queue.get_nowait() == "a"
    clock.now += 100
    assert queue.get_nowait() is None  # the superseded time does not fire again


def test_rate_limited_backoff_doubles_per_key_until_forgotten() -> None:
    queue, clock = _queue(base_delay=1.0, max_delay=5.0)
    assert [queue.add_rate_limited("a") for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert queue.failures("a") == 5 and queue.backoff("b") == 1.0
    clock.now += 1.0
    assert queue.get_nowait() == "a"
    queue.forget("a")
    assert queue.failures("a") == 0 and queue.backoff("a") == 1.0


def test_zero_delay_is_an_add() -> None:
    queue, _ = _queue()
    queue.add_after("a", 0)
    assert queue.get_nowait() == "a"


async def test_get_waits_for_an_add() -> None:
    queue, _ = _queue()
    waiter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    assert not waiter.done()
    queue.add("a")
    assert await asyncio.wait_for(waiter, 1) == "a"


async def test_get_wakes_for_a_delayed_key_when_the_clock_moves() -> None:
    queue, clock = _queue()
    queue.add_after("a", 3600)
    waiter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    clock.now += 3600
    queue.wake()
    assert await asyncio.wait_for(waiter, 1) == "a"


async def test_get_waits_in_real_time_for_a_short_delay() -> None:
    queue: WorkQueue[str] = WorkQueue(base_delay=0.01)
    queue.add_rate_limited("a")
    assert await asyncio.wait_for(queue.get(), 1) == "a"


async def test_a_cancel_that_arrives_with_a_key_is_not_lost() -> None:
    # the wake-up and the cancel land in the same loop turn while the queue also waits for a delayed
    # key (a timed wait): the waiter must end cancelled, and the key stays queued for the next worker
    queue, _ = _queue()
    queue.add_after("later", 3600)
    waiter = asyncio.create_task(queue.get())
    for _ in range(3):
        await asyncio.sleep(0)
    queue.add("now")
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert queue.get_nowait() == "now"


async def test_workers_stop_when_cancelled_as_a_key_arrives() -> None:
    queue, _ = _queue()
    queue.add_after("later", 3600)
    seen: list[str] = []

    async def sync(key: str) -> None:
        seen.append(key)

    running = asyncio.create_task(Workers(queue, sync, on_error=lambda key, err: None).run(4))
    for _ in range(5):
        await asyncio.sleep(0)
    queue.add("now")
    running.cancel()
    done, _ = await asyncio.wait([running], timeout=2)
    assert done == {running} and running.cancelled()


async def test_shut_down_drains_then_stops() -> None:
    queue, _ = _queue()
    queue.add("a")
    queue.add_after("b", 5)
    queue.shut_down()
    queue.add("c")
    assert await queue.get() == "a"
    with pytest.raises(ShutDown):
        await queue.get()


async def test_workers_forget_requeue_and_report_errors() -> None:
    clock = Clock()
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    seen: list[str] = []
    errors: list[tuple[str, str]] = []

    async def sync(key: str) -> float | None:
        seen.append(key)
        if key == "bad":
            raise ValueError("broken")
        return 5.0 if key == "again" else None

    workers = Workers(queue, sync, on_error=lambda key, err: errors.append((key, str(err))))
    for key in ("ok", "again", "bad"):
        queue.add(key)
    running = asyncio.create_task(workers.run(2))
    for _ in range(20):
        await asyncio.sleep(0)
    assert sorted(seen) == ["again", "bad", "ok"] and errors == [("bad", "broken")]
    assert queue.failures("bad") == 1 and queue.failures("ok") == 0 and workers.busy == 0
    assert queue.delayed == 2  # "again" after its 5 s, "bad" after its backoff
    clock.now += 10
    queue.wake()
    for _ in range(20):
        await asyncio.sleep(0)
    assert sorted(seen) == ["again", "again", "bad", "bad", "ok"] and queue.failures("bad") == 2
    queue.shut_down()
    await asyncio.wait_for(running, 1)


async def test_stats_count_adds_retries_waits_and_work_as_client_go_does() -> None:
    now = [100.0]
    queue: WorkQueue[str] = WorkQueue(timer=lambda: now[0])
    queue.add("a")
    queue.add("a")  # already queued: not an add
    queue.add("b")
    now[0] += 0.25
    key = queue.get_nowait()
    assert key == "a"
    stats = queue.stats
    assert stats.adds == 2 and stats.queue_wait.count == 1 and stats.queue_wait.total == pytest.approx(0.25)
    now[0] += 2.0
    assert stats.unfinished_seconds(now[0]) == pytest.approx(2.0)
    assert stats.longest_running_seconds(now[0]) == pytest.approx(2.0)
    queue.add_rate_limited("a")
    queue.done("a")
    assert stats.retries == 1 and stats.work.count == 1 and stats.work.total == pytest.approx(2.0)
    assert stats.unfinished_seconds(now[0]) == 0.0
    # 0.25 s falls in the (0.1, 1] bucket of client-go's exponential bounds
    cumulative = dict(stats.queue_wait.cumulative())
    assert cumulative[0.1] == 0 and cumulative[1.0] == 1 and cumulative[float("inf")] == 1
