"""Durability against a fake manager (PROTOCOL §4 HELLO identity, RECEIVED, DRAIN;
§5 WELCOME journal; §6 EDRAINING; §12): the client's identity, re-attachment to a
manager on the same journal, RECEIVED, re-pushing after EDRAINING, and the worker's
graceful stop."""

from __future__ import annotations

import json
import re
import threading
import time

import pytest

from conftest import WAIT, wait_for
from proletariat import EBADFIELD, ECONNLOST, EDRAINING, Client, ProletariatError, Result, Worker


def make_client(fake_manager, closing, **options):
    options.setdefault("con_retry_time", 0.05)
    return closing(Client(fake_manager.endpoint, **options))


def start_worker(fake_manager, closing, handler, **options):
    options.setdefault("con_retry_time", 0.05)
    worker = closing(Worker(fake_manager.endpoint, handler=handler, **options))
    worker.start()
    return worker


def offered(fake_manager, **welcome):
    """A worker's registration: HELLO -> WELCOME, OFFER -> OFFERED; its routing id."""
    rid = fake_manager.welcome("fake.w", **welcome)
    _, header, _ = fake_manager.expect("OFFER")
    fake_manager.send(rid, "OFFERED", {"slots": header["slots"], "ranges": []})
    return rid


def results(fake_manager, rid, *items):
    """Sends one RESULT of (id, value) pairs."""
    fake_manager.send(rid, "RESULT", {"results": [{"id": i} for i, _ in items]},
                      [json.dumps(v).encode() for _, v in items])


def jobs(fake_manager, rid, *id_args):
    entries = [{"id": i, "attempt": 1, "priority": 0, "client": "fake.c"} for i, _ in id_args]
    fake_manager.send(rid, "JOBS", {"jobs": entries}, [json.dumps(a).encode() for _, a in id_args])


def lose_session(fake_manager, rid):
    """The manager says BYE (it is stopping); the peer registers again after its
    retry time."""
    fake_manager.send(rid, "BYE", {"reason": "shutdown"})


def status_round_trip(fake_manager, client):
    """Asks STATUS and answers it: every message the client's I/O thread meant to
    send before the request has then arrived (one socket keeps the order)."""
    future = client._control("STATUS", {}, [])
    rid, header, _ = fake_manager.expect("STATUS")
    fake_manager.send(rid, "STATUS", {"req": header["req"]})
    future.result(WAIT)


def drained(stream):
    """Everything a ResultStream delivered: (index, value) pairs, read until it ends,
    then any extra delivery left behind (there must be none: one per job)."""
    got = [(i, r.value()) for i, r in stream]
    extra = []
    while not stream._queue.empty():
        extra.append(stream._queue.get_nowait())
    return got, extra


# --- identity -----------------------------------------------------------------------


def test_identity_is_sent_in_every_hello_and_stays_the_same(fake_manager, closing):
    client = make_client(fake_manager, closing)
    assert re.fullmatch(r"python-[0-9a-f]{32}", client.identity)
    rid = fake_manager.welcome("fake.c1")
    assert fake_manager.last_hello["identity"] == client.identity
    assert client.wait_connected(WAIT)
    lose_session(fake_manager, rid)
    rid2 = fake_manager.welcome("fake.c2")  # a new socket, the same identity
    assert rid2 != rid and fake_manager.last_hello["identity"] == client.identity
    fake_manager.send(rid2, "ERROR", {"code": "ENOHELLO", "message": "who?", "class": "request"})
    fake_manager.welcome("fake.c3")
    assert fake_manager.last_hello["identity"] == client.identity
    # Every client has its own.
    other = make_client(fake_manager, closing)
    fake_manager.welcome("fake.c4")
    assert fake_manager.last_hello["identity"] == other.identity != client.identity


def test_an_identity_can_be_given(fake_manager, closing):
    name = "é" * 64  # 128 bytes of UTF-8: the longest allowed
    client = make_client(fake_manager, closing, identity=name)
    fake_manager.welcome()
    assert client.identity == name and fake_manager.last_hello["identity"] == name


