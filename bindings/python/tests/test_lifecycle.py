"""The job lifecycle (PROTOCOL §14) frame by frame, against a fake manager: push
options and their local checks, ENOTSUPPORTED, RESULT attempts, progress both ways,
and the dead-letter and group-limit calls."""

from __future__ import annotations

import concurrent.futures
import datetime
import json

import pytest

from conftest import WAIT, wait_for
from proletariat import (
    EBADFIELD,
    ECONNLOST,
    EDENIED,
    ENOTSUPPORTED,
    Client,
    Job,
    ProletariatError,
    Result,
    Retry,
    Worker,
)


def lifecycle_client(fake_manager, closing, **welcome):
    """A client registered with a manager that announced the lifecycle (unless told)."""
    welcome.setdefault("lifecycle", True)
    client = closing(Client(fake_manager.endpoint, con_retry_time=0.05))
    rid = fake_manager.welcome("fake.c", **welcome)
    assert client.wait_connected(WAIT)
    return client, rid


def offered_worker(fake_manager, closing, handler, lifecycle=True, **options):
    options.setdefault("con_retry_time", 0.05)
    worker = closing(Worker(fake_manager.endpoint, handler=handler, **options))
    worker.start()
    rid = fake_manager.welcome("fake.w", **({"lifecycle": True} if lifecycle else {}))
    _, header, _ = fake_manager.expect("OFFER")
    fake_manager.send(rid, "OFFERED", {"slots": header["slots"], "ranges": []})
    assert worker.wait_ready(WAIT)
    return worker, rid


def send_job(fake_manager, rid, job_id, args, attempt=1):
    fake_manager.send(rid, "JOBS", {"jobs": [{"id": job_id, "attempt": attempt, "priority": 0, "client": "fake.c"}]},
                      [json.dumps(args).encode()])


# --- push options --------------------------------------------------------------------


def test_request_options_go_in_the_header_and_a_jobs_own_in_its_entry(fake_manager, closing):
    client, _ = lifecycle_client(fake_manager, closing)
    at = datetime.datetime(2030, 1, 1, 0, 0, 0, 250_000, tzinfo=datetime.timezone.utc)
    client.submit(
        [Job(1), Job(2, group="tenant-7"), Job(3, group="vip", at=at), Job(4, delay=0.5, retry=2), Job(5, delay=2)],
        delay=datetime.timedelta(seconds=2), group="tenant-7", retry={"max": 1, "codes": ["EBUSY"]},
    )
    _, header, payloads = fake_manager.expect("PUSH")
    assert {k: header[k] for k in ("delay", "group", "retry")} == {
        "delay": 2000, "group": "tenant-7", "retry": {"max": 1, "codes": ["EBUSY"]}}
    assert "at" not in header
    # Only what differs from the header; a job's own time replaces both of the header's.
    assert header["jobs"] == [{}, {}, {"at": 1893456000250, "group": "vip"}, {"delay": 500, "retry": {"max": 2}}, {}]
    assert payloads == [b"1", b"2", b"3", b"4", b"5"]


def test_at_takes_epoch_seconds_and_retry_fields_travel_in_ms(fake_manager, closing):
    client, _ = lifecycle_client(fake_manager, closing)
    client.submit(7, at=1893456000.123, retry=Retry(4, codes="ETO", initial=0.25, factor=1.5, max_delay=10,
                                                     jitter=0))
    _, header, _ = fake_manager.expect("PUSH")
    assert header["at"] == 1893456000123 and "delay" not in header
    assert header["retry"] == {"max": 4, "codes": ["ETO"], "initial": 250, "factor": 1.5, "maxDelay": 10000,
                               "jitter": 0}


def test_a_push_without_lifecycle_options_has_none_of_their_fields(fake_manager, closing):
    client, _ = lifecycle_client(fake_manager, closing)
    client.submit([1, Job(2, key="k")])
    _, header, _ = fake_manager.expect("PUSH")
    assert set(header) == {"req", "priority", "jobs"} and header["jobs"] == [{}, {"key": "k"}]


