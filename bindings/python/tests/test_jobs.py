"""Job flow through the real manager: work, work_individual, submit, errors, timeouts,
abort, priorities, services, slots."""

from __future__ import annotations

import concurrent.futures
import threading
import time

import pytest

from conftest import WAIT, wait_for
from proletariat import (
    EABORTED,
    EATO,
    EBADFIELD,
    EBADOFFER,
    ECONNLOST,
    ECSTO,
    EHANDLER,
    ELIMIT,
    EPOISON,
    ETO,
    ETOOBIG,
    Client,
    Job,
    JobError,
    ProletariatError,
    Result,
    Worker,
    error_class,
)


def square(job):
    return {"n": job.args["n"], "sq": job.args["n"] ** 2}


def test_work_returns_results_in_job_order(make_worker, make_client):
    make_worker(square, slots=10)
    make_worker(square, slots=10)
    client = make_client()
    results = client.work([{"n": i} for i in range(200)], timeout=WAIT)
    assert [r.value() for r in results] == [{"n": i, "sq": i * i} for i in range(200)]
    assert all(isinstance(r, Result) and r.ok for r in results)


def test_single_job_gives_single_result_and_call_gives_value(make_worker, make_client):
    make_worker(lambda job: job.args)
    client = make_client()
    assert client.work("hello", timeout=WAIT) == Result(None, "hello")
    assert client.work(Job([1, 2, 3]), timeout=WAIT).data == [1, 2, 3]
    assert client.call([4, 5], timeout=WAIT) == [4, 5]  # call() takes a list as one job
    assert client.call(None, timeout=WAIT) is None
    assert client.work([], timeout=WAIT) == []


def test_bytes_travel_raw_both_ways(make_worker, make_client):
    seen = []

    def handler(job):
        seen.append((job.raw, job.args))
        return bytes(reversed(job.args))

    make_worker(handler)
    client = make_client()
    payload = bytes(range(256))
    result = client.work(payload, timeout=WAIT)
    assert result.value() == bytes(reversed(payload))
    assert seen == [(True, payload)]


def test_handler_errors_carry_codes(make_worker, make_client):
    def handler(job):
        if job.args == "coded":
            raise ProletariatError("ENOTFOUND", "no such thing")
        if job.args == "crash":
            raise ValueError("bad value")
        if job.args == "unserializable":
            return object()
        return "fine"

    make_worker(handler)
    client = make_client()
    coded, crash, unserializable, fine = client.work(["coded", "crash", "unserializable", "fine"], timeout=WAIT)
    assert coded.err == JobError("ENOTFOUND", "no such thing")
    assert crash.err.code == EHANDLER and "ValueError: bad value" in crash.err.message
    assert unserializable.err.code == EHANDLER and "JSON" in unserializable.err.message
    assert fine.value() == "fine"
    with pytest.raises(ProletariatError) as info:
        coded.value()
    assert info.value.code == "ENOTFOUND" and isinstance(info.value, JobError)
    with pytest.raises(JobError) as info:
        client.call("crash", timeout=WAIT)
    assert info.value.code == EHANDLER and info.value.error_class == "fault"


def test_worker_without_handler_fails_jobs_with_ehandler(make_worker, make_client):
    make_worker(None)
    assert make_client().work(1, timeout=WAIT).err.code == EHANDLER


def test_work_individual_yields_in_finishing_order(make_worker, make_client):
    release = threading.Event()

    def handler(job):
        if job.args == "slow":
            assert release.wait(WAIT)
        return job.args

    make_worker(handler, slots=4, threads=4)
    client = make_client()
    stream = client.work_individual(["slow", "fast1", "fast2"], timeout=WAIT)
    first = {stream.next(timeout=WAIT), stream.next(timeout=WAIT)}
    assert first == {(1, Result(None, "fast1")), (2, Result(None, "fast2"))}
    release.set()
    assert list(stream) == [(0, Result(None, "slow"))]
    assert stream.remaining == 0


def test_submit_returns_a_future(make_worker, make_client):
    make_worker(square)
    client = make_client()
    future = client.submit([{"n": 2}, {"n": 3}], timeout=WAIT)
    assert isinstance(future, concurrent.futures.Future)
    called = threading.Event()
    future.add_done_callback(lambda f: called.set())
    assert [r.value()["sq"] for r in future.result(WAIT)] == [4, 9]
    assert called.wait(WAIT)
    single = client.submit({"n": 5})
    assert single.result(WAIT).value()["sq"] == 25