@pytest.mark.parametrize("bad", ["", "x" * 129, "é" * 65, "\ud800", 7, b"bytes"],
                         ids=["empty", "129-bytes", "130-bytes-utf8", "lone-surrogate", "int", "bytes"])
def test_a_bad_identity_is_refused_at_construction(fake_manager, bad):
    with pytest.raises(ProletariatError) as info:
        Client(fake_manager.endpoint, identity=bad)
    assert info.value.code == EBADFIELD and "identity" in info.value.message


# --- re-attachment -------------------------------------------------------------------


def test_accepted_jobs_wait_across_a_lost_session_with_the_same_journal(fake_manager, closing):
    client = make_client(fake_manager, closing)
    rid = fake_manager.welcome("fake.c1", journal="j-1")
    first = client.work_individual(["a", "b"])
    _, push, _ = fake_manager.expect("PUSH")
    fake_manager.send(rid, "ACCEPTED", {"req": push["req"], "ids": [11, 12]})
    results(fake_manager, rid, (11, "A"))
    assert first.next(WAIT) == (0, Result(None, "A"))
    _, received, _ = fake_manager.expect("RECEIVED")
    assert received == {"ids": [11]}
    second = client.submit("c")  # pushed, never accepted: pushed again
    _, push2, payloads = fake_manager.expect("PUSH")
    assert payloads == [b'"c"']

    lose_session(fake_manager, rid)
    rid = fake_manager.welcome("fake.c2", journal="j-1")
    assert fake_manager.last_hello["identity"] == client.identity
    # Only the push that was not accepted goes again; job 12 waits for its result.
    _, again, payloads = fake_manager.expect("PUSH")
    assert again["req"] == push2["req"] and payloads == [b'"c"']
    fake_manager.send(rid, "ACCEPTED", {"req": again["req"], "ids": [13]})
    status_round_trip(fake_manager, client)  # no other PUSH came before the STATUS
    assert first.remaining == 1 and not second.done()

    # Held results after re-attachment: 12 twice, 11 again (delivered before), 13.
    results(fake_manager, rid, (12, "B"), (11, "A again"))
    assert fake_manager.expect("RECEIVED")[1] == {"ids": [12, 11]}
    results(fake_manager, rid, (12, "B again"), (13, "C"), (99, "not ours"))
    assert fake_manager.expect("RECEIVED")[1] == {"ids": [12, 13, 99]}
    assert second.result(WAIT).value() == "C"
    got, extra = drained(first)
    assert got == [(1, "B")] and extra == []
    assert client.pending == 0


@pytest.mark.parametrize("journal", ["j-2", None], ids=["other-journal", "no-journal"])
@pytest.mark.parametrize("keep_state", [False, True], ids=["fail", "keep_state"])
def test_kept_jobs_are_lost_when_the_next_manager_has_another_journal(fake_manager, closing, journal, keep_state):
    client = make_client(fake_manager, closing, keep_state=keep_state)
    rid = fake_manager.welcome("fake.c1", journal="j-1")
    future = client.submit(["a", "b"])
    _, push, _ = fake_manager.expect("PUSH")
    fake_manager.send(rid, "ACCEPTED", {"req": push["req"], "ids": [11, 12]})
    status_round_trip(fake_manager, client)  # the ACCEPTED was handled

    lose_session(fake_manager, rid)
    rid, hello, _ = fake_manager.expect("HELLO")
    assert hello["identity"] == client.identity
    assert not future.done()  # the lost session alone does not fail kept jobs
    fields = {"journal": journal} if journal else {}
    fake_manager.send(rid, "WELCOME", {"id": "fake.c2", "protocol": 1, "heartbeat_ms": 1000, "liveness": 5,
                                       **fields})
    if keep_state:
        rid, again, payloads = fake_manager.expect("PUSH")
        assert payloads == [b'"a"', b'"b"']
        fake_manager.send(rid, "ACCEPTED", {"req": again["req"], "ids": [1, 2]})
        # A result for an old id of the other manager is not theirs: dropped.
        results(fake_manager, rid, (11, "stale"), (1, "A"), (2, "B"))
        assert [r.value() for r in future.result(WAIT)] == ["A", "B"]
    else:
        assert [r.err.code for r in future.result(WAIT)] == [ECONNLOST, ECONNLOST]


