"""The wire protocol frame by frame, against a fake manager driven by the test:
registration, heartbeats, liveness, ENOHELLO, BYE, REJECT beyond slots, ABORT,
result batching, ERROR replies."""

from __future__ import annotations

import json
import threading
import time

import pytest

from conftest import WAIT, wait_for
from proletariat import EABORTED, ECONNLOST, ETOOBIG, Client, Job, JobError, ProletariatError, Worker
from proletariat import _protocol as proto


def start_worker(fake_manager, closing, handler=None, **options):
    options.setdefault("con_retry_time", 0.05)
    worker = closing(Worker(fake_manager.endpoint, handler=handler, **options))
    worker.start()
    return worker


def offer(fake_manager, peer_id="fake.1", **welcome):
    """HELLO -> WELCOME, OFFER -> OFFERED; returns (routing id, offer header)."""
    rid = fake_manager.welcome(peer_id, **welcome)
    rid2, header, _ = fake_manager.expect("OFFER")
    assert rid2 == rid
    fake_manager.send(rid, "OFFERED", {"slots": header["slots"], "ranges": []})
    return rid, header


def jobs_message(jobs):
    """(header, payloads) of a JOBS message for [(id, attempt, args, extra)]."""
    entries, payloads = [], []
    for job_id, attempt, args, extra in jobs:
        entries.append({"id": job_id, "attempt": attempt, "priority": 0, "client": "fake.c", **extra})
        payloads.append(json.dumps(args).encode())
    return {"jobs": entries}, payloads


def test_worker_registers_offers_and_answers(fake_manager, closing):
    worker = start_worker(
        fake_manager, closing, lambda job: job.args + 1, slots=10, priority_slots={1: 3, 2.5: 2},
        services=["a", "b"], name="w-test",
    )
    rid = fake_manager.welcome("fake.1")
    _, header, _ = fake_manager.expect("OFFER")
    assert header == {"slots": 10, "prioritySlots": {"1": 3, "2.5": 2}, "services": ["a", "b"]}
    assert not worker.ready
    fake_manager.send(rid, "OFFERED", {"slots": 10, "ranges": []})
    assert worker.wait_ready(WAIT) and worker.id == "fake.1"
    fake_manager.send(rid, "JOBS", *jobs_message([(7, 1, 41, {})]))
    _, header, payloads = fake_manager.expect("RESULT")
    assert header == {"results": [{"id": 7, "attempt": 1, "err": None}]}
    assert payloads == [b"42"]


def test_hello_carries_name_and_lang(fake_manager, closing):
    client = closing(Client(fake_manager.endpoint, name="the-client"))
    _, header, _ = fake_manager.expect("HELLO")
    assert header == {"name": "the-client", "lang": "python", "identity": client.identity}


def test_a_worker_hello_has_no_identity(fake_manager, closing):
    start_worker(fake_manager, closing, name="the-worker")
    _, header, _ = fake_manager.expect("HELLO")
    assert header == {"name": "the-worker", "lang": "python"}