def test_client_timeout_fails_with_ecsto_and_aborts_on_worker(make_worker, make_client):
    started = threading.Event()
    cancelled = []

    def handler(job):
        started.set()
        job.cancelled.wait(WAIT)
        cancelled.append(job.cancel_reason)
        return "late"

    worker = make_worker(handler)
    client = make_client()
    began = time.monotonic()
    result = client.work("x", timeout=0.3)
    assert result.err.code == ECSTO and result.err.error_class == "retry"
    assert time.monotonic() - began < 0.3 + WAIT
    assert started.is_set()
    wait_for(lambda: cancelled == ["abort"], "the manager's ABORT to reach the handler")
    wait_for(lambda: worker.running == 0, "the worker's slot to be freed")


def test_run_timeout_gives_eto_and_frees_the_slot(make_worker, make_client):
    reasons = []

    def handler(job):
        if job.args == "hang":
            job.cancelled.wait(WAIT)
            reasons.append(job.cancel_reason)
            return "too late"
        return "quick"

    make_worker(handler, slots=1, threads=2)
    client = make_client()
    hang, quick = client.work(["hang", "quick"], run_timeout=0.1, timeout=WAIT)
    assert hang.err.code == ETO
    assert quick.value() == "quick"  # ran in the slot the timed-out job left
    wait_for(lambda: reasons == ["ETO"], "the handler to see its ETO cancellation")


def test_assign_timeout_when_no_worker_offers_the_service(make_worker, make_client):
    make_worker(lambda job: "plain")
    client = make_client()
    result = client.work(Job(1, service="nobody-offers-this"), assign_timeout=0.1, timeout=WAIT)
    assert result.err.code == EATO


def test_services_route_to_workers_that_offer_them(make_worker, make_client):
    make_worker(lambda job: "plain")
    echo = make_worker(lambda job: f"echo:{job.args}", services=["echo"])
    assert echo.services == ["echo"]
    client = make_client()
    for _ in range(5):
        assert client.work(Job("x"), timeout=WAIT).value() == "plain"
        assert client.work(Job("x", service="echo"), timeout=WAIT).value() == "echo:x"


def test_handler_decorator_with_service_offers_it(daemon, closing, make_client):
    worker = closing(Worker(daemon.endpoint, con_retry_time=0.05))

    @worker.handler("upper")
    def upper(job):
        return {"service": job.service, "value": job.args.upper(), "key": job.key}

    @worker.handler
    def default(job):
        return "default"

    assert worker.services == ["upper"]
    worker.start()
    assert worker.wait_ready(WAIT)
    client = make_client()
    result = client.work(Job("abc", service="upper", key="k1"), timeout=WAIT)
    assert result.value() == {"service": "upper", "value": "ABC", "key": "k1"}
    # Offering a service means not taking jobs without one (SPEC 2.4).
    assert client.work(Job("abc"), assign_timeout=0.1, timeout=WAIT).err.code == EATO


def test_abort_a_submitted_request(make_worker, make_client):
    started = threading.Event()
    reasons = []

    def handler(job):
        started.set()
        job.cancelled.wait(WAIT)
        reasons.append(job.cancel_reason)

    worker = make_worker(handler)
    aborted_jobs = []
    worker.on_abort(lambda job, reason: aborted_jobs.append((job.args, reason)))
    client = make_client()
    future = client.submit(["a"], timeout=WAIT)
    assert started.wait(WAIT)
    client.abort(future)
    results = future.result(WAIT)
    assert results[0].err.code == EABORTED
    wait_for(lambda: reasons == ["abort"], "the handler's cancellation flag")
    wait_for(lambda: aborted_jobs == [("a", "abort")], "the on_abort callback")
    wait_for(lambda: worker.running == 0, "the slot to be freed")


def test_abort_some_jobs_of_a_stream(make_worker, make_client):
    release = threading.Event()

    def handler(job):
        if job.args == "hold":
            release.wait(WAIT)
        return job.args

    make_worker(handler, slots=2, threads=2)
    client = make_client()
    stream = client.work_individual(["hold", "hold"], timeout=WAIT)
    stream.abort([1])
    assert stream.next(timeout=WAIT) == (1, Result(JobError(EABORTED, "aborted by the application")))
    release.set()
    assert stream.next(timeout=WAIT) == (0, Result(None, "hold"))