@pytest.mark.parametrize("options", [
    {"delay": 1, "at": 2_000_000_000},
    {"delay": -1},
    {"delay": float("nan")},
    {"delay": True},
    {"at": -5},
    {"at": "tomorrow"},
    {"group": ""},
    {"group": 7},
    {"group": "g" * 257},
    {"retry": Retry},
    {"retry": "3"},
    {"retry": -1},
    {"retry": 101},
    {"retry": {"initial": 1}},
    {"retry": {"max": 1, "maxDelay": 100}},
    {"retry": {"max": 1, "factor": 0.5}},
    {"retry": {"max": 1, "jitter": 1.5}},
    {"retry": {"max": 1, "codes": [""]}},
    {"retry": {"max": 1, "codes": 5}},
    {"retry": {"max": 1, "initial": -1}},
], ids=repr)
def test_bad_lifecycle_options_raise_at_the_call_and_push_nothing(fake_manager, closing, options):
    client, _ = lifecycle_client(fake_manager, closing)
    with pytest.raises(ProletariatError) as info:
        client.submit(1, **options)
    assert info.value.code == EBADFIELD
    with pytest.raises(ProletariatError) as info:
        Job(1, **options)
    assert info.value.code == EBADFIELD
    client.submit("next")
    _, header, payloads = fake_manager.expect("PUSH")  # the first push the manager sees
    assert payloads == [b'"next"'] and "delay" not in header and "group" not in header


def test_lifecycle_jobs_fail_with_enotsupported_when_the_manager_did_not_announce_it(fake_manager, closing):
    client, rid = lifecycle_client(fake_manager, closing, lifecycle=False)
    whole = client.submit([1, 2], group="g")
    assert [r.err.code for r in whole.result(WAIT)] == [ENOTSUPPORTED, ENOTSUPPORTED]
    mixed = client.submit([Job(3), Job(4, delay=1), Job(5)])
    _, header, payloads = fake_manager.expect("PUSH")  # the request above was never pushed
    assert payloads == [b"3", b"5"] and header["jobs"] == [{}, {}] and "delay" not in header
    fake_manager.send(rid, "ACCEPTED", {"req": header["req"], "ids": [30, 50]})
    fake_manager.send(rid, "RESULT", {"results": [{"id": 30}, {"id": 50}]}, [b'"three"', b'"five"'])
    results = mixed.result(WAIT)
    assert results[0] == Result(None, "three") and results[2] == Result(None, "five")
    assert results[1].err.code == ENOTSUPPORTED and results[1].err.error_class == "request"


def test_a_result_reports_its_attempts(fake_manager, closing):
    client, rid = lifecycle_client(fake_manager, closing)
    future = client.submit([1, 2], retry=3)
    _, header, _ = fake_manager.expect("PUSH")
    fake_manager.send(rid, "ACCEPTED", {"req": header["req"], "ids": [1, 2]})
    fake_manager.send(rid, "RESULT", {"results": [{"id": 1, "attempts": 3},
                                                  {"id": 2, "err": {"code": "EBUSY", "message": "busy"},
                                                   "attempts": 4}]}, [b'"ok"', b""])
    ok, failed = future.result(WAIT)
    assert ok == Result(None, "ok", 3)
    assert failed.err.code == "EBUSY" and failed.attempts == 4
    client.submit(3)
    _, header, _ = fake_manager.expect("PUSH")
    fake_manager.send(rid, "ACCEPTED", {"req": header["req"], "ids": [3]})
    fake_manager.send(rid, "RESULT", {"results": [{"id": 3}]}, [b"3"])
    wait_for(lambda: client.pending == 0, "the plain result")


# --- progress, client side -------------------------------------------------------------


def test_progress_reaches_the_callback_in_order_and_before_the_result(fake_manager, closing):
    client, rid = lifecycle_client(fake_manager, closing)
    handed = []
    queued_early = []

    def on_progress(index, data):
        handed.append((index, data))
        if data == "last":
            # The result is in once the I/O thread counted it; it must not be in the
            # stream before this callback returned.
            wait_for(lambda: client.pending == 0, "the result, on the I/O thread")
            queued_early.append(not stream._queue.empty())

    stream = client.work_individual([Job(1), Job(2)], progress=on_progress)
    _, header, _ = fake_manager.expect("PUSH")
    fake_manager.send(rid, "ACCEPTED", {"req": header["req"], "ids": [11, 12]})
    fake_manager.send(rid, "PROGRESS", {"progress": [{"id": 12}, {"id": 11, "raw": True}, {"id": 404}]},
                      [b'{"at":1}', b"\x00\x01", b'"nobody"'])
    fake_manager.send(rid, "PROGRESS", {"progress": [{"id": 12}]}, [b'"last"'])
    fake_manager.send(rid, "RESULT", {"results": [{"id": 12}, {"id": 11}]}, [b'"b"', b'"a"'])
    assert sorted(stream) == [(0, Result(None, "a")), (1, Result(None, "b"))]
    assert handed == [(1, {"at": 1}), (0, b"\x00\x01"), (1, "last")]
    assert queued_early == [False]


