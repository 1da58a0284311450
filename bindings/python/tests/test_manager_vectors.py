"""The wire vectors of tests/vectors/manager_to_peer.json (repository root): what the
manager sends a peer, as the peer's DEALER receives it, and what the peer must make
of it (PROTOCOL §5, §8). Pure decoding: no socket is opened.

Each case goes through the binding's own receive path, two ways:

- ``proto.decode_from_manager``, the function the session's receive loop decodes every
  DEALER message with: an accepted case decodes to its command with the listed header
  fields; a malformed one raises ValueError (the loop logs it and drops the message);
- ``Session._receive`` itself, on a stand-in for its socket that hands out the case's
  frames: an accepted case reaches the owner (or registers the session, for WELCOME;
  ends it, for BYE); a malformed one is dropped with a warning, and a valid message
  after it is still delivered, so one bad message never leaves the peer broken.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Dict, List

import pytest
import zmq

from conftest import REPO
from proletariat import _protocol as proto
from proletariat import _session

VECTORS = REPO / "tests" / "vectors" / "manager_to_peer.json"
PROTOCOL_JSON = REPO / "protocol" / "protocol.json"
CASES: List[Dict[str, Any]] = json.loads(VECTORS.read_text(encoding="utf-8"))["cases"]
ACCEPTED = [c for c in CASES if "command" in c["expect"]]
MALFORMED = [c for c in CASES if c["expect"].get("malformed")]

#: Commands the manager sends (those with "peer_checks" in protocol/protocol.json)
#: that no accepted vector shows yet, and why that is not fixed here.
KNOWN_GAPS = {
    "MYSTATUS": "manager_to_peer.json has no MYSTATUS vector (PROTOCOL §8.2 defines the reply); "
    "add one there, then remove this entry",
}

#: The valid message sent after each malformed one.
FOLLOWER = [b"", b"PRO1", b"SYSDONE", b'{"req":4,"sentTo":1,"receivedBy":1}']


def frames_of(case: Dict[str, Any]) -> List[bytes]:
    return [bytes.fromhex(f["hex"]) if isinstance(f, dict) else f.encode("utf-8") for f in case["frames"]]


def case_id(case: Dict[str, Any]) -> str:
    return case["name"]


def same_json(a: Any, b: Any) -> bool:
    """Equal as JSON values (so 1 is not True, and 1 is not "1")."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


# --- the case list -----------------------------------------------------------------


def test_there_are_vectors_of_both_verdicts():
    assert CASES, f"no cases in {VECTORS}"
    assert ACCEPTED and MALFORMED
    assert len(ACCEPTED) + len(MALFORMED) == len(CASES), "every case expects a command or malformed"


def manager_commands() -> List[str]:
    commands = json.loads(PROTOCOL_JSON.read_text(encoding="utf-8"))["commands"]
    return [c["name"] for c in commands if "peer_checks" in c]


def test_every_command_the_manager_sends_has_an_accepted_vector():
    covered = {c["expect"]["command"] for c in ACCEPTED}
    missing = set(manager_commands()) - covered
    assert missing <= set(KNOWN_GAPS), f"commands the manager sends without a vector: {sorted(missing - set(KNOWN_GAPS))}"


@pytest.mark.parametrize("command", sorted(KNOWN_GAPS))
@pytest.mark.xfail(strict=True, reason="known gap in tests/vectors/manager_to_peer.json (see KNOWN_GAPS)")
def test_known_gap_has_a_vector(command):
    assert command in {c["expect"]["command"] for c in ACCEPTED}, KNOWN_GAPS[command]


# --- the decoder ---------------------------------------------------------------------


@pytest.mark.parametrize("case", ACCEPTED, ids=case_id)
def test_accepted_vector_decodes(case):
    expect = case["expect"]
    msg = proto.decode_from_manager(frames_of(case))
    assert msg.command == expect["command"]
    for name, value in expect.get("fields", {}).items():
        assert name in msg.header, f"{case['name']}: field {name!r} missing from {msg.header}"
        assert same_json(msg.header[name], value), f"{case['name']}: {name} is {msg.header[name]!r}, not {value!r}"
    assert msg.payloads == frames_of(case)[proto.FIXED_FRAMES:]