def test_cancel_a_future_aborts_the_job(make_worker, make_client):
    started = threading.Event()
    reasons = []

    def handler(job):
        started.set()
        job.cancelled.wait(WAIT)
        reasons.append(job.cancel_reason)

    make_worker(handler)
    client = make_client()
    future = client.submit("x")
    assert started.wait(WAIT)
    assert future.cancel()
    assert future.cancelled()
    wait_for(lambda: reasons == ["abort"], "the cancelled future's job to be aborted on the worker")
    wait_for(lambda: client.pending == 0, "the client to forget the request")


def test_higher_priority_runs_first(make_worker, make_client):
    gate = threading.Event()
    order = []

    def handler(job):
        if job.args == "blocker":
            gate.wait(WAIT)
        order.append((job.args, job.priority))
        return job.args

    make_worker(handler, slots=1, threads=1)
    client = make_client()
    blocker = client.submit("blocker", timeout=WAIT)
    wait_for(lambda: client.status()["running"] == 1, "the blocker to run")
    low = client.submit(["low1", "low2"], priority=0, timeout=WAIT)
    wait_for(lambda: client.status()["queued"] == 2, "the low jobs to queue")
    high = client.submit(["high"], priority=2.5, timeout=WAIT)
    wait_for(lambda: client.status()["queued"] == 3, "the high job to queue")
    gate.set()
    for f in (blocker, low, high):
        f.result(WAIT)
    assert order == [("blocker", 0), ("high", 2.5), ("low1", 0), ("low2", 0)]


def test_worker_never_runs_more_than_its_slots(make_worker, make_client):
    lock = threading.Lock()
    running = [0]
    peak = [0]

    def handler(job):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.002)
        with lock:
            running[0] -= 1
        return job.args

    make_worker(handler, slots=3, threads=8)
    client = make_client()
    results = client.work(list(range(60)), timeout=WAIT)
    assert [r.value() for r in results] == list(range(60))
    assert 1 <= peak[0] <= 3


def test_deferred_and_future_answers(make_worker, make_client):
    pool = concurrent.futures.ThreadPoolExecutor(2)

    def handler(job):
        if job.args == "defer":
            job.defer()
            threading.Timer(0.01, job.reply, args=("later",)).start()
            return "ignored"
        if job.args == "defer-fail":
            job.defer()
            threading.Timer(0.01, job.fail, args=("ELATER", "failed later")).start()
            return None
        if job.args == "future":
            return pool.submit(lambda: "from a future")
        if job.args == "future-error":
            return pool.submit(lambda: 1 / 0)
        job.reply("replied")
        return "ignored too"

    make_worker(handler, slots=5)
    client = make_client()
    results = client.work(["defer", "defer-fail", "future", "future-error", "direct"], timeout=WAIT)
    assert results[0].value() == "later"
    assert results[1].err == JobError("ELATER", "failed later")
    assert results[2].value() == "from a future"
    assert results[3].err.code == EHANDLER and "ZeroDivisionError" in results[3].err.message
    assert results[4].value() == "replied"
    pool.shutdown()


def test_answer_threshold_batches_without_holding_results(make_worker, make_client):
    make_worker(lambda job: job.args, slots=50, threads=4, answer_threshold=10)
    client = make_client()
    assert [r.value() for r in client.work(list(range(95)), timeout=WAIT)] == list(range(95))
    # A lone job is sent when the worker goes idle, not after 10 results.
    assert client.work("alone", timeout=WAIT).value() == "alone"


def test_job_attributes(make_worker, make_client):
    seen = {}

    def handler(job):
        seen.update(
            id=job.id, attempt=job.attempt, priority=job.priority, key=job.key, service=job.service,
            client=job.client, run_timeout=job.run_timeout, cancelled=job.is_cancelled(),
        )
        return True

    make_worker(handler, services=["svc"])
    client = make_client()
    assert client.work(Job({}, key="k", service="svc"), priority=1.5, run_timeout=2, timeout=WAIT).value() is True
    assert seen["attempt"] == 1 and seen["id"] > 0
    assert seen["priority"] == 1.5 and seen["key"] == "k" and seen["service"] == "svc"
    assert seen["client"] == client.id and seen["run_timeout"] == 2.0 and seen["cancelled"] is False


