"""Durability against the real manager (PROTOCOL §12): a journal that survives
SIGKILL, results held for a client that is away, SIGTERM's drain (EDRAINING, then
BYE), and the worker's graceful stop (DRAIN).

These need the manager's --journal and --drain-timeout: they are skipped only while
the build's proletariatd --help does not mention --journal (conftest.needs_journal).
The kill -9 test under load is tests/test_journal_chaos.py.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any, Dict

import pytest
import zmq

from conftest import RETRY, RETRY_AFTER_BYE, WAIT, needs_journal, wait_for
from proletariat import Client, Worker

pytestmark = needs_journal


@pytest.fixture
def peers(journal_daemon, closing):
    """peers.worker(handler, **options) and peers.client(**options), on the journal daemon."""

    class Peers:
        @staticmethod
        def worker(handler, **options: Any) -> Worker:
            options.setdefault("con_retry_time", RETRY)
            worker = closing(Worker(journal_daemon.endpoint, handler=handler, **options))
            worker.start()
            assert worker.wait_ready(WAIT), "worker offer not accepted within the wait"
            return worker

        @staticmethod
        def client(**options: Any) -> Client:
            options.setdefault("con_retry_time", RETRY)
            client = closing(Client(journal_daemon.endpoint, **options))
            assert client.wait_connected(WAIT), "client not registered within the wait"
            return client

    return Peers()


def welcome_of(peer) -> Dict[str, Any]:
    return dict(peer._session.welcome)


def reregistered(peer, old_id: str) -> bool:
    return peer.connected and peer.id not in ("", old_id)


def test_the_journal_is_named_in_welcome_and_survives_a_restart(journal_daemon, peers):
    client = peers.client()
    journal = welcome_of(client).get("journal")
    assert isinstance(journal, str) and journal
    old = client.id
    journal_daemon.restart(kill=True)
    wait_for(lambda: reregistered(client, old), "the client to register with the restarted manager")
    assert welcome_of(client).get("journal") == journal


def test_a_job_running_when_the_manager_is_killed_is_delivered_once(journal_daemon, peers):
    runs = []

    def handler(job):
        runs.append((job.args, job.attempt))
        if len(runs) == 1:  # hold the first run until the manager is gone
            job.cancelled.wait(WAIT)
            return "first run"
        return f"done {job.args}"

    worker = peers.worker(handler)
    client = peers.client()  # no keep_state: only the journal keeps the job
    future = client.submit("job")
    wait_for(lambda: runs, "the job to run")
    journal_daemon.restart(kill=True)
    assert future.result(3 * WAIT).value() == "done job"
    assert [args for args, _ in runs] == ["job", "job"]
    assert runs[1][1] > runs[0][1], "a restarted manager gives a running job a higher attempt"
    assert worker.wait_ready(WAIT)
    assert client.work("after", timeout=WAIT).value() == "done after"


def test_held_results_go_to_the_client_with_that_identity(journal_daemon, peers):
    """A client that vanished without BYE gets its results back under its identity;
    a Client that does not know their ids drops them but says RECEIVED, so the
    manager stops holding them."""
    release = threading.Event()
    peers.worker(lambda job: release.wait(WAIT) and f"done {job.args}")
    identity = "python-test-held-results"
    # The vanishing client: a bare socket, so that no BYE is ever sent.
    ctx = zmq.Context()
    dealer = ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    try:
        dealer.connect(journal_daemon.endpoint)
        dealer.send_multipart([b"", b"PRO1", b"HELLO", json.dumps({"identity": identity}).encode()])
        assert dealer.poll(WAIT * 1000)
        frames = dealer.recv_multipart()
        assert frames[2] == b"WELCOME", frames
        welcome = json.loads(frames[3])
        assert welcome.get("journal")
        dealer.send_multipart([b"", b"PRO1", b"PUSH", b'{"req":1,"jobs":[{},{}]}', b'"a"', b'"b"'])
        assert dealer.poll(WAIT * 1000)
        frames = dealer.recv_multipart()
        assert frames[2] == b"ACCEPTED", frames
    finally:
        dealer.close(linger=0)
        ctx.term()
    vanished = welcome["id"]
    release.set()
    observer = peers.client(name="observer")
    wait_for(lambda: observer.status(timeout=WAIT).get("heldResults") == 2, "the manager to hold both results")
    wait_for(lambda: all(c.get("id") != vanished for c in observer.status(timeout=WAIT).get("clients", [])),
             "the manager to expire the vanished client's session")
    heir = peers.client(identity=identity)
    wait_for(lambda: observer.status(timeout=WAIT).get("heldResults") == 0,
             "the heir's RECEIVED to release the held results")
    assert heir.pending == 0


@pytest.mark.daemon_args("--drain-timeout", "5000")
def test_sigterm_drains_running_jobs_and_refused_pushes_go_to_the_next_manager(journal_daemon, peers, caplog):
    release = threading.Event()
    runs = []

    def handler(job):
        runs.append(job.args)
        if job.args == "slow":
            assert release.wait(WAIT)
        return f"done {job.args}"

    peers.worker(handler, con_retry_time=RETRY_AFTER_BYE)
    client = peers.client(con_retry_time=RETRY_AFTER_BYE)
    slow = client.submit("slow")
    wait_for(lambda: runs == ["slow"], "the slow job to run")
    journal_daemon.send_sigterm()
    wait_for(lambda: client.status(timeout=WAIT).get("draining") is True, "the manager to drain")
    with caplog.at_level(logging.WARNING, logger="proletariat"):
        late = client.submit("late")
        wait_for(lambda: any("draining" in r.getMessage() for r in caplog.records), "EDRAINING for the late push")
    assert not late.done(), "a push refused with EDRAINING is not failed"
    release.set()
    assert slow.result(WAIT).value() == "done slow"  # the drain waited for it
    assert journal_daemon.wait_exit(WAIT) == 0
    journal_daemon.start()
    assert late.result(3 * WAIT).value() == "done late"
    assert runs == ["slow", "late"]


@pytest.mark.daemon_args("--drain-timeout", "200")
def test_jobs_still_running_after_the_drain_timeout_run_after_the_restart(journal_daemon, peers):
    runs = []

    def handler(job):
        runs.append(job.args)
        if len(runs) == 1:
            job.cancelled.wait(WAIT)  # outlasts the drain: the manager says BYE
            return "too late"
        return f"done {job.args}"

    worker = peers.worker(handler, con_retry_time=RETRY_AFTER_BYE)
    client = peers.client(con_retry_time=RETRY_AFTER_BYE)
    future = client.submit("long")
    wait_for(lambda: runs, "the job to run")
    journal_daemon.send_sigterm()
    assert journal_daemon.wait_exit(WAIT) == 0
    wait_for(lambda: not worker.connected and not client.connected, "the peers to hear BYE")
    assert not future.done(), "the client waits for the journal's job across the BYE"
    journal_daemon.start()
    assert future.result(3 * WAIT).value() == "done long"
    assert runs == ["long", "long"]


def test_a_worker_stop_finishes_its_jobs_while_the_manager_sends_the_rest_elsewhere(journal_daemon, peers):
    release = threading.Event()
    ran_on: Dict[str, list] = {"first": [], "second": []}

    def on(name):
        def handler(job):
            ran_on[name].append(job.args)
            if job.args == "slow":
                assert release.wait(WAIT)
            return f"{job.args} on {name}"

        return handler

    first = peers.worker(on("first"), slots=4)
    client = peers.client()
    slow = client.submit("slow")
    wait_for(lambda: ran_on["first"] == ["slow"], "the slow job to run")
    stopper = threading.Thread(target=first.stop)
    stopper.start()
    wait_for(lambda: not first.ready, "the worker to start draining")
    peers.worker(on("second"), slots=4)
    assert [r.value() for r in client.work(["a", "b", "c"], timeout=WAIT)] == ["a on second", "b on second",
                                                                                "c on second"]
    assert sorted(ran_on["second"]) == ["a", "b", "c"] and ran_on["first"] == ["slow"]
    assert stopper.is_alive(), "the stop waits for the running job"
    release.set()
    assert slow.result(WAIT).value() == "slow on first"
    stopper.join(WAIT)
    assert not stopper.is_alive()
    assert "slow" not in ran_on["second"]
