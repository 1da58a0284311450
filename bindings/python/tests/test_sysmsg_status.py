"""System messages (PROTOCOL §8.1, §8.2) and STATUS/MYSTATUS through the real manager."""

from __future__ import annotations

import queue
import threading
import time

import pytest

from conftest import WAIT
from proletariat import ENOPEER, Job, ProletariatError


def inbox(peer):
    """A queue of (content, sender) of the system messages `peer` receives."""
    q = queue.Queue()
    peer.on_sysmsg(lambda content, sender: q.put((content, sender)))
    return q


def test_broadcast_reaches_every_other_peer(make_worker, make_client):
    worker = make_worker(lambda job: None)
    listener = make_client()
    sender = make_client()
    worker_inbox, listener_inbox, sender_inbox = inbox(worker), inbox(listener), inbox(sender)
    sent_to, received_by = sender.system_message({"hello": "all"}, timeout=WAIT)
    # Peers count, not the manager (which hears every broadcast) nor the sender.
    assert (sent_to, received_by) == (2, 2)
    assert worker_inbox.get(timeout=WAIT) == ({"hello": "all"}, sender.id)
    assert listener_inbox.get(timeout=WAIT) == ({"hello": "all"}, sender.id)
    assert sender_inbox.empty()


def test_message_to_one_peer(make_worker, make_client):
    worker = make_worker(lambda job: None)
    other = make_client()
    sender = make_client()
    worker_inbox, other_inbox = inbox(worker), inbox(other)
    assert sender.system_message([1, "two"], to=worker.id, timeout=WAIT) == (1, 1)
    assert worker_inbox.get(timeout=WAIT) == ([1, "two"], sender.id)
    # A worker can send too, and ids that are prefixes of others are not confused.
    assert worker.system_message("back", to=sender.id, timeout=WAIT) == (1, 1)
    assert other_inbox.empty()


def test_message_to_the_manager_only(make_worker, make_client):
    worker = make_worker(lambda job: None)
    worker_inbox = inbox(worker)
    client = make_client()
    assert client.system_message("for the manager", to="MANAGER", timeout=WAIT) == (1, 1)
    assert worker_inbox.empty()


def test_message_to_an_unknown_peer_raises_enopeer(make_client):
    client = make_client()
    with pytest.raises(ProletariatError) as info:
        client.system_message("x", to="no-such-peer", timeout=WAIT)
    assert info.value.code == ENOPEER
    assert client.system_message("still fine", to="MANAGER", timeout=WAIT) == (1, 1)


def test_broadcast_with_nobody_else_completes_with_zero(make_client):
    assert make_client().system_message(None, timeout=WAIT) == (0, 0)


def test_system_message_future(make_worker, make_client):
    worker = make_worker(lambda job: None)
    client = make_client()
    future = client.system_message_future({"n": 1}, to=worker.id)
    assert future.result(WAIT) == (1, 1)


def test_status_lists_workers_clients_and_slots(make_worker, make_client):
    worker = make_worker(lambda job: None, slots=10, priority_slots={1: 3}, services=["svc"], name="w1")
    client = make_client(name="c1")
    client.work(Job(1, service="svc"), timeout=WAIT)  # pushing makes the peer a client
    status = client.status(timeout=WAIT)
    assert status["totalSlots"] == 10 and status["freeSlots"] == 10
    assert status["queued"] == 0 and status["running"] == 0
    workers = {w["id"]: w for w in status["workers"]}
    assert workers[worker.id]["name"] == "w1" and workers[worker.id]["lang"] == "python"
    assert workers[worker.id]["services"] == ["svc"] and workers[worker.id]["slots"] == 10
    assert {r["start"]: r["slots"] for r in workers[worker.id]["ranges"]} == {0: 7, 1: 3}
    clients = {c["id"]: c for c in status["clients"]}
    assert clients[client.id]["name"] == "c1" and clients[client.id]["lang"] == "python"
    assert status["finished"] >= 1
    assert isinstance(status["boot"], int) and status["now"] >= status["boot"]