def test_progress_after_the_result_bad_progress_and_progress_without_a_callback_are_dropped(fake_manager, closing):
    client, rid = lifecycle_client(fake_manager, closing)
    handed = []
    stream = client.work_individual(["x"], progress=lambda index, data: handed.append(data))
    plain = client.submit("y")
    _, first, _ = fake_manager.expect("PUSH")
    _, second, _ = fake_manager.expect("PUSH")
    fake_manager.send(rid, "ACCEPTED", {"req": first["req"], "ids": [1]})
    fake_manager.send(rid, "ACCEPTED", {"req": second["req"], "ids": [2]})
    fake_manager.send(rid, "PROGRESS", {"progress": [{"id": 1}, {"id": 1}]}, [b"{not json", b"1"])
    fake_manager.send(rid, "PROGRESS", {"progress": [{"id": 1}]}, [])  # malformed: a payload missing
    fake_manager.send(rid, "PROGRESS", {"progress": [{"id": 2}]}, [b'"unheard"'])
    fake_manager.send(rid, "RESULT", {"results": [{"id": 1}]}, [b'"done"'])
    fake_manager.send(rid, "PROGRESS", {"progress": [{"id": 1}]}, [b'"after"'])
    fake_manager.send(rid, "RESULT", {"results": [{"id": 2}]}, [b'"y"'])
    assert plain.result(WAIT) == Result(None, "y")  # every message above was handled
    assert list(stream) == [(0, Result(None, "done"))]
    assert handed == [1]


def test_a_progress_callback_must_be_callable(fake_manager, closing):
    client, _ = lifecycle_client(fake_manager, closing)
    with pytest.raises(ProletariatError) as info:
        client.work_individual([1], progress="print")
    assert info.value.code == EBADFIELD


# --- progress, worker side -------------------------------------------------------------


def test_worker_progress_goes_before_the_result_and_is_a_no_op_after_it(fake_manager, closing):
    after = []

    def handler(job):
        assert job.progress({"step": 1})
        assert job.progress(b"\x07")
        job.reply("done")
        after.append(job.progress("late"))

    # A batch of results waits for a second one: progress must still come first.
    _, rid = offered_worker(fake_manager, closing, handler, answer_threshold=5, answer_delay=0.05)
    send_job(fake_manager, rid, 9, None, attempt=2)
    _, header, payloads = fake_manager.expect("PROGRESS")
    entries, frames = list(header["progress"]), list(payloads)
    while len(entries) < 2:
        _, header, payloads = fake_manager.expect("PROGRESS")
        entries += header["progress"]
        frames += payloads
    assert entries == [{"id": 9, "attempt": 2}, {"id": 9, "attempt": 2, "raw": True}]
    assert frames == [b'{"step":1}', b"\x07"]
    _, header, payloads = fake_manager.expect("RESULT")
    assert header == {"results": [{"id": 9, "attempt": 2, "err": None}]} and payloads == [b'"done"']
    assert after == [False]


def test_worker_progress_is_split_to_the_managers_limits_and_a_report_too_big_is_dropped(fake_manager, closing):
    def handler(job):
        for value in ("a", "x" * 200, "b", "c"):
            job.progress(value)
        return "r"

    worker = closing(Worker(fake_manager.endpoint, handler=handler, con_retry_time=0.05))
    worker.start()
    # One payload frame per message, and no message above 150 bytes.
    rid = fake_manager.welcome("fake.w", lifecycle=True, max_frames=5, max_message_bytes=150)
    fake_manager.expect("OFFER")
    fake_manager.send(rid, "OFFERED", {"slots": 100, "ranges": []})
    send_job(fake_manager, rid, 8, None)
    got = []
    for _ in range(3):
        _, header, payloads = fake_manager.expect("PROGRESS")
        assert header == {"progress": [{"id": 8, "attempt": 1}]}
        got += payloads
    assert got == [b'"a"', b'"b"', b'"c"']
    _, header, _ = fake_manager.expect("RESULT")
    assert header["results"][0]["id"] == 8


def test_worker_progress_is_a_no_op_after_an_abort(fake_manager, closing):
    jobs = {}

    def handler(job):
        jobs[job.id] = job
        if job.id == 1:
            job.defer()
            return None
        return "second"

    _, rid = offered_worker(fake_manager, closing, handler)
    send_job(fake_manager, rid, 1, None)
    wait_for(lambda: 1 in jobs, "job 1 on its handler")
    fake_manager.send(rid, "ABORT", {"jobs": [{"id": 1, "attempt": 1}]})
    assert jobs[1].cancelled.wait(WAIT)
    assert jobs[1].progress("too late") is False
    send_job(fake_manager, rid, 2, None)
    _, header, _ = fake_manager.expect("RESULT")  # no PROGRESS before it
    assert header["results"][0]["id"] == 2


