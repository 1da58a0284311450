"""kill -9 under load (PROTOCOL §12): the real manager with --journal, a Python Worker
answering every job with a value derived from its payload, a Python Client pushing a
few thousand jobs over time. The manager is SIGKILLed several times at random moments
(each after some progress: results delivered or jobs run since the last restart) and
restarted on the same journal directory and ports. Every job the application pushed
must get exactly one result, the right one: none lost (a job accepted before a kill
is on disk), none doubled (a result sent again after a restart, or a push sent again
because its ACCEPTED was lost with the manager, reaches the application once), none
failed (the client has no keep_state: only re-attachment can save its jobs).

Needs the manager's --journal: skipped while the build's proletariatd --help does not
mention it. $PROLETARIAT_CHAOS_SEED replays a run (the seed is printed).
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from typing import Any, Dict, List, Tuple

from conftest import RETRY, WAIT, needs_journal, wait_for
from proletariat import Client, Job, Result, Worker

pytestmark = needs_journal

REQUESTS = 30  # pushed over time, a few at once, so that kills also hit pushes on the way
JOBS_PER_REQUEST = 100
TOTAL = REQUESTS * JOBS_PER_REQUEST
REQUESTS_IN_FLIGHT = 6
#: A whole run should take seconds; this bounds any one wait for progress.
PROGRESS_WAIT = 6 * WAIT


def answer(args: Dict[str, Any]) -> Dict[str, Any]:
    """What the worker answers: derived from the payload, so a result given to the
    wrong job (or a stale one) shows."""
    digest = hashlib.sha256(f"{args['r']}/{args['i']}/{args['salt']}".encode()).hexdigest()[:16]
    return {"r": args["r"], "i": args["i"], "digest": digest}


class Progress:
    """Counters shared by the test threads, with a condition to wait on."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.delivered = 0  # results the application got
        self.runs = 0  # handler runs (a job may run more than once across kills)
        self.ran: Dict[Tuple[int, int], int] = {}

    def ran_job(self, key: Tuple[int, int]) -> None:
        with self.lock:
            self.runs += 1
            self.ran[key] = self.ran.get(key, 0) + 1

    def got_result(self) -> None:
        with self.lock:
            self.delivered += 1
            self.lock.notify_all()

    def wait_delivered(self, count: int, timeout: float) -> bool:
        with self.lock:
            return self.lock.wait_for(lambda: self.delivered >= count, timeout)

    def snapshot(self) -> Tuple[int, int]:
        with self.lock:
            return self.delivered, self.runs


def test_every_accepted_job_gets_exactly_one_right_result_across_kill_9(journal_daemon, closing):
    seed = int(os.environ.get("PROLETARIAT_CHAOS_SEED") or random.randrange(1 << 32))
    print(f"chaos seed {seed} (PROLETARIAT_CHAOS_SEED={seed} replays it)")
    rng = random.Random(seed)
    progress = Progress()

    def handler(job):
        progress.ran_job((job.args["r"], job.args["i"]))
        if job.args["i"] % 7 == 0:
            time.sleep(0.002)  # some jobs are running whenever the manager dies
        return answer(job.args)

    worker = closing(Worker(journal_daemon.endpoint, handler=handler, slots=32, threads=8,
                            answer_threshold=16, con_retry_time=RETRY))
    worker.start()
    assert worker.wait_ready(WAIT)
    client = closing(Client(journal_daemon.endpoint, con_retry_time=RETRY))
    assert client.wait_connected(WAIT)

    payloads: List[List[Dict[str, Any]]] = [
        [{"r": r, "i": i, "salt": rng.randrange(1 << 30)} for i in range(JOBS_PER_REQUEST)] for r in range(REQUESTS)
    ]
    deliveries: List[List[Tuple[int, Result]]] = [[] for _ in range(REQUESTS)]
    streams = []
    consumers: List[threading.Thread] = []

    def consume(r: int, stream) -> None:
        for index, result in stream:  # ends after one result per job
            deliveries[r].append((index, result))
            progress.got_result()

    def feed() -> None:
        for r in range(REQUESTS):
            # Keep a few requests in flight: pushes go on while the manager is killed.
            if not progress.wait_delivered((r - REQUESTS_IN_FLIGHT) * JOBS_PER_REQUEST, PROGRESS_WAIT):
                return  # no progress: the main thread's waits report it
            stream = client.work_individual([Job(p) for p in payloads[r]], timeout=10 * PROGRESS_WAIT)
            streams.append(stream)
            thread = threading.Thread(target=consume, args=(r, stream), name=f"chaos-consumer-{r}", daemon=True)
            consumers.append(thread)
            thread.start()

    feeder = threading.Thread(target=feed, name="chaos-feeder", daemon=True)
    feeder.start()

    kills = rng.randint(3, 5)
    # Each kill waits for some progress since the last restart, measured either in
    # results delivered or in jobs run (the latter also hits results not yet sent).
    budget = TOTAL * 8 // 10
    steps = sorted(rng.sample(range(TOTAL // 20, budget), kills))
    previous = 0
    for k, step in enumerate(steps):
        need = max(step - previous, 50)
        previous = step
        delivered0, runs0 = progress.snapshot()
        if rng.random() < 0.5:
            wait_for(lambda: progress.snapshot()[0] >= delivered0 + need,
                     f"{need} more results before kill {k + 1}", PROGRESS_WAIT)
        else:
            wait_for(lambda: progress.snapshot()[1] >= runs0 + need,
                     f"{need} more jobs run before kill {k + 1}", PROGRESS_WAIT)
        journal_daemon.kill()
        journal_daemon.start()

    feeder.join(PROGRESS_WAIT)
    assert not feeder.is_alive(), "the feeder did not push every request"
    for thread in consumers:
        thread.join(max(0.0, PROGRESS_WAIT))
        assert not thread.is_alive(), f"{thread.name}: results still missing; progress {progress.snapshot()}"

    delivered, runs = progress.snapshot()
    print(f"chaos: {kills} kills, {TOTAL} jobs, {runs} handler runs, {delivered} results delivered")
    for r in range(REQUESTS):
        indices = sorted(index for index, _ in deliveries[r])
        assert indices == list(range(JOBS_PER_REQUEST)), f"request {r}: a result missing or doubled"
        leftover = []
        while not streams[r]._queue.empty():  # a delivery beyond one per job would wait here
            leftover.append(streams[r]._queue.get_nowait())
        assert leftover == [], f"request {r}: results delivered twice: {leftover[:3]}"
        for index, result in deliveries[r]:
            assert result.ok, f"request {r} job {index} failed: {result.err}"
            assert result.data == answer(payloads[r][index]), f"request {r} job {index}: wrong result"
    assert delivered == TOTAL and client.pending == 0
    assert len(progress.ran) == TOTAL, "every job ran"
    # The client said RECEIVED for every result: the manager holds none of them.
    wait_for(lambda: client.status(timeout=WAIT).get("heldResults") == 0, "the manager to hold no result")