@pytest.mark.parametrize("role", ["client", "worker"])
def test_a_peer_without_system_messages_says_so_and_never_subscribes(fake_manager, closing, role):
    """system_messages=False: HELLO carries "sysmsg": false (the field is absent
    otherwise, which means true), and the peer opens no SUB socket even though the
    WELCOME names the system-message port."""
    import zmq

    pub = fake_manager.ctx.socket(zmq.XPUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub_port = pub.bind_to_random_port("tcp://127.0.0.1")
    try:
        if role == "client":
            peer = closing(Client(fake_manager.endpoint, name="ctl", system_messages=False))
        else:
            peer = start_worker(fake_manager, closing, lambda job: None, name="ctl", system_messages=False)
        assert peer.system_messages is False
        frames = fake_manager.router.recv_multipart()
        identity = f'"identity":"{peer.identity}",' if role == "client" else ""
        assert frames[3:] == [b"HELLO", f'{{"name":"ctl","lang":"python",{identity}"sysmsg":false}}'.encode()]
        fake_manager.send(frames[0], "WELCOME", {"id": "fake.1", "protocol": 1, "heartbeat_ms": 1000,
                                                 "liveness": 5, "pub_port": pub_port})
        if role == "worker":
            _, offer_header, _ = fake_manager.expect("OFFER")
            fake_manager.send(frames[0], "OFFERED", {"slots": offer_header["slots"], "ranges": []})
        assert peer.wait_connected(WAIT)
        assert peer._session._sub is None  # opened (or not) before the peer counts as connected
        # It can still send system messages; it just never receives any.
        future = peer.system_message_future("hi", to="MANAGER")
        rid, header, payloads = fake_manager.expect("SYSMSG")
        assert payloads == [b'"hi"']
        fake_manager.send(rid, "SYSDONE", {"req": header["req"], "sentTo": 1, "receivedBy": 1})
        assert future.result(WAIT) == (1, 1)
        with pytest.raises(ProletariatError) as info:
            peer.on_sysmsg(lambda content, sender: None)
        assert info.value.code == "ESTATE"
        assert not pub.poll(0), "a subscription reached the system-message channel"
    finally:
        pub.close(linger=0)


def test_a_peer_takes_system_messages_by_default(fake_manager, closing):
    import zmq

    pub = fake_manager.ctx.socket(zmq.XPUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub_port = pub.bind_to_random_port("tcp://127.0.0.1")
    try:
        client = closing(Client(fake_manager.endpoint, name="c"))
        assert client.system_messages is True
        rid, header, _ = fake_manager.expect("HELLO")
        assert "sysmsg" not in header
        fake_manager.send(rid, "WELCOME", {"id": "fake.1", "protocol": 1, "heartbeat_ms": 1000, "liveness": 5,
                                           "pub_port": pub_port})
        assert pub.poll(WAIT * 1000) and pub.recv() == b"\x01fake.1"
    finally:
        pub.close(linger=0)


def test_a_channel_that_is_not_tcp_is_announced_whole(fake_manager, closing, tmp_path):
    """WELCOME without pub_port but with pub_endpoint (an ipc:// channel, PROTOCOL §8.1):
    the peer subscribes there."""
    import zmq

    pub = fake_manager.ctx.socket(zmq.XPUB)
    pub.setsockopt(zmq.LINGER, 0)
    endpoint = f"ipc://{tmp_path}/sysmsg"
    pub.bind(endpoint)
    try:
        closing(Client(fake_manager.endpoint))
        rid, _, _ = fake_manager.expect("HELLO")
        fake_manager.send(rid, "WELCOME", {"id": "fake.1", "protocol": 1, "heartbeat_ms": 1000, "liveness": 5,
                                           "pub_endpoint": endpoint})
        assert pub.poll(WAIT * 1000) and pub.recv() == b"\x01fake.1"
    finally:
        pub.close(linger=0)


def test_system_messages_must_be_a_bool(fake_manager):
    for make in (Client, Worker):
        with pytest.raises(ProletariatError) as info:
            make(fake_manager.endpoint, system_messages="no")
        assert info.value.code == "EBADFIELD"


def test_worker_rejects_jobs_beyond_its_slots(fake_manager, closing):
    release = threading.Event()
    start_worker(fake_manager, closing, lambda job: release.wait(WAIT) and job.args, slots=2, threads=4)
    rid, _ = offer(fake_manager)
    fake_manager.send(rid, "JOBS", *jobs_message([(1, 1, "a", {}), (2, 1, "b", {}), (3, 4, "c", {})]))
    _, header, _ = fake_manager.expect("REJECT")
    assert header == {"jobs": [{"id": 3, "attempt": 4}]}
    release.set()
    got = {}
    while len(got) < 2:
        _, header, payloads = fake_manager.expect("RESULT")
        for entry, payload in zip(header["results"], payloads):
            got[entry["id"]] = json.loads(payload)
    assert got == {1: "a", 2: "b"}


def test_worker_abort_sets_the_flag_and_sends_no_result(fake_manager, closing):
    started = threading.Event()
    seen = []

    def handler(job):
        started.set()
        job.cancelled.wait(WAIT)
        seen.append(job.cancel_reason)
        return "must not be sent"

    worker = start_worker(fake_manager, closing, handler)
    rid, _ = offer(fake_manager)
    fake_manager.send(rid, "JOBS", *jobs_message([(5, 2, None, {})]))
    assert started.wait(WAIT)
    assert worker.running == 1
    fake_manager.send(rid, "ABORT", {"jobs": [{"id": 5, "attempt": 2}]})
    wait_for(lambda: seen == ["abort"], "the handler to see the abort")
    assert worker.running == 0
    fake_manager.nothing(0.1)  # the handler's late answer is dropped


def test_run_timeout_answers_eto_once(fake_manager, closing):
    def handler(job):
        job.cancelled.wait(WAIT)
        return "late"

    start_worker(fake_manager, closing, handler)
    rid, _ = offer(fake_manager)
    began = time.monotonic()
    fake_manager.send(rid, "JOBS", *jobs_message([(9, 1, None, {"runTimeout": 50})]))
    _, header, payloads = fake_manager.expect("RESULT")
    assert time.monotonic() - began >= 0.05
    assert header["results"][0]["err"]["code"] == "ETO" and payloads == [b""]
    fake_manager.nothing(0.1)


def test_results_are_batched_up_to_the_threshold(fake_manager, closing):
    gate = threading.Event()

    def handler(job):
        if job.args == "hold":
            gate.wait(WAIT)
        return job.args

    start_worker(fake_manager, closing, handler, slots=10, threads=10, answer_threshold=3, answer_delay=5.0)
    rid, _ = offer(fake_manager)
    fake_manager.send(rid, "JOBS", *jobs_message([(1, 1, "hold", {})] + [(i, 1, i, {}) for i in range(2, 5)]))
    # Three quick results fill one batch while "hold" still runs.
    _, header, payloads = fake_manager.expect("RESULT")
    assert sorted(e["id"] for e in header["results"]) == [2, 3, 4]
    fake_manager.send(rid, "JOBS", *jobs_message([(5, 1, 5, {})]))
    fake_manager.nothing(0.15)  # one result, below the threshold, "hold" still running
    gate.set()  # the worker goes idle: everything pending leaves
    _, header, _ = fake_manager.expect("RESULT")
    assert sorted(e["id"] for e in header["results"]) == [1, 5]


def test_a_batch_waits_at_most_answer_delay(fake_manager, closing):
    gate = threading.Event()
    start_worker(
        fake_manager, closing, lambda job: gate.wait(WAIT) if job.args == "hold" else job.args,
        answer_threshold=100, answer_delay=0.05,
    )
    rid, _ = offer(fake_manager)
    fake_manager.send(rid, "JOBS", *jobs_message([(1, 1, "hold", {}), (2, 1, "quick", {})]))
    began = time.monotonic()
    _, header, _ = fake_manager.expect("RESULT")
    assert [e["id"] for e in header["results"]] == [2]
    assert time.monotonic() - began < 2.0
    gate.set()


def test_peers_heartbeat_when_idle(fake_manager, closing):
    closing(Client(fake_manager.endpoint))
    rid = fake_manager.welcome("fake.c", heartbeat_ms=30, liveness=100)
    stamps = []
    for _ in range(3):
        got_rid, command, _, _ = fake_manager.recv(skip_heartbeats=False)
        assert (got_rid, command) == (rid, "HEARTBEAT")
        stamps.append(time.monotonic())
    assert stamps[-1] - stamps[0] < 1.0


def test_silent_manager_is_left_and_rejoined(fake_manager, closing):
    worker = start_worker(fake_manager, closing, lambda job: 1)
    rid, _ = offer(fake_manager, heartbeat_ms=30, liveness=3)
    # The fake sends nothing: after 90 ms the worker gives up and registers anew.
    rid2, _ = offer(fake_manager, peer_id="fake.2")
    assert rid2 != rid  # a new socket, so a new routing id
    wait_for(lambda: worker.id == "fake.2", "the new session's id")


def test_enohello_makes_the_peer_register_again_at_once(fake_manager, closing):
    client = closing(Client(fake_manager.endpoint, con_retry_time=30.0))
    rid = fake_manager.welcome("fake.c")
    assert client.wait_connected(WAIT)
    fake_manager.send(rid, "ERROR", {"code": "ENOHELLO", "message": "unknown peer", "class": "request"})
    fake_manager.welcome("fake.c2")  # well before the 30 s retry time
    wait_for(lambda: client.id == "fake.c2", "the client to register again")


def test_manager_bye_makes_the_peer_reconnect(fake_manager, closing):
    client = closing(Client(fake_manager.endpoint, con_retry_time=0.05))
    rid = fake_manager.welcome("fake.c")
    assert client.wait_connected(WAIT)
    fake_manager.send(rid, "BYE", {"reason": "shutdown"})
    fake_manager.welcome("fake.c2")
    wait_for(lambda: client.id == "fake.c2", "the client to register again")


def test_client_push_frames_and_results(fake_manager, closing):
    client = closing(Client(fake_manager.endpoint))
    rid = fake_manager.welcome("fake.c")
    future = client.submit(
        [{"a": 1}, Job(b"\x00\xff", key="k"), Job("s", service="svc")],
        priority=1.5, run_timeout=0.5, assign_timeout=2,
    )
    _, header, payloads = fake_manager.expect("PUSH")
    assert header == {
        "req": future.request_id, "priority": 1.5, "assigntimeout": 2000, "runTimeout": 500,
        "jobs": [{}, {"key": "k", "raw": True}, {"service": "svc"}],
    }
    assert payloads == [b'{"a":1}', b"\x00\xff", b'"s"']
    fake_manager.send(rid, "ACCEPTED", {"req": future.request_id, "ids": [11, 12, 13]})
    fake_manager.send(
        rid, "RESULT",
        {"results": [{"id": 13, "err": {"code": "EBOOM", "message": "boom"}}, {"id": 11, "err": None}]},
        [b"", b"[1,2]"],
    )
    fake_manager.send(rid, "RESULT", {"results": [{"id": 12, "err": None, "raw": True}]}, [b"\x01"])
    results = future.result(WAIT)
    assert [r.data for r in results] == [[1, 2], b"\x01", None]
    assert results[2].err == JobError("EBOOM", "boom")


def test_error_for_a_push_fails_its_jobs(fake_manager, closing):
    client = closing(Client(fake_manager.endpoint))
    rid = fake_manager.welcome("fake.c")
    future = client.submit([1, 2])
    _, header, _ = fake_manager.expect("PUSH")
    fake_manager.send(
        rid, "ERROR",
        {"code": ETOOBIG, "message": "too big", "class": "request", "command": "PUSH", "req": header["req"]},
    )
    assert [r.err.code for r in future.result(WAIT)] == [ETOOBIG, ETOOBIG]


def test_client_timeout_aborts_accepted_jobs(fake_manager, closing):
    client = closing(Client(fake_manager.endpoint))
    rid = fake_manager.welcome("fake.c")
    future = client.submit(["x"], timeout=0.05)
    _, header, _ = fake_manager.expect("PUSH")
    fake_manager.send(rid, "ACCEPTED", {"req": header["req"], "ids": [77]})
    _, header, _ = fake_manager.expect("ABORT")
    assert header == {"ids": [77]}
    assert future.result(WAIT)[0].err.code == "ECSTO"


def test_abort_before_accepted_aborts_when_the_ids_arrive(fake_manager, closing):
    client = closing(Client(fake_manager.endpoint))
    rid = fake_manager.welcome("fake.c")
    future = client.submit(["x", "y"])
    _, header, _ = fake_manager.expect("PUSH")
    future.abort()
    assert [r.err.code for r in future.result(WAIT)] == [EABORTED, EABORTED]
    fake_manager.send(rid, "ACCEPTED", {"req": header["req"], "ids": [1, 2]})
    _, header, _ = fake_manager.expect("ABORT")
    assert header == {"ids": [1, 2]}


def test_lost_session_fails_jobs_without_keep_state(fake_manager, closing):
    client = closing(Client(fake_manager.endpoint, con_retry_time=0.05))
    fake_manager.welcome("fake.c", heartbeat_ms=30, liveness=3)
    future = client.submit("x")
    fake_manager.expect("PUSH")  # then silence: the client gives the session up
    assert future.result(WAIT).err.code == ECONNLOST


def test_lost_session_pushes_again_with_keep_state(fake_manager, closing):
    client = closing(Client(fake_manager.endpoint, keep_state=True, con_retry_time=0.05))
    fake_manager.welcome("fake.c", heartbeat_ms=30, liveness=3)
    future = client.submit(["x", "y"])
    _, first, _ = fake_manager.expect("PUSH")
    rid = fake_manager.welcome("fake.c2")  # the client gave up on the silent session
    _, again, payloads = fake_manager.expect("PUSH")
    assert again == first and payloads == [b'"x"', b'"y"']
    fake_manager.send(rid, "ACCEPTED", {"req": again["req"], "ids": [1, 2]})
    fake_manager.send(rid, "RESULT", {"results": [{"id": 1, "err": None}, {"id": 2, "err": None}]}, [b"1", b"2"])
    assert [r.value() for r in future.result(WAIT)] == [1, 2]


def test_malformed_messages_from_the_manager_are_dropped(fake_manager, closing):
    client = closing(Client(fake_manager.endpoint))
    rid = fake_manager.welcome("fake.c")
    fake_manager.router.send_multipart([rid, b"", b"PRO1", b"RESULT", b"{not json"])
    fake_manager.router.send_multipart([rid, b"", b"PRO9", b"RESULT", b""])
    fake_manager.router.send_multipart([rid, b"x"])
    fake_manager.send(rid, "RESULT", {"results": [{"id": 1}]})  # a payload frame missing
    fake_manager.send(rid, "DANCE", {})
    future = client.submit("still works")
    _, header, _ = fake_manager.expect("PUSH")
    fake_manager.send(rid, "ACCEPTED", {"req": header["req"], "ids": [3]})
    fake_manager.send(rid, "RESULT", {"results": [{"id": 3, "err": None}]}, [b'"ok"'])
    assert future.result(WAIT).value() == "ok"


def test_protocol_helpers():
    assert proto.encode("HELLO") == [b"", b"PRO1", b"HELLO", b""]
    assert proto.encode("ABORT", {"ids": [1]}) == [b"", b"PRO1", b"ABORT", b'{"ids":[1]}']
    msg = proto.decode([b"", b"PRO1", b"RESULT", b'{"results":[{"id":1}]}', b"7"])
    assert (msg.command, proto.entries(msg, "results"), msg.payloads) == ("RESULT", [{"id": 1}], [b"7"])
    for frames in ([b"", b"PRO1", b"X"], [b"x", b"PRO1", b"X", b""], [b"", b"PRO2", b"X", b""], [b"", b"PRO1", b"X", b"[1]"]):
        with pytest.raises(ValueError):
            proto.decode(frames)
    assert proto.pub_endpoint("tcp://127.0.0.1:1917", 1918) == "tcp://127.0.0.1:1918"
    assert proto.pub_endpoint("tcp://[::1]:1917", 5) == "tcp://[::1]:5"
    assert proto.pub_endpoint("ipc:///tmp/x", 5) is None
    assert proto.seconds_to_ms(0.5, "t") == 500 and proto.seconds_to_ms(0.0001, "t") == 1
    assert proto.priority_key(1) == "1" and proto.priority_key(2.5) == "2.5" and proto.priority_key(3.0) == "3"
    assert proto.dump_payload({"é": 1}) == ('{"é":1}'.encode(), False)
    assert proto.load_payload(b"", False) is None and proto.load_payload(b"", True) == b""


# --- system messages and status, frame by frame -------------------------------------


def test_system_message_send_and_sysdone(fake_manager, closing):
    client = closing(Client(fake_manager.endpoint))
    rid = fake_manager.welcome("fake.c")
    future = client.system_message_future({"x": 1}, to="fake.w")
    _, header, payloads = fake_manager.expect("SYSMSG")
    assert header == {"to": "fake.w", "req": future.request_id} and payloads == [b'{"x":1}']
    fake_manager.send(rid, "SYSDONE", {"req": future.request_id, "sentTo": 1, "receivedBy": 0})
    assert future.result(WAIT) == (1, 0)
    broadcast = client.system_message_future("all")
    _, header, _ = fake_manager.expect("SYSMSG")
    assert header == {"to": None, "req": broadcast.request_id}
    fake_manager.send(rid, "ERROR", {"code": "ENOPEER", "message": "no", "command": "SYSMSG", "req": header["req"]})
    with pytest.raises(ProletariatError) as info:
        broadcast.result(WAIT)
    assert info.value.code == "ENOPEER"


def test_system_message_in_flight_fails_when_the_session_is_lost(fake_manager, closing):
    client = closing(Client(fake_manager.endpoint, con_retry_time=0.05))
    fake_manager.welcome("fake.c", heartbeat_ms=30, liveness=3)
    future = client.system_message_future("x")
    fake_manager.expect("SYSMSG")  # then silence
    with pytest.raises(ProletariatError) as info:
        future.result(WAIT)
    assert info.value.code == ECONNLOST


def test_status_requests_match_replies_by_req(fake_manager, closing):
    client = closing(Client(fake_manager.endpoint))
    rid = fake_manager.welcome("fake.c")
    results = {}
    threads = [
        threading.Thread(target=lambda: results.update(status=client.status(timeout=WAIT))),
        threading.Thread(target=lambda: results.update(mine=client.my_status(timeout=WAIT))),
    ]
    for t in threads:
        t.start()
    requests = {}
    for _ in range(2):
        _, command, header, _ = fake_manager.recv()
        requests[command] = header["req"]
    fake_manager.send(rid, "MYSTATUS", {"req": requests["MYSTATUS"], "id": "fake.c", "role": "peer"})
    fake_manager.send(rid, "STATUS", {"req": requests["STATUS"], "queued": 3})
    for t in threads:
        t.join(WAIT)
    assert results == {"status": {"req": requests["STATUS"], "queued": 3},
                       "mine": {"req": requests["MYSTATUS"], "id": "fake.c", "role": "peer"}}


def test_system_messages_arrive_over_the_pub_channel_and_are_acked(fake_manager, closing):
    import zmq

    pub = fake_manager.ctx.socket(zmq.XPUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub_port = pub.bind_to_random_port("tcp://127.0.0.1")
    try:
        worker = start_worker(fake_manager, closing, lambda job: None)
        got = []
        release = threading.Event()

        @worker.on_sysmsg
        def handler(content, sender):
            got.append((content, sender))
            assert release.wait(WAIT)
        rid, _, _ = fake_manager.expect("HELLO")
        fake_manager.send(rid, "WELCOME", {"id": "fake.1", "protocol": 1, "heartbeat_ms": 1000, "liveness": 5,
                                           "pub_port": pub_port})
        assert pub.poll(WAIT * 1000), "no subscription on the system-message channel"
        assert pub.recv() == b"\x01fake.1"  # subscribed to exactly its own id
        fake_manager.expect("OFFER")
        # For a peer whose id merely starts with ours: must be ignored.
        pub.send_multipart([b"fake.12", b"PRO1", b"SYSMSG", b'{"msg":1,"from":"MANAGER"}', b'"not yours"'])
        pub.send_multipart([b"fake.1", b"PRO1", b"SYSMSG", b'{"msg":2,"from":"fake.9"}', b'{"hi":true}'])
        wait_for(lambda: got == [({"hi": True}, "fake.9")], "the system-message handler")
        fake_manager.nothing(0.05)  # no ack while the handler runs, none for "fake.12"
        release.set()
        _, header, _ = fake_manager.expect("SYSACK")  # acknowledged once the handler returned
        assert header == {"msg": 2}
    finally:
        pub.close(linger=0)