def test_received_names_every_result_and_only_for_a_journal(fake_manager, closing):
    client = make_client(fake_manager, closing)
    rid = fake_manager.welcome("fake.c1")  # no journal
    future = client.submit([1, 2])
    _, push, _ = fake_manager.expect("PUSH")
    fake_manager.send(rid, "ACCEPTED", {"req": push["req"], "ids": [5, 6]})
    results(fake_manager, rid, (5, "x"), (6, "y"), (7, "unknown"))
    assert [r.value() for r in future.result(WAIT)] == ["x", "y"]
    # The next message after the RESULT was handled is the STATUS, not a RECEIVED.
    status_round_trip(fake_manager, client)

    lose_session(fake_manager, rid)
    rid = fake_manager.welcome("fake.c2", journal="j-1")
    future = client.submit([1, 2, 3])
    _, push, _ = fake_manager.expect("PUSH")
    fake_manager.send(rid, "ACCEPTED", {"req": push["req"], "ids": [8, 9, 10]})
    results(fake_manager, rid, (9, "b"), (8, "a"))
    assert fake_manager.expect("RECEIVED")[1] == {"ids": [9, 8]}
    results(fake_manager, rid, (10, "c"))
    assert fake_manager.expect("RECEIVED")[1] == {"ids": [10]}
    assert [r.value() for r in future.result(WAIT)] == ["a", "b", "c"]


# --- EDRAINING --------------------------------------------------------------------------


def test_a_push_refused_with_edraining_is_pushed_again_after_registering(fake_manager, closing):
    client = make_client(fake_manager, closing)
    rid = fake_manager.welcome("fake.c1", journal="j-1")
    first = client.submit(["a", "b"])
    _, push, _ = fake_manager.expect("PUSH")
    fake_manager.send(rid, "ERROR", {"code": EDRAINING, "message": "stopping", "class": "retry",
                                     "command": "PUSH", "req": push["req"]})
    status_round_trip(fake_manager, client)  # the ERROR was handled
    second = client.submit("c")
    # Nothing is pushed to the draining manager: the next message is the STATUS.
    status_round_trip(fake_manager, client)
    status_round_trip(fake_manager, client)
    assert not first.done() and not second.done()

    lose_session(fake_manager, rid)  # the drained manager says BYE when it stops
    rid = fake_manager.welcome("fake.c2", journal="j-1")
    pushed = {}
    for _ in range(2):
        _, header, payloads = fake_manager.expect("PUSH")
        pushed[header["req"]] = payloads
    assert sorted(pushed.values()) == [[b'"a"', b'"b"'], [b'"c"']]
    ids = iter(range(20, 30))
    answers = []
    for req, payloads in pushed.items():
        given = [next(ids) for _ in payloads]
        fake_manager.send(rid, "ACCEPTED", {"req": req, "ids": given})
        answers += [(i, json.loads(p).upper()) for i, p in zip(given, payloads)]
    results(fake_manager, rid, *answers)
    assert [r.value() for r in first.result(WAIT)] == ["A", "B"]
    assert second.result(WAIT).value() == "C"


# --- the worker's graceful stop ----------------------------------------------------------


def test_worker_stop_drains_rejects_late_jobs_and_finishes_running_ones(fake_manager, closing):
    release = threading.Event()
    started = threading.Event()

    def handler(job):
        started.set()
        assert release.wait(WAIT)
        return job.args * 2

    worker = start_worker(fake_manager, closing, handler, slots=4)
    rid = offered(fake_manager)
    assert worker.wait_ready(WAIT)
    jobs(fake_manager, rid, (1, 21))
    assert started.wait(WAIT)
    stopper = threading.Thread(target=worker.stop)
    stopper.start()
    fake_manager.expect("DRAIN")
    jobs(fake_manager, rid, (2, 5), (3, 6))  # sent before the manager heard DRAIN
    _, reject, _ = fake_manager.expect("REJECT")
    assert reject == {"jobs": [{"id": 2, "attempt": 1}, {"id": 3, "attempt": 1}]}
    assert stopper.is_alive() and not worker.ready
    release.set()
    _, result, payloads = fake_manager.expect("RESULT")
    assert result == {"results": [{"id": 1, "attempt": 1, "err": None}]} and payloads == [b"42"]
    fake_manager.expect("BYE")
    stopper.join(WAIT)
    assert not stopper.is_alive()


