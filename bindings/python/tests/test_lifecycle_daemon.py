"""The job lifecycle (PROTOCOL §14) through the real manager: delayed jobs, retries,
dead letters, progress and group limits. Worker and client share this process.

Skipped while the build's proletariatd --help does not mention --group-max-running
(the manager's lifecycle is not built yet)."""

from __future__ import annotations

import queue
import threading
import time

import pytest

from conftest import WAIT, daemon_has_flag, wait_for
from proletariat import Job, ProletariatError, Result, Retry

pytestmark = pytest.mark.skipif(
    not daemon_has_flag("--group-max-running"),
    reason="the build's proletariatd --help does not mention --group-max-running (no job lifecycle yet)",
)


def test_a_delayed_job_finishes_no_earlier_than_its_delay(make_worker, make_client):
    ran = []
    make_worker(lambda job: ran.append(job.args) or job.args)
    client = make_client()
    pushed = time.monotonic()
    assert client.work("later", delay=0.3, timeout=WAIT) == Result(None, "later")
    # The manager counts the delay from its receipt of the push, after `pushed`.
    assert time.monotonic() - pushed >= 0.3

    at = time.time() + 0.3
    assert client.work("at", at=at, timeout=WAIT) == Result(None, "at")
    assert time.time() >= at
    assert ran == ["later", "at"]


def test_a_job_far_in_the_future_waits_as_delayed_until_aborted(make_worker, make_client):
    ran = []
    make_worker(lambda job: ran.append(job.args))
    client = make_client()
    future = client.submit("never", at=time.time() + 3600)
    status = wait_for(lambda: (lambda s: s if s.get("delayed") == 1 else None)(client.status(timeout=WAIT)),
                      "the job counted as delayed")
    assert [d["reason"] for d in status["due"]] == ["delayed"]
    assert status["queued"] == 0 and status["running"] == 0
    future.abort()
    assert future.result(WAIT).err.code == "EABORTED"
    wait_for(lambda: client.status(timeout=WAIT).get("delayed") == 0, "the aborted delayed job dropped")
    assert ran == []


def test_a_retried_job_gives_one_result_with_its_attempts(make_worker, make_client):
    calls = []

    def handler(job):
        calls.append(job.attempt)
        if len(calls) <= 2:
            raise ProletariatError("EBUSY", f"busy, attempt {job.attempt}")
        return "third time"

    make_worker(handler)
    client = make_client()
    stream = client.work_individual(["x"], retry=Retry(3, codes=["EBUSY"], initial=0.01, jitter=0), timeout=WAIT)
    assert list(stream) == [(0, Result(None, "third time", 3))]
    assert len(calls) == 3 and calls == sorted(set(calls))  # a new attempt each time


def test_an_exhausted_job_becomes_a_dead_letter_that_can_be_shown_requeued_and_purged(make_worker, make_client):
    succeed = threading.Event()
    finished = queue.SimpleQueue()  # (job id, args) of every job the worker answered with success

    def handler(job):
        if not succeed.is_set():
            raise ProletariatError("EBUSY", "always busy")
        finished.put((job.id, job.args))
        return "fine now"

    make_worker(handler)
    client = make_client()
    args = {"order": 42, "items": ["a", "b"]}
    result = client.work(Job(args, group="tenant-7"), retry=Retry(1, codes=["EBUSY"], initial=0.01), timeout=WAIT)
    assert result.err.code == "EBUSY" and result.attempts == 2

    listed = client.dead_letters()
    assert listed["total"] == 1
    (letter,) = listed["letters"]
    assert letter["attempts"] == 2 and letter["err"]["code"] == "EBUSY" and letter["group"] == "tenant-7"
    assert "payload" not in letter and letter["bytes"] > 0
    shown = client.show_dead_letters([letter["id"], letter["id"] + 1000])
    assert [(l["id"], l["payload"]) for l in shown["letters"]] == [(letter["id"], args)]

    succeed.set()
    requeued = client.requeue_dead_letters([letter["id"]])
    (entry,) = requeued["requeued"]
    assert entry["letter"] == letter["id"] and entry["job"] != letter["job"]
    assert finished.get(timeout=WAIT) == (entry["job"], args)
    wait_for(lambda: client.status(timeout=WAIT)["running"] == 0, "the requeued job's result in the manager")
    assert client.dead_letters()["letters"] == []

    succeed.clear()
    results = client.work([1, 2], retry=Retry(1, codes=["EBUSY"], initial=0.01), timeout=WAIT)
    assert [r.err.code for r in results] == ["EBUSY", "EBUSY"]
    assert client.dead_letters()["total"] == 2
    purged = client.purge_dead_letters(all=True)
    assert purged["purged"] == 2 and purged["total"] == 0
    after = client.dead_letters()
    assert after["total"] == 0 and after["letters"] == []


def test_progress_reaches_the_progress_callback_before_the_result(make_worker, make_client):
    def handler(job):
        for step in range(3):
            assert job.progress({"step": step})
        assert job.progress(b"\x00raw")
        return "done"

    make_worker(handler)
    client = make_client()
    handed = []
    stream = client.work_individual(["a", "b"], progress=lambda index, data: handed.append((index, data)),
                                    timeout=WAIT)
    for _ in range(2):
        index, result = stream.next(WAIT)
        assert result == Result(None, "done")
        # Everything the job reported was handed over before its result.
        assert [d for i, d in handed if i == index] == [{"step": 0}, {"step": 1}, {"step": 2}, b"\x00raw"]
    assert len(handed) == 8


def test_a_group_limited_to_one_running_job_never_runs_two(make_worker, make_client):
    lock = threading.Lock()
    running = []  # jobs on a handler now
    most = [0]
    started = queue.SimpleQueue()
    releases = {}

    def handler(job):
        release = threading.Event()
        with lock:
            releases[job.args] = release
            running.append(job.args)
            most[0] = max(most[0], len(running))
        started.put(job.args)
        release.wait(WAIT)
        with lock:
            running.remove(job.args)
        return job.args

    make_worker(handler, slots=10, threads=8)
    client = make_client()
    limits = client.set_group_limits("serial", max_running=1)
    assert [g for g in limits["groups"] if g["group"] == "serial"][0]["maxRunning"] == 1
    future = client.submit([Job(n, group="serial") for n in range(4)], timeout=3 * WAIT)
    for left in range(4, 0, -1):
        job = started.get(timeout=WAIT)
        (group,) = [g for g in client.group_limits()["groups"] if g["group"] == "serial"]
        assert group["running"] == 1 and group["waiting"] == left - 1
        with lock:
            assert running == [job]
        releases[job].set()
    assert [r.value() for r in future.result(WAIT)] == [0, 1, 2, 3]
    assert most[0] == 1

    # Without its limit the group's jobs do run together on this worker.
    client.clear_group_limits("serial")
    together = client.submit([Job(n, group="serial") for n in (10, 11)], timeout=WAIT)
    assert {started.get(timeout=WAIT), started.get(timeout=WAIT)} == {10, 11}
    assert most[0] == 2
    for n in (10, 11):
        releases[n].set()
    assert [r.value() for r in together.result(WAIT)] == [10, 11]
