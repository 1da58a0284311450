#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora and dictionary from the wire vectors.

    fuzz/make_corpus.py OUT

OUT/<target>/ gets one seed file per input (named by its SHA-1), in the input layout
the target reads (fuzz/fuzz_input.hpp, and each target's header comment):
  peer_decode_fuzz      every message of tests/vectors/peer_to_manager.json (and the
                        manager_to_peer.json ones, which a peer must not send), under
                        both limits;
  list_header_fuzz      every header of the three vector files and of the session
                        scripts' steps (tests/vectors/sessions.json), for both lists;
  dispatcher_fuzz       short sessions: each peer vector sent by a peer registered in
                        the role its command needs, and whole job flows (push, assign,
                        result, reject, abort, status, system messages, drain, a
                        restart on the journal, timeouts);
  journal_records_fuzz  journals of ACCEPTED, ASSIGNED, FINISHED, GONE and NEXT_ID
                        records and the lifecycle's ACCEPTED_LIFECYCLE, RETRYING,
                        DEAD_LETTER, LETTER_GONE and NEXT_LETTER (the layouts of
                        libproletariat/src/journal/job_journal.hpp) with payloads taken
                        from the vectors, whole, torn and damaged.
OUT/protocol.dict is a libFuzzer dictionary: the signature, command names, header
field names and error codes of protocol/protocol.json.
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
from pathlib import Path
from typing import Any, Iterable, List

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "tests" / "vectors"


def load(name: str) -> Any:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


def frame_bytes(frame: Any) -> bytes:
    return bytes.fromhex(frame["hex"]) if isinstance(frame, dict) else frame.encode("utf-8")


def prefixed(frame: bytes) -> bytes:
    frame = frame[:0xFFFF]
    return struct.pack("<H", len(frame)) + frame


def compact(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def message(*frames: bytes) -> List[bytes]:
    return [b"", b"PRO1", *frames]


def write_seeds(out: Path, target: str, seeds: Iterable[bytes]) -> int:
    directory = out / target
    directory.mkdir(parents=True, exist_ok=True)
    n = 0
    for seed in seeds:
        (directory / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
        n += 1
    return n


# --- peer_decode_fuzz ---------------------------------------------------------------

def vector_messages() -> List[List[bytes]]:
    out = []
    for name in ("peer_to_manager.json", "manager_to_peer.json"):
        for case in load(name)["cases"]:
            out.append([frame_bytes(f) for f in case["frames"]])
    return out


def peer_decode_seeds() -> Iterable[bytes]:
    for frames in vector_messages():
        body = b"".join(prefixed(f) for f in frames)
        yield b"\x00" + body
        yield b"\x01" + body


# --- list_header_fuzz ---------------------------------------------------------------

def session_headers() -> Iterable[bytes]:
    for script in load("sessions.json")["scripts"]:
        for step in script.get("steps", []):
            if isinstance(step.get("header"), dict):
                yield compact(step["header"])
            if isinstance(step.get("entries"), list):
                entries = [e.get("entry", e) for e in step["entries"] if isinstance(e, dict)]
                yield compact({"results": entries})
                yield compact({"jobs": entries})


def list_header_seeds() -> Iterable[bytes]:
    headers = [frames[3] for frames in vector_messages() if len(frames) > 3]
    headers += list(session_headers())
    for header in headers:
        yield b"\x00" + header  # "jobs"
        yield b"\x01" + header  # "results"
        yield b"\x04" + header  # "jobs", the sink refusing its second call


# --- dispatcher_fuzz ----------------------------------------------------------------

WORKER, WORKER2, CLIENT, CLIENT2 = 0, 1, 2, 3
BATCH = bytes([4])


def send(peer: int, frames: List[bytes]) -> bytes:
    frames = frames[:15]
    return bytes([peer, len(frames)]) + b"".join(prefixed(f) for f in frames)


def cmd(peer: int, command: str, header: Any = None, payloads: Iterable[bytes] = ()) -> bytes:
    text = b"" if header is None else compact(header)
    return send(peer, message(command.encode(), text, *payloads)) + BATCH


def tick(ms: int) -> bytes:
    return bytes([5 | (min(ms // 20, 31) << 3)])


def subscribe(peer: int) -> bytes:
    return bytes([6 | (peer << 3) | 32])


RESTART = bytes([7 | (1 << 3)])
DRAIN = bytes([7])
HOUR = bytes([7 | (2 << 3)])

ROLE_SETUP = {
    # A worker for RESULT and REJECT, a client (with a job) for ABORT and RECEIVED.
    "RESULT": lambda p: cmd(p, "HELLO", {"name": "w"}) + cmd(p, "OFFER", {"slots": 2}),
    "REJECT": lambda p: cmd(p, "HELLO", {"name": "w"}) + cmd(p, "OFFER", {"slots": 2}),
    "DRAIN": lambda p: cmd(p, "HELLO", {"name": "w"}) + cmd(p, "OFFER", {"slots": 2}),
    "ABORT": lambda p: cmd(p, "HELLO", {}) + cmd(p, "PUSH", {"req": 1, "jobs": [{}]}, [b"1"]),
    "RECEIVED": lambda p: cmd(p, "HELLO", {}) + cmd(p, "PUSH", {"req": 1, "jobs": [{}]}, [b"1"]),
}


def flows() -> Iterable[bytes]:
    worker = cmd(WORKER, "HELLO", {"name": "w", "lang": "c++"}) + cmd(WORKER, "OFFER", {"slots": 2})
    client = cmd(CLIENT, "HELLO", {"name": "c", "identity": "client-1"}) + subscribe(CLIENT)
    push = cmd(CLIENT, "PUSH", {"req": 1, "priority": 1, "jobs": [{"key": "a"}, {"key": "b", "raw": True}, {}]},
               [b"{}", b"\x00\xff", b"3"])
    results = cmd(WORKER, "RESULT", {"results": [{"id": 1, "attempt": 1}, {"id": 2, "attempt": 1,
                                                                         "err": {"code": "EBOOM", "message": "x"}}]},
                  [b"42", b""])
    yield worker + client + push + results + cmd(CLIENT, "RECEIVED", {"ids": [1, 2]}) + tick(100)
    yield worker + client + push + cmd(WORKER, "REJECT", {"jobs": [{"id": 1, "attempt": 1}]}) + tick(200) + results
    yield client + push + cmd(CLIENT, "ABORT", {"ids": [1, 3]}) + worker + tick(600) + tick(600)
    yield (worker + cmd(WORKER2, "HELLO", {}) + cmd(WORKER2, "OFFER", {"slots": 1, "prioritySlots": {"1": 1},
                                                                    "services": ["s"]})
           + client + cmd(CLIENT, "PUSH", {"req": 2, "assigntimeout": 50, "runTimeout": 100,
                                           "jobs": [{"service": "s", "priority": 3}, {"service": "t"}]}, [b"1", b"2"])
           + tick(120) + tick(120) + tick(400))
    yield (worker + client + subscribe(WORKER) + cmd(CLIENT, "SYSMSG", {"req": 5, "to": None}, [b"{\"x\":1}"])
           + cmd(WORKER, "SYSACK", {"msg": 1}) + cmd(CLIENT, "SYSMSG", {"req": 6, "to": "MANAGER"}, [b"\"hi\""])
           + cmd(CLIENT, "STATUS", {"req": 7}) + cmd(WORKER, "MYSTATUS", {}) + tick(100))
    yield worker + client + push + DRAIN + cmd(WORKER, "DRAIN", {}) + results + tick(600)
    yield client + push + cmd(CLIENT, "BYE", {"reason": "done"}) + worker + cmd(WORKER, "BYE", {}) + HOUR
    # With the journal: a restart after the push, the client back with its identity.
    yield b"\x01" + worker + client + push + RESTART + worker + client + results + tick(100)
    yield b"\x01" + client + push + worker + tick(600) + RESTART + client + worker + results + HOUR


def dispatcher_seeds() -> Iterable[bytes]:
    for case in load("peer_to_manager.json")["cases"]:
        frames = [frame_bytes(f) for f in case["frames"]]
        command = frames[2].decode("utf-8", "replace") if len(frames) > 2 else ""
        setup = b"" if command == "HELLO" else ROLE_SETUP.get(command, lambda p: cmd(p, "HELLO", {}))(WORKER)
        yield b"\x00" + setup + send(WORKER, frames) + BATCH + tick(100)
    for flow in flows():
        yield flow if flow[:1] == b"\x01" else b"\x00" + flow
        if flow[:1] != b"\x01":
            yield b"\x12" + flow  # sacred guarantees, at most 4 jobs per client


# --- journal_records_fuzz -----------------------------------------------------------

ACCEPTED, ASSIGNED, FINISHED, GONE, NEXT_ID = 1, 2, 3, 4, 5
ACCEPTED_LIFECYCLE, RETRYING, DEAD_LETTER, LETTER_GONE, NEXT_LETTER = 6, 7, 8, 9, 10


def string(b: bytes) -> bytes:
    return struct.pack("<I", len(b)) + b


def record(kind: int, body: bytes) -> bytes:
    # Checksum and sequence number left 0: the seeds ask the target to fill them in.
    return struct.pack("<IIQB", len(body), 0, 0, kind) + body


def accepted_body(job: int, payload: bytes, flags: int, identity: bytes) -> bytes:
    body = struct.pack("<QBdqqQ", job, flags, 1.5, 1_700_000_000_000, 1_700_000_005_000, 250)
    return body + string(identity) + string(b"key") + string(b"svc") + string(payload)


def accepted(job: int, payload: bytes, flags: int = 0, identity: bytes = b"") -> bytes:
    return record(ACCEPTED, accepted_body(job, payload, flags, identity))


def retry_policy(codes: Iterable[bytes] = (b"EBUSY", b"EHANDLER")) -> bytes:
    codes = list(codes)
    return struct.pack("<IqdqdI", 3, 1000, 2.0, 300_000, 0.2, len(codes)) + b"".join(string(c) for c in codes)


def accepted_lifecycle(job: int, payload: bytes, group: bytes = b"tenant-7", not_before: int = 0,
                       retry: bool = True) -> bytes:
    flags = (1 if not_before else 0) | (2 if retry else 0)
    tail = struct.pack("<Bq", flags, not_before) + string(group) + (retry_policy() if retry else b"")
    return record(ACCEPTED_LIFECYCLE, accepted_body(job, payload, 1, b"client-1") + tail)


def retrying(job: int, answered: int, due: int = 1_700_000_002_000, has_due: bool = True) -> bytes:
    return record(RETRYING, struct.pack("<QIBq", job, answered, 1 if has_due else 0, due))


def dead_letter(letter: int, job: int, payload: bytes, retry: bool = True) -> bytes:
    flags = 1 | 2 | (4 if retry else 0)
    body = struct.pack("<QQBdQIq", letter, job, flags, 0.0, 250, 4, 1_700_000_003_000)
    body += b"".join(string(s) for s in (b"7@3f9a0c", b"client-1", b"key", b"svc", b"tenant-7", b"EBUSY", b"busy"))
    return record(DEAD_LETTER, body + (retry_policy() if retry else b"") + string(payload))


def letter_gone(letter: int) -> bytes:
    return record(LETTER_GONE, struct.pack("<Q", letter))


def next_letter(letter: int) -> bytes:
    return record(NEXT_LETTER, struct.pack("<Q", letter))


def assigned(job: int, attempt: int) -> bytes:
    return record(ASSIGNED, struct.pack("<QI", job, attempt))


def finished(job: int, payload: bytes, err: bool = False) -> bytes:
    body = struct.pack("<QBq", job, 2 if err else 1, 1_700_000_001_000)
    return record(FINISHED, body + string(b"EBOOM" if err else b"") + string(b"no" if err else b"") + string(payload))


def gone(job: int) -> bytes:
    return record(GONE, struct.pack("<Q", job))


def next_id(job: int) -> bytes:
    return record(NEXT_ID, struct.pack("<Q", job))


def journal_seeds() -> Iterable[bytes]:
    payloads = [f for frames in vector_messages() for f in frames[4:]][:6] or [b"x"]
    whole = (next_id(5) + accepted(5, payloads[0], 7, b"client-1") + assigned(5, 1) + accepted(6, payloads[-1])
             + finished(5, payloads[1 % len(payloads)]) + assigned(6, 2) + finished(6, b"", True) + gone(5)
             + accepted(7, b"p") + assigned(7, 0) + assigned(7, 3))
    for options in (0x07, 0x0F, 0x03, 0x01, 0x00):
        yield bytes([options]) + whole
    yield bytes([0x07]) + whole[:-5]  # a torn tail
    yield bytes([0x07]) + whole + b"\x00" * 40  # a zeroed tail
    # The lifecycle: retries (a backoff ended by ASSIGNED, one still running), a delayed
    # job, letters (one gone, one of a job that is gone), a snapshot's NEXT_LETTER.
    lifecycle = (next_id(5) + next_letter(3) + dead_letter(1, 2, payloads[0]) + accepted_lifecycle(5, payloads[-1])
                 + assigned(5, 1) + retrying(5, 1) + assigned(5, 2)
                 + accepted_lifecycle(6, b"d", b"", 1_700_000_009_000, False)
                 + accepted_lifecycle(7, b"p", b"g") + assigned(7, 1) + retrying(7, 1) + retrying(7, 2, 0, False)
                 + dead_letter(3, 7, b"p", False) + letter_gone(1) + dead_letter(4, 6, b"") + gone(6))
    for options in (0x07, 0x0F, 0x03):
        yield bytes([options]) + lifecycle
    yield bytes([0x07]) + whole + lifecycle
    yield bytes([0x07]) + lifecycle[:-3]  # a torn tail
    yield bytes([0x07]) + record(11, b"")  # a type from a newer manager
    yield bytes([0x07]) + record(RETRYING, b"\x05" * 12)  # the new types' bodies too short
    yield bytes([0x07]) + record(DEAD_LETTER, b"\x01" * 30)
    yield bytes([0x07]) + record(ACCEPTED, b"\x01\x00")  # a body too short for its type
    yield bytes([0x0F]) + whole[:50] + b"\xff" * 8 + whole[58:]  # damage before the end, repaired
    # Found by fuzzing: a job accepted twice (replay must forget the first one's attempt
    # and result, or compaction brings them back).
    yield bytes([0x07]) + (accepted(6, b"a") + assigned(6, 2) + finished(6, b"r", True) + accepted(6, b"b")
                           + assigned(6, 2))


# --- the dictionary -----------------------------------------------------------------

def dictionary() -> List[str]:
    spec = json.loads((ROOT / "protocol" / "protocol.json").read_text(encoding="utf-8"))
    words = {spec["signature"], spec["to_manager"]}
    for command in spec["commands"]:
        words.add(command["name"])
        words.update((command.get("fields") or {}).keys())
    for error in spec["errors"]:
        words.add(error["code"])
    # The fields of list entries (not in the description) and JSON at its edges.
    words.update(["err", "code", "message", "id", "attempt", "raw", "key", "service", "priority", "runTimeout",
                  "assigntimeout", "\\u", "\\ud800", "null", "true", "false", "1e400", "-0",
                  "18446744073709551616", "9007199254740992"])
    return sorted(words)


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    counts = {
        "peer_decode_fuzz": write_seeds(out, "peer_decode_fuzz", peer_decode_seeds()),
        "list_header_fuzz": write_seeds(out, "list_header_fuzz", list_header_seeds()),
        "dispatcher_fuzz": write_seeds(out, "dispatcher_fuzz", dispatcher_seeds()),
        "journal_records_fuzz": write_seeds(out, "journal_records_fuzz", journal_seeds()),
    }
    lines = ['"' + w.replace("\\", "\\\\").replace('"', '\\"') + '"' for w in dictionary()]
    (out / "protocol.dict").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("make_corpus: " + ", ".join(f"{t} {n}" for t, n in counts.items()) + f", {len(lines)} dictionary words")
    return 0


if __name__ == "__main__":
    sys.exit(main())