def test_bad_arguments_raise_ebadfield_and_push_nothing(make_client):
    client = make_client()
    for kwargs in ({"priority": -1}, {"priority": float("nan")}, {"timeout": -1}, {"run_timeout": "x"}):
        with pytest.raises(ProletariatError) as info:
            client.work(1, **kwargs)
        assert info.value.code == EBADFIELD and info.value.error_class == "request"
    with pytest.raises(ProletariatError) as info:
        client.work([1, {2, 3}])
    assert info.value.code == EBADFIELD and "job 1" in info.value.message
    with pytest.raises(ProletariatError):
        Job(1, key=5)
    assert client.pending == 0


def test_bad_offers_raise_ebadoffer(daemon):
    for kwargs in (
        {"slots": 0},
        {"slots": 10, "priority_slots": {1: 8, 2: 5}},
        {"priority_slots": {-1: 3}},
        {"priority_slots": {"high": 3}},
        {"services": ["ok", ""]},
    ):
        with pytest.raises(ProletariatError) as info:
            Worker(daemon.endpoint, **kwargs)
        assert info.value.code == EBADOFFER, kwargs


@pytest.mark.daemon_args("--max-frames", "14")
def test_large_requests_are_split_under_max_frames(make_worker, make_client):
    make_worker(lambda job: job.args * 2, slots=20)
    client = make_client()
    results = client.work(list(range(57)), timeout=WAIT)  # 10 jobs per push at most
    assert [r.value() for r in results] == [i * 2 for i in range(57)]


@pytest.mark.daemon_args("--max-message-bytes", "2000")
def test_messages_stay_within_max_message_bytes(make_worker, make_client):
    def handler(job):
        if job.args == "big result":
            return "r" * 3000
        return job.args

    make_worker(handler, slots=100, answer_threshold=100)
    client = make_client()
    # 50 jobs of ~300 bytes: several pushes, several result batches.
    jobs = [f"{i:03d}" + "x" * 300 for i in range(50)]
    assert [r.value() for r in client.work(jobs, timeout=WAIT)] == jobs
    # A job or result that cannot travel alone fails with ETOOBIG; the others are fine.
    too_big, big_result, fine = client.work(["j" * 3000, "big result", "fine"], timeout=WAIT)
    assert too_big.err.code == ETOOBIG and "max_message_bytes" in too_big.err.message
    assert big_result.err.code == ETOOBIG
    assert fine.value() == "fine"
    assert client.work(Job(b"b" * 1990), timeout=WAIT).err.code == ETOOBIG


@pytest.mark.daemon_args("--max-jobs-per-client", "5")
def test_refused_push_fails_its_jobs_with_the_managers_code(make_worker, make_client):
    make_worker(lambda job: job.args)
    client = make_client()
    results = client.work(list(range(8)), timeout=WAIT)
    assert {r.err.code for r in results} == {ELIMIT}
    assert client.work(list(range(3)), timeout=WAIT)[2].value() == 2  # the session goes on


def test_closing_a_client_aborts_its_requests(daemon, closing, make_worker):
    started = []
    reasons = []

    def handler(job):
        started.append(job.args)
        job.cancelled.wait(WAIT)
        reasons.append(job.cancel_reason)

    make_worker(handler)
    client = closing(Client(daemon.endpoint))
    future = client.submit("x", timeout=WAIT)
    stream = client.work_individual(["y"], timeout=WAIT)
    wait_for(lambda: len(started) == 2, "both jobs to start")
    client.close()
    assert future.result(WAIT).err.code == EABORTED
    assert stream.next(timeout=WAIT)[1].err.code == EABORTED
    wait_for(lambda: reasons == ["abort", "abort"], "the closed client's jobs to be aborted on the worker")
    with pytest.raises(ProletariatError) as info:
        client.submit("too late")
    assert info.value.code == ECONNLOST


def test_stopping_a_worker_requeues_its_job_elsewhere(make_worker, make_client):
    started = threading.Event()
    reasons = []

    def stubborn(job):
        started.set()
        job.cancelled.wait(WAIT)
        reasons.append(job.cancel_reason)

    first = make_worker(stubborn)
    client = make_client()
    future = client.submit("job", timeout=WAIT)
    assert started.wait(WAIT)
    make_worker(lambda job: "second worker")
    first.stop(drain_timeout=0)  # immediate: does not wait for handlers; they see their cancellation flag
    wait_for(lambda: reasons == ["stop"], "the stopped worker's handler to see 'stop'")
    assert future.result(WAIT).value() == "second worker"