def test_worker_progress_is_not_sent_to_a_manager_without_the_lifecycle(fake_manager, closing):
    def handler(job):
        job.progress(1)
        return "r"

    _, rid = offered_worker(fake_manager, closing, handler, lifecycle=False)
    send_job(fake_manager, rid, 3, None)
    _, header, _ = fake_manager.expect("RESULT")  # a PROGRESS would have come first
    assert header["results"][0]["id"] == 3


def test_worker_progress_that_is_not_json_raises_ebadfield(fake_manager, closing):
    def handler(job):
        job.progress(object())

    _, rid = offered_worker(fake_manager, closing, handler)
    send_job(fake_manager, rid, 4, None)
    _, header, _ = fake_manager.expect("RESULT")
    assert header["results"][0]["err"]["code"] == EBADFIELD


# --- dead letters and group limits ------------------------------------------------------


def in_thread(call):
    pool = concurrent.futures.ThreadPoolExecutor(1)
    future = pool.submit(call)
    pool.shutdown(wait=False)
    return future


def test_dead_letter_calls_send_their_requests_and_return_the_replies(fake_manager, closing):
    client, rid = lifecycle_client(fake_manager, closing)
    cases = [
        (lambda: client.dead_letters(), {"op": "list"}),
        (lambda: client.dead_letters(limit=5), {"op": "list", "limit": 5}),
        (lambda: client.show_dead_letters([4, 7]), {"op": "show", "ids": [4, 7]}),
        (lambda: client.requeue_dead_letters([4]), {"op": "requeue", "ids": [4]}),
        (lambda: client.requeue_dead_letters(all=True), {"op": "requeue", "all": True}),
        (lambda: client.purge_dead_letters(all=True), {"op": "purge", "all": True}),
    ]
    for call, want in cases:
        future = in_thread(call)
        _, header, payloads = fake_manager.expect("DEAD")
        assert payloads == []
        req = header.pop("req")
        assert header == want
        reply = {"req": req, "op": want["op"], "total": 3, "letters": [], "purged": 1}
        fake_manager.send(rid, "DEADLETTERS", reply)
        assert future.result(WAIT) == reply


def test_show_decodes_each_letters_payload(fake_manager, closing):
    client, rid = lifecycle_client(fake_manager, closing)
    future = in_thread(lambda: client.show_dead_letters([1, 2, 3]))
    _, header, _ = fake_manager.expect("DEAD")
    letter = {"job": 10, "priority": 0, "err": {"code": "EBUSY", "message": "m"}, "attempts": 3, "since": 5}
    fake_manager.send(rid, "DEADLETTERS", {"req": header["req"], "op": "show", "total": 3, "letters": [
        dict(letter, id=1, bytes=7), dict(letter, id=2, raw=True, bytes=2), dict(letter, id=3, bytes=3)]},
        [b'{"n":1}', b"\xff\x00", b"{x]"])
    reply = future.result(WAIT)
    assert [(l["id"], l["payload"]) for l in reply["letters"]] == [(1, {"n": 1}), (2, b"\xff\x00"), (3, b"{x]")]
    assert reply["letters"][0]["err"] == {"code": "EBUSY", "message": "m"}


def test_group_limit_calls_send_what_was_given(fake_manager, closing):
    client, rid = lifecycle_client(fake_manager, closing)
    cases = [
        (lambda: client.group_limits(), {"op": "list"}),
        (lambda: client.set_group_limits("t", max_running=1), {"op": "set", "group": "t", "maxRunning": 1}),
        (lambda: client.set_group_limits("t", rate=0.5), {"op": "set", "group": "t", "rate": 0.5}),
        (lambda: client.set_group_limits("t", None, None), {"op": "set", "group": "t", "maxRunning": None,
                                                            "rate": None}),
        (lambda: client.clear_group_limits("t"), {"op": "clear", "group": "t"}),
    ]
    for call, want in cases:
        future = in_thread(call)
        _, header, _ = fake_manager.expect("GROUPLIMITS")
        req = header.pop("req")
        assert header == want
        reply = {"req": req, "defaults": {"maxRunning": None, "rate": None},
                 "groups": [{"group": "t", "running": 0, "waiting": 2, "maxRunning": 1}]}
        fake_manager.send(rid, "GROUPLIMITS", reply)
        assert future.result(WAIT) == reply


