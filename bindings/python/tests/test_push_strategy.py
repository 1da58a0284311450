"""The one push strategy of every binding (protocol/protocol.json "peer_strategy", as the
C++ and Node.js clients do it), against a fake manager that holds back its ACCEPTED:

- a PUSH carries at most MAX_JOBS_PER_PUSH (4,096) jobs, or fewer when the WELCOME's
  max_frames asks for it;
- at most MAX_PUSHES_IN_FLIGHT (8) pushes are sent whose ACCEPTED has not come back:
  each ACCEPTED lets exactly one more go, so a huge request is fed to the manager as
  it accepts rather than piled into its socket;
- every job still arrives, once, in order, and every result reaches its request;
- the exact header accounting stays within the spec's estimate (ENTRY_HEADER_BYTES per
  entry, MESSAGE_HEADER_BYTES for the rest).

A SYSMSG round trip serves as the barrier that shows no further PUSH is coming: the
client sends it after any PUSH it could send at that point.
"""

from __future__ import annotations

import json
import time
from typing import Any, Dict, List, Tuple

import pytest

from conftest import WAIT, FakeManager
from proletariat import Client
from proletariat import _spec

JOBS_PER_PUSH = _spec.MAX_JOBS_PER_PUSH
IN_FLIGHT = _spec.MAX_PUSHES_IN_FLIGHT


class Pushes:
    """What the fake manager saw: every PUSH (raw header and payloads), and the ids it
    handed out, numbered across pushes in arrival order."""

    def __init__(self, fm: FakeManager, rid: bytes, client: Client) -> None:
        self.fm, self.rid, self.client = fm, rid, client
        self.received: List[Tuple[Dict[str, Any], List[bytes]]] = []
        self.accepted = 0  # pushes answered with ACCEPTED, oldest first
        self.next_id = 1
        self.ids: List[List[int]] = []

    def _recv(self) -> Tuple[str, bytes, List[bytes]]:
        """(command, raw header, payloads) of the next message other than HEARTBEAT."""
        deadline = time.monotonic() + WAIT
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self.fm.router.poll(int(left * 1000) + 1):
                pytest.fail(f"fake manager: nothing within {WAIT} s after {len(self.received)} pushes")
            frames = self.fm.router.recv_multipart()
            assert frames[0] == self.rid and frames[1] == b"" and frames[2] == b"PRO1", frames[:4]
            if frames[3] != b"HEARTBEAT":
                return frames[3].decode(), frames[4], frames[5:]

    def expect_push(self, max_jobs: int) -> None:
        command, raw, payloads = self._recv()
        assert command == "PUSH", f"expected PUSH #{len(self.received) + 1}, got {command} {raw[:200]!r}"
        header = json.loads(raw)
        n = len(header["jobs"])
        assert n == len(payloads) and 0 < n <= max_jobs, f"a push of {n} jobs ({len(payloads)} payloads)"
        # Exact accounting never takes more than the spec's estimate allows.
        assert len(raw) <= _spec.MESSAGE_HEADER_BYTES + _spec.ENTRY_HEADER_BYTES * n
        self.received.append((header, payloads))
        outstanding = len(self.received) - self.accepted
        assert outstanding <= IN_FLIGHT, f"{outstanding} pushes await ACCEPTED, at most {IN_FLIGHT} may"

    def barrier(self) -> None:
        """A SYSMSG round trip: fails if a PUSH comes first."""
        future = self.client.system_message_future("barrier")
        command, raw, _ = self._recv()
        assert command == "SYSMSG", f"a {command} came while {len(self.received) - self.accepted} pushes await " \
                                    f"ACCEPTED: {raw[:200]!r}"
        self.fm.send(self.rid, "SYSDONE", {"req": json.loads(raw)["req"], "sentTo": 0, "receivedBy": 0})
        assert future.result(WAIT) == (0, 0)

    def accept_oldest(self) -> None:
        header, payloads = self.received[self.accepted]
        ids = list(range(self.next_id, self.next_id + len(payloads)))
        self.next_id += len(ids)
        self.ids.append(ids)
        self.fm.send(self.rid, "ACCEPTED", {"req": header["req"], "ids": ids})
        self.accepted += 1

    def answer_all(self) -> None:
        """A RESULT per push, echoing each job's argument."""
        for (_, payloads), ids in zip(self.received, self.ids):
            self.fm.send(self.rid, "RESULT", {"results": [{"id": i} for i in ids]}, payloads)

    def feed(self, total_pushes: int, max_jobs: int) -> None:
        """Takes the first window of pushes, then accepts one at a time: each ACCEPTED
        lets exactly one more push through, and never more than IN_FLIGHT wait."""
        for _ in range(min(IN_FLIGHT, total_pushes)):
            self.expect_push(max_jobs)
        self.barrier()
        assert len(self.received) == min(IN_FLIGHT, total_pushes)
        while self.accepted < total_pushes:
            self.accept_oldest()
            if len(self.received) < total_pushes:
                self.expect_push(max_jobs)
            self.barrier()  # ... and no second one
        assert len(self.received) == total_pushes