@pytest.mark.parametrize("case", MALFORMED, ids=case_id)
def test_malformed_vector_is_refused(case):
    with pytest.raises(ValueError):
        proto.decode_from_manager(frames_of(case))
    # The decoder keeps no state: the next message decodes.
    assert proto.decode_from_manager(FOLLOWER).command == "SYSDONE"


# --- the session's receive loop --------------------------------------------------------


class FrameFeed:
    """Stands in for the session's DEALER: hands out queued messages, then zmq.Again."""

    def __init__(self, *messages: List[bytes]) -> None:
        self.messages = list(messages)
        self.closed = False

    def recv_multipart(self, flags: int = 0) -> List[bytes]:
        if not self.messages:
            raise zmq.Again()
        return self.messages.pop(0)

    def close(self, linger: int = 0) -> None:
        self.closed = True


class Harness:
    """A Session with no context (it never opens a socket here) and recording hooks."""

    def __init__(self, state: str, *messages: List[bytes]) -> None:
        self.delivered: List[proto.Message] = []
        self.registered = 0
        self.lost = 0
        self.session = _session.Session(
            None,  # type: ignore[arg-type]
            "tcp://127.0.0.1:1917",
            "vectors",
            0.0,
            "vectors",
            on_registered=self._on_registered,
            on_message=self.delivered.append,
            on_lost=self._on_lost,
            on_sysmsg=lambda header, content: None,
            system_messages=False,
        )
        self.session.state = state
        self.feed = FrameFeed(*messages)
        self.session._socket = self.feed  # type: ignore[assignment]

    def _on_registered(self) -> None:
        self.registered += 1

    def _on_lost(self) -> None:
        self.lost += 1

    def receive(self) -> None:
        self.session._receive(1000.0)
        assert not self.feed.messages or self.feed.closed, "the loop stopped before reading every message"


def dropped_as_bad(caplog: pytest.LogCaptureFixture) -> List[str]:
    return [r.getMessage() for r in caplog.records if "dropping a bad message from the manager" in r.getMessage()]


@pytest.mark.parametrize("case", ACCEPTED, ids=case_id)
def test_session_takes_accepted_vector(case, caplog):
    command = case["expect"]["command"]
    caplog.set_level(logging.DEBUG, logger="proletariat")
    h = Harness(_session.CONNECTING if command == "WELCOME" else _session.REGISTERED, frames_of(case))
    h.receive()
    assert not dropped_as_bad(caplog), f"{case['name']}: {dropped_as_bad(caplog)}"
    if command == "WELCOME":
        assert h.session.state == _session.REGISTERED and h.registered == 1
        assert h.session.peer_id == json.loads(frames_of(case)[3])["id"]
    elif command == "BYE":
        assert h.lost == 1 and h.session.state == _session.WAITING and h.feed.closed
    elif command == "HEARTBEAT":
        assert h.delivered == [] and h.session.state == _session.REGISTERED
    else:
        assert [m.command for m in h.delivered] == [command]
        for name, value in case["expect"].get("fields", {}).items():
            assert same_json(h.delivered[0].header.get(name), value), name


@pytest.mark.parametrize("case", MALFORMED, ids=case_id)
def test_session_drops_malformed_vector_and_goes_on(case, caplog):
    caplog.set_level(logging.WARNING, logger="proletariat")
    h = Harness(_session.REGISTERED, frames_of(case), FOLLOWER)
    h.receive()
    assert len(dropped_as_bad(caplog)) == 1, f"{case['name']}: {[r.getMessage() for r in caplog.records]}"
    assert [m.command for m in h.delivered] == ["SYSDONE"], "the valid message after it was not delivered"
    assert h.session.state == _session.REGISTERED and h.lost == 0 and not h.feed.closed