def test_replies_find_their_calls_by_req_and_an_error_fails_only_its_call(fake_manager, closing):
    client, rid = lifecycle_client(fake_manager, closing)
    listing = in_thread(lambda: client.dead_letters())
    _, first, _ = fake_manager.expect("DEAD")
    limits = in_thread(lambda: client.set_group_limits("g", max_running=2))
    _, second, _ = fake_manager.expect("GROUPLIMITS")
    purge = in_thread(lambda: client.purge_dead_letters([1]))
    _, third, _ = fake_manager.expect("DEAD")
    fake_manager.send(rid, "ERROR", {"code": EDENIED, "message": "not an admin", "class": "request",
                                     "command": "GROUPLIMITS", "req": second["req"]})
    fake_manager.send(rid, "DEADLETTERS", {"req": third["req"], "op": "purge", "total": 0, "letters": [],
                                           "purged": 1})
    fake_manager.send(rid, "DEADLETTERS", {"req": first["req"], "op": "list", "total": 0, "letters": []})
    with pytest.raises(ProletariatError) as info:
        limits.result(WAIT)
    assert info.value.code == EDENIED
    assert purge.result(WAIT)["purged"] == 1
    assert listing.result(WAIT)["op"] == "list"


def test_a_lost_manager_fails_the_waiting_calls_with_econnlost(fake_manager, closing):
    client, rid = lifecycle_client(fake_manager, closing)
    waiting = in_thread(lambda: client.group_limits())
    fake_manager.expect("GROUPLIMITS")
    fake_manager.send(rid, "BYE", {"reason": "shutdown"})
    with pytest.raises(ProletariatError) as info:
        waiting.result(WAIT)
    assert info.value.code == ECONNLOST


def test_admin_calls_to_a_manager_without_the_lifecycle_raise_enotsupported_unsent(fake_manager, closing):
    client, _ = lifecycle_client(fake_manager, closing, lifecycle=False)
    for call in (lambda: client.dead_letters(), lambda: client.requeue_dead_letters(all=True),
                 lambda: client.group_limits(), lambda: client.clear_group_limits("g")):
        with pytest.raises(ProletariatError) as info:
            call()
        assert info.value.code == ENOTSUPPORTED
    client.submit("barrier")
    fake_manager.expect("PUSH")  # the first message after the WELCOME: nothing else was sent


@pytest.mark.parametrize("call", [
    lambda c: c.requeue_dead_letters(),
    lambda c: c.requeue_dead_letters([1], all=True),
    lambda c: c.purge_dead_letters(all="yes"),
    lambda c: c.show_dead_letters("4"),
    lambda c: c.show_dead_letters([-1]),
    lambda c: c.show_dead_letters([True]),
    lambda c: c.dead_letters(limit=-1),
    lambda c: c.set_group_limits("", max_running=1),
    lambda c: c.set_group_limits("g", max_running=1.5),
    lambda c: c.set_group_limits("g", rate=-1),
    lambda c: c.set_group_limits("g", rate=float("inf")),
    lambda c: c.clear_group_limits(None),
])
def test_bad_admin_arguments_raise_ebadfield_unsent(fake_manager, closing, call):
    client, _ = lifecycle_client(fake_manager, closing)
    with pytest.raises(ProletariatError) as info:
        call(client)
    assert info.value.code == EBADFIELD
    client.submit("barrier")
    fake_manager.expect("PUSH")


def test_a_call_made_before_registration_waits_for_the_session(fake_manager, closing):
    client = closing(Client(fake_manager.endpoint, con_retry_time=0.05))
    future = in_thread(lambda: client.group_limits())
    rid = fake_manager.welcome("fake.c", lifecycle=True)
    _, header, _ = fake_manager.expect("GROUPLIMITS")
    fake_manager.send(rid, "GROUPLIMITS", {"req": header["req"], "groups": []})
    assert future.result(WAIT)["groups"] == []


def test_a_retry_can_be_given_as_an_int_a_mapping_or_a_retry():
    assert Retry.of(2) == Retry(2)
    assert Retry.of({"max": 1, "max_delay": 2.5, "codes": ["EBUSY"]}).to_wire() == {
        "max": 1, "codes": ["EBUSY"], "maxDelay": 2500}
    assert Retry.of(None) is None
    assert Job(1, retry=1).retry == 1 and "retry=1" in repr(Job(1, retry=1))