def test_pushes_hold_4096_jobs_and_at_most_8_await_acceptance(fake_manager, closing):
    client = closing(Client(fake_manager.endpoint, con_retry_time=0.05))
    rid = fake_manager.welcome("fake.c")
    first = client.submit(list(range(20_000)))
    second = client.submit(list(range(20_000, 40_000)))  # 10 pushes in all: more than the window

    pushes = Pushes(fake_manager, rid, client)
    pushes.feed(total_pushes=10, max_jobs=JOBS_PER_PUSH)
    sizes = [len(payloads) for _, payloads in pushes.received]
    assert sizes == [JOBS_PER_PUSH] * 4 + [20_000 - 4 * JOBS_PER_PUSH] + [JOBS_PER_PUSH] * 4 + [3616]
    assert [h["req"] for h, _ in pushes.received] == [first.request_id] * 5 + [second.request_id] * 5
    sent = [int(p) for _, payloads in pushes.received for p in payloads]
    assert sent == list(range(40_000)), "every job once, in order"

    pushes.answer_all()
    assert [r.value() for r in first.result(WAIT)] == list(range(20_000))
    assert [r.value() for r in second.result(WAIT)] == list(range(20_000, 40_000))
    assert client.pending == 0


def test_one_request_is_fed_to_the_manager_as_it_accepts(fake_manager, closing):
    """A single 20,000-job request under a manager whose max_frames allows 1,000 jobs
    per push: 20 pushes, never more than 8 of them unanswered."""
    client = closing(Client(fake_manager.endpoint, con_retry_time=0.05))
    rid, _, _ = fake_manager.expect("HELLO")
    fake_manager.send(rid, "WELCOME", {"id": "fake.c", "protocol": 1, "heartbeat_ms": 1000, "liveness": 5,
                                       "max_frames": 1000 + _spec.FIXED_FRAMES})
    future = client.submit([{"n": n} for n in range(20_000)])

    pushes = Pushes(fake_manager, rid, client)
    pushes.feed(total_pushes=20, max_jobs=1000)
    assert [len(payloads) for _, payloads in pushes.received] == [1000] * 20
    pushes.answer_all()
    assert [r.value() for r in future.result(WAIT)] == [{"n": n} for n in range(20_000)]


def test_an_etoobig_without_req_frees_the_oldest_push(fake_manager, closing):
    """The manager refuses an oversized PUSH before reading its header, so its ERROR
    names no req (PROTOCOL §10): it answers the oldest push, whose jobs fail, and the
    window slot it held is free again."""
    client = closing(Client(fake_manager.endpoint, con_retry_time=0.05))
    rid = fake_manager.welcome("fake.c")
    futures = [client.submit([i]) for i in range(IN_FLIGHT + 1)]  # one push each
    pushes = Pushes(fake_manager, rid, client)
    for _ in range(IN_FLIGHT):
        pushes.expect_push(1)
    pushes.barrier()
    fake_manager.send(rid, "ERROR", {"code": "ETOOBIG", "message": "too big", "class": "request", "command": "PUSH"})
    assert futures[0].result(WAIT)[0].err.code == "ETOOBIG"
    pushes.accepted += 1  # answered (refused): it no longer counts
    pushes.expect_push(1)  # the ninth request goes now
    assert pushes.received[-1][0]["req"] == futures[IN_FLIGHT].request_id
    pushes.barrier()
    for future in futures[1:]:
        assert not future.done()