def test_status_explains_why_a_job_waits(make_worker, make_client):
    make_worker(lambda job: None)
    client = make_client()
    future = client.submit(Job("x", service="ocr"), timeout=WAIT)
    waiting = []
    deadline = time.monotonic() + WAIT
    while not waiting and time.monotonic() < deadline:
        waiting = client.status(timeout=WAIT)["waiting"]
    assert waiting and waiting[0]["service"] == "ocr" and waiting[0]["reason"] == "no_worker_for_service"
    future.cancel()


def test_my_status(make_worker, make_client):
    worker = make_worker(lambda job: None, slots=4)
    mine = worker.my_status(timeout=WAIT)
    assert mine["id"] == worker.id and mine["role"] == "worker" and mine["slots"] == 4 and mine["running"] == 0
    client = make_client()
    mine = client.my_status(timeout=WAIT)
    assert mine["id"] == client.id and mine["role"] == "peer"  # not a client before its first push
    client.work(Job(1), timeout=WAIT)
    assert client.my_status(timeout=WAIT)["role"] == "client"


def test_callbacks_may_block_on_the_same_peer(make_worker, make_client):
    """System-message handlers and done-callbacks run on the events thread, not the
    I/O thread, so they may wait for answers of the very peer that called them."""
    make_worker(lambda job: job.args * 2)
    client = make_client()
    answers = queue.Queue()

    @client.on_sysmsg
    def handler(content, sender):
        answers.put(("sysmsg", client.call(content, timeout=WAIT), client.status(timeout=WAIT)["totalSlots"]))

    def done(future):
        answers.put(("callback", threading.current_thread().name, client.call(future.result()[0].data, timeout=WAIT)))

    client.submit([21], timeout=WAIT).add_done_callback(done)
    kind, thread_name, value = answers.get(timeout=WAIT)
    assert kind == "callback" and "events" in thread_name and value == 84
    other = make_client()
    assert other.system_message(5, to=client.id, timeout=WAIT) == (1, 1)
    assert answers.get(timeout=WAIT) == ("sysmsg", 10, 100)


# --- peers that take no system messages (HELLO "sysmsg": false, PROTOCOL §3, §4) -------

#: A liveness window of 100 x 50 ms = 5 s, longer than any wait below: a manager that
#: waited for the subscription of a peer that never subscribes would not answer in time.
@pytest.mark.daemon_args("--heartbeat-liveness", "100")
def test_a_peer_without_system_messages_is_never_a_recipient(make_worker, make_client):
    quiet_client = make_client(system_messages=False)
    quiet_worker = make_worker(lambda job: job.args, system_messages=False)
    listener = make_client()
    listener_inbox = inbox(listener)
    sender = make_client()

    # Broadcasts skip the quiet peers at once: they are not counted, not waited for.
    started = time.monotonic()
    assert sender.system_message({"to": "all"}, timeout=WAIT / 2) == (1, 1)
    assert time.monotonic() - started < WAIT / 2
    assert listener_inbox.get(timeout=WAIT) == ({"to": "all"}, sender.id)
    # A quiet peer may still send (listener and sender count; the quiet worker does not).
    assert quiet_client.system_message("from a quiet one", timeout=WAIT / 2) == (2, 2)
    assert quiet_worker.system_message("me too", to=listener.id, timeout=WAIT / 2) == (1, 1)

    # Addressed to a quiet peer: ENOPEER, as for an id nobody has.
    for quiet in (quiet_client, quiet_worker):
        with pytest.raises(ProletariatError) as info:
            sender.system_message("x", to=quiet.id, timeout=WAIT / 2)
        assert info.value.code == ENOPEER, quiet
    # And the quiet peers work as ever.
    assert quiet_client.work([1, 2], timeout=WAIT)[1].value() == 2
    assert quiet_worker.my_status(timeout=WAIT)["role"] == "worker"


@pytest.mark.daemon_args("--heartbeat-liveness", "100")
def test_a_broadcast_with_only_quiet_peers_completes_with_zero(make_worker, make_client):
    make_client(system_messages=False)
    make_worker(lambda job: None, system_messages=False)
    assert make_client().system_message("anyone?", timeout=WAIT / 2) == (0, 0)