def test_worker_stop_gives_up_after_its_drain_timeout(fake_manager, closing):
    reasons = []

    def stubborn(job):
        job.cancelled.wait(WAIT)
        reasons.append(job.cancel_reason)

    worker = start_worker(fake_manager, closing, stubborn, drain_timeout=0.2)
    rid = offered(fake_manager)
    jobs(fake_manager, rid, (1, 0))
    wait_for(lambda: worker.running == 1, "the job to run")
    began = time.monotonic()
    worker.stop()
    assert time.monotonic() - began >= 0.2
    fake_manager.expect("DRAIN")
    fake_manager.expect("BYE")  # no RESULT: the manager requeues the job
    wait_for(lambda: reasons == ["stop"], "the handler to see 'stop'")


@pytest.mark.parametrize("how", ["stop-argument", "constructor"])
def test_a_hard_stop_says_bye_at_once(fake_manager, closing, how):
    reasons = []

    def stubborn(job):
        job.cancelled.wait(WAIT)
        reasons.append(job.cancel_reason)

    options = {"drain_timeout": 0} if how == "constructor" else {}
    worker = start_worker(fake_manager, closing, stubborn, **options)
    rid = offered(fake_manager)
    jobs(fake_manager, rid, (1, 0))
    wait_for(lambda: worker.running == 1, "the job to run")
    worker.stop(drain_timeout=0) if how == "stop-argument" else worker.stop()
    fake_manager.expect("BYE")  # no DRAIN, no RESULT
    wait_for(lambda: reasons == ["stop"], "the handler to see 'stop'")


def test_a_second_stop_with_no_drain_time_ends_a_drain(fake_manager, closing):
    worker = start_worker(fake_manager, closing, lambda job: job.cancelled.wait(WAIT))
    rid = offered(fake_manager)
    jobs(fake_manager, rid, (1, 0))
    wait_for(lambda: worker.running == 1, "the job to run")
    stopper = threading.Thread(target=worker.stop)
    stopper.start()
    fake_manager.expect("DRAIN")
    worker.stop(drain_timeout=0)
    fake_manager.expect("BYE")
    stopper.join(WAIT)
    assert not stopper.is_alive()


def test_a_handler_may_stop_its_worker(fake_manager, closing):
    worker_box = []

    def last_job(job):
        worker_box[0].stop()  # returns at once: the drain waits for this very job
        return "bye"

    worker_box.append(start_worker(fake_manager, closing, last_job))
    rid = offered(fake_manager)
    jobs(fake_manager, rid, (1, 0))
    fake_manager.expect("DRAIN")
    _, result, payloads = fake_manager.expect("RESULT")
    assert result["results"][0]["id"] == 1 and payloads == [b'"bye"']
    fake_manager.expect("BYE")
    assert worker_box[0]._stopped.wait(WAIT)


def test_a_worker_that_runs_nothing_drains_at_once(fake_manager, closing):
    worker = start_worker(fake_manager, closing, lambda job: None)
    offered(fake_manager)
    assert worker.wait_ready(WAIT)
    worker.stop()
    fake_manager.expect("DRAIN")
    fake_manager.expect("BYE")


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), "soon", True])
def test_a_bad_drain_timeout_is_refused(fake_manager, bad):
    with pytest.raises(ProletariatError) as info:
        Worker(fake_manager.endpoint, drain_timeout=bad)
    assert info.value.code == EBADFIELD
    worker = Worker(fake_manager.endpoint)
    with pytest.raises(ProletariatError):
        worker.stop(drain_timeout=bad)
    worker.close(drain_timeout=0)