def test_error_classes():
    assert error_class(ECSTO) == "retry" and error_class(EBADFIELD) == "request"
    assert error_class("EMYAPP") == "fault"
    err = ProletariatError("ETO", "slow")
    assert str(err) == "ETO: slow" and err.code == "ETO" and err.message == "slow"


def test_cpu_bound_work_in_a_process_pool_keeps_the_session(make_worker, make_client):
    """The README's advice for CPU-bound handlers: hand the work to processes and
    return the Future, so the GIL stays free for the I/O thread's heartbeats (the test
    daemon expects one every 50 ms)."""
    import multiprocessing

    from cpu_helpers import burn

    with concurrent.futures.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("forkserver")) as pool:
        assert pool.submit(burn, 0).result(WAIT) >= 0  # the pool is up before the clock starts
        worker = make_worker(lambda job: pool.submit(burn, job.args), slots=4)
        client = make_client()
        ids = (worker.id, client.id)
        results = client.work([0.5] * 4, timeout=3 * WAIT)
        assert all(r.value() > 0 for r in results)
        assert (worker.id, client.id) == ids  # no session was lost meanwhile


def test_a_large_request_keeps_the_session(make_worker, make_client):
    """10,000 jobs in one call: pushed in slices, results read between them, and the
    heartbeat (50 ms here) kept going throughout."""
    worker = make_worker(lambda job: job.args, slots=200, answer_threshold=50)
    client = make_client()
    ids = (worker.id, client.id)
    results = client.work(list(range(10000)), timeout=6 * WAIT)
    assert [r.value() for r in results] == list(range(10000))
    assert (worker.id, client.id) == ids


@pytest.mark.daemon_args("--hold-similar-work")
def test_jobs_with_the_same_key_share_one_run(make_worker, make_client):
    gate = threading.Event()
    runs = []

    def handler(job):
        runs.append(job.key)
        gate.wait(WAIT)
        return f"computed {job.args}"

    make_worker(handler, slots=10)
    client = make_client()
    future = client.submit([Job(1, key="k"), Job(2, key="k"), Job(3, key="other")], timeout=WAIT)
    wait_for(lambda: client.status()["held"] == 1, "the second 'k' job to be held")
    gate.set()
    assert [r.value() for r in future.result(WAIT)] == ["computed 1", "computed 1", "computed 3"]
    assert sorted(runs) == ["k", "other"]


WORKER_SCRIPT = """
import sys, time
from proletariat import Worker
worker = Worker(sys.argv[1], con_retry_time=0.05)
@worker.handler
def hang(job):
    print("started", job.id, flush=True)
    time.sleep(60)
worker.run_forever()
"""


@pytest.mark.daemon_args("--suspect-after", "1")
def test_a_job_whose_worker_dies_while_running_it_alone_fails_with_epoison(daemon, make_client):
    # SPEC 5: after suspect_after deaths of its workers a job is suspect and runs alone;
    # only when that worker dies too is it poison.
    import os
    import select
    import subprocess
    import sys

    from conftest import PACKAGE_ROOT

    def start_worker():
        return subprocess.Popen(
            [sys.executable, "-c", WORKER_SCRIPT, daemon.endpoint],
            env=dict(os.environ, PYTHONPATH=str(PACKAGE_ROOT)), stdout=subprocess.PIPE, text=True,
        )

    def wait_started(worker):
        ready, _, _ = select.select([worker.stdout], [], [], WAIT)
        assert ready, "the worker subprocess did not start the job within the wait"
        line = worker.stdout.readline()
        assert line.startswith("started"), f"worker said {line!r}"

    workers = [start_worker()]
    try:
        client = make_client()
        future = client.submit("doomed", timeout=4 * WAIT)
        wait_started(workers[0])
        workers[0].kill()  # SIGKILL: no BYE; the manager notices the silence
        wait_for(lambda: client.status()["suspects"] == 1, "the job to become suspect")
        assert not future.done(), "one death shared or not: the job is requeued, not failed"
        workers.append(start_worker())
        wait_started(workers[1])  # alone now
        workers[1].kill()
        result = future.result(WAIT)
        assert result.err.code == EPOISON and result.err.error_class == "fault"
        status = client.status()
        assert status["poisoned"] == 1 and status["suspects"] == 0
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
            worker.wait(WAIT)
            worker.stdout.close()
