"""A runner for the session scripts of tests/vectors/sessions.json (their "about" field
is the specification this follows).

The runner is the scripted fake manager: a ROUTER (the command socket, taken from
conftest's FakeManager) and an XPUB (the system-message channel) on loopback ports.
It knows nothing of the Python binding: an *adapter* drives the peer under test
(see test_sessions.py), so the same engine could drive any peer reachable from
Python.
"""

from __future__ import annotations

import copy
import json
import pathlib
import re
import time
from typing import Any, Dict, List, Optional, Protocol, Sequence, Tuple

import zmq

SESSIONS = pathlib.Path(__file__).resolve().parents[3] / "tests" / "vectors" / "sessions.json"

PEER_COMMANDS = {"HELLO", "OFFER", "PUSH", "ABORT", "RESULT", "REJECT", "RECEIVED", "DRAIN", "HEARTBEAT", "BYE",
                 "SYSMSG", "SYSACK", "STATUS", "MYSTATUS", "PROGRESS", "DEAD", "GROUPLIMITS"}
# Commands that list entries: the header field that lists them, and whether each
# entry has a payload frame.
LISTS = {"RESULT": ("results", True), "REJECT": ("jobs", False), "ABORT": ("ids", False), "PUSH": ("jobs", True),
         "PROGRESS": ("progress", True)}
PROTOCOL_DEFAULT_LIMITS = {"max_message_bytes": 64 << 20, "max_frames": 100004}
ENTRY_OPTIONS = ("priority", "assigntimeout", "runTimeout")
LIFECYCLE_OPTIONS = ("delay", "at", "group", "retry")

_VARIABLE = re.compile(r"^\$[A-Za-z0-9_]+$")
_MISSING = object()


def load_sessions() -> Dict[str, Any]:
    with open(SESSIONS, encoding="utf-8") as f:
        return json.load(f)


class ScriptFailure(AssertionError):
    pass


class Adapter(Protocol):
    """What a runner needs from the binding under test."""

    def start(self, endpoint: str, peer: str, config: Dict[str, Any]) -> None: ...
    def start_error_code(self, exc: BaseException) -> Optional[str]: ...
    # individual: the binding's work_individual with a progress callback that records,
    # per job, the values handed over (work_outcome then gives them as "progress").
    def work(self, name: str, jobs: List[Dict[str, Any]], options: Dict[str, Any],
             individual: bool = False) -> None: ...
    def abort(self, name: str, indices: Optional[List[int]]) -> None: ...
    def sysmsg(self, name: str, msg: Any, to: Optional[str]) -> None: ...
    def wait_registered(self, timeout: float) -> bool: ...
    # [{"data": v} | {"raw": bytes} | {"err": code}] in job order, each with "attempts" when
    # the binding reported them and "progress" (a list) for an individual request.
    def work_outcome(self, name: str, timeout: float) -> List[Dict[str, Any]]: ...
    # ("sysdone", sent_to, received_by) or ("err", code).
    def sysmsg_outcome(self, name: str, timeout: float) -> Tuple[Any, ...]: ...
    def received(self, count: int, timeout: float) -> List[Dict[str, Any]]: ...
    def close(self) -> None: ...


# --- matching --------------------------------------------------------------------


def _show(value: Any) -> str:
    if value is _MISSING:
        return "(absent)"
    text = json.dumps(value, default=repr)
    return text if len(text) <= 300 else text[:300] + "..."


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def match(expected: Any, actual: Any, variables: Dict[str, Any], path: str = "") -> Optional[str]:
    """None if `actual` matches `expected` (binding unbound variables in `variables`),
    else what differs."""
    where = path or "(top)"
    if isinstance(expected, str) and _VARIABLE.match(expected):
        if actual is _MISSING:
            return f"{where}: absent, but {expected} needs a value"
        if expected in variables:
            bound = variables[expected]
            if match(bound, actual, {}, path) is not None:
                return f"{where}: {_show(actual)}, but {expected} is {_show(bound)}"
            return None
        variables[expected] = actual
        return None
    if expected is None:
        return None if actual is _MISSING or actual is None else f"{where}: {_show(actual)}, expected null or absent"
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{where}: {_show(actual)}, expected an object"
        for key, value in expected.items():
            err = match(value, actual.get(key, _MISSING), variables, f"{path}.{key}")
            if err:
                return err
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return f"{where}: {_show(actual)}, expected an array of {len(expected)}"
        for i, (e, a) in enumerate(zip(expected, actual)):
            err = match(e, a, variables, f"{path}[{i}]")
            if err:
                return err
        return None
    if isinstance(expected, bool) or isinstance(actual, bool):
        ok = isinstance(expected, bool) and isinstance(actual, bool) and expected == actual
    elif _is_number(expected):
        ok = _is_number(actual) and expected == actual
    else:
        ok = type(expected) is type(actual) and expected == actual
    return None if ok else f"{where}: {_show(actual)}, expected {_show(expected)}"


def payload_bytes(spec: Dict[str, Any]) -> bytes:
    if "hex" in spec:
        return bytes.fromhex(spec["hex"])
    return json.dumps(spec["json"], separators=(",", ":"), ensure_ascii=False).encode()


def match_payload(spec: Dict[str, Any], frame: bytes) -> Optional[str]:
    if "hex" in spec:
        want = bytes.fromhex(spec["hex"])
        return None if frame == want else f"payload {frame.hex()!r}, expected hex {spec['hex']!r}"
    try:
        value = json.loads(frame.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return f"payload {frame[:100]!r} is not JSON, expected {_show(spec['json'])}"
    err = match_value(spec["json"], value)
    return None if err is None else f"payload {_show(value)}, expected {_show(spec['json'])}"


def match_value(expected: Any, actual: Any) -> Optional[str]:
    """Plain JSON equality (numbers by value), without variables or null-as-absent."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict) or set(expected) != set(actual):
            return "differs"
        return next((e for e in (match_value(v, actual[k]) for k, v in expected.items()) if e), None)
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return "differs"
        return next((e for e in (match_value(a, b) for a, b in zip(expected, actual)) if e), None)
    if expected is None:
        return None if actual is None else "differs"
    return match(expected, actual, {})


def substitute(value: Any, variables: Dict[str, Any]) -> Any:
    if isinstance(value, str) and _VARIABLE.match(value):
        if value not in variables:
            raise ScriptFailure(f"the script uses {value} before any step bound it")
        return variables[value]
    if isinstance(value, dict):
        return {k: substitute(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, variables) for v in value]
    return value


# --- the fake manager --------------------------------------------------------------


class Message:
    def __init__(self, rid: bytes, frames: List[bytes]) -> None:
        self.rid = rid
        self.frames = frames
        self.command = frames[2].decode("ascii", "replace")
        self.header: Dict[str, Any] = json.loads(frames[3]) if frames[3] else {}
        self.payloads = frames[4:]

    def describe(self) -> str:
        text = f"{self.command} {json.dumps(self.header)}"
        if self.payloads:
            text += " + " + repr([p[:60] for p in self.payloads])
        return text if len(text) <= 400 else text[:400] + "..."


class SessionRunner:
    """Runs one script against a peer driven by `adapter`."""

    def __init__(self, doc: Dict[str, Any], script: Dict[str, Any], router: zmq.Socket, xpub: zmq.Socket,
                 pub_port: int, endpoint: str, adapter: Adapter, wait_s: Optional[float] = None) -> None:
        self.doc = doc
        self.script = script
        self.router = router
        self.xpub = xpub
        self.pub_port = pub_port
        self.endpoint = endpoint
        self.adapter = adapter
        self.wait = wait_s if wait_s is not None else doc["wait_ms"] / 1000.0
        self.variables: Dict[str, Any] = {}
        self.current: Optional[bytes] = None
        self.connections: List[bytes] = []
        self.welcomes: Dict[bytes, Dict[str, Any]] = {}
        self.subscriptions: List[str] = []
        self.heartbeats = 0
        self.step_index = -1

    # --- failing

    def fail(self, what: str) -> None:
        step = self.script["steps"][self.step_index] if 0 <= self.step_index < len(self.script["steps"]) else None
        where = f"step {self.step_index} {_show(step)}" if step is not None else "start"
        raise ScriptFailure(f"session script {self.script['name']!r}, {where}: {what}")

    # --- receiving

    def _limits(self, rid: bytes) -> Dict[str, int]:
        welcome = self.welcomes.get(rid, {})
        return {k: welcome.get(k, v) for k, v in PROTOCOL_DEFAULT_LIMITS.items()}

    def _take(self, timeout: float) -> Optional[Message]:
        """The next message (heartbeats included), checked; None after `timeout`."""
        if not self.router.poll(max(0, int(timeout * 1000)), zmq.POLLIN):
            return None
        parts = self.router.recv_multipart()
        rid, frames = parts[0], parts[1:]
        if len(frames) < 4 or frames[0] != b"" or frames[1] != b"PRO1":
            self.fail(f"the peer sent a malformed message: {frames[:4]!r}")
        command = frames[2].decode("ascii", "replace")
        if command not in PEER_COMMANDS:
            self.fail(f"the peer sent an unknown command {command!r}")
        try:
            header = json.loads(frames[3]) if frames[3] else {}
        except ValueError:
            self.fail(f"the peer's {command} header is not JSON: {frames[3][:200]!r}")
        if not isinstance(header, dict):
            self.fail(f"the peer's {command} header is not an object: {frames[3][:200]!r}")
        if command in ("PUSH", "RESULT", "PROGRESS"):
            listed = header.get(LISTS[command][0])
            want = len(listed) if isinstance(listed, list) else -1
        else:
            want = 1 if command == "SYSMSG" else 0
        if len(frames) - 4 != want:
            self.fail(f"the peer's {command} has {len(frames) - 4} payload frames for {want} entries: {header}")
        limits = self._limits(rid)
        size = sum(len(f) for f in frames)
        if size > limits["max_message_bytes"] or len(frames) > limits["max_frames"]:
            self.fail(f"the peer's {command} of {size} bytes in {len(frames)} frames exceeds the WELCOME's "
                      f"limits {limits}")
        return Message(rid, frames)

    def next_message(self, what: str, heartbeats: bool = False) -> Message:
        deadline = time.monotonic() + self.wait
        while True:
            msg = self._take(deadline - time.monotonic())
            if msg is None:
                self.fail(f"no {what} from the peer within {self.wait:.1f} s")
            assert msg is not None
            if msg.command == "HEARTBEAT" and not heartbeats:
                self.heartbeats += 1
                continue
            if msg.command != "HELLO" and msg.rid != self.current:
                self.fail(f"{msg.describe()} came from a connection that is not the current one")
            return msg

    # --- sending

    def send(self, command: str, header: Optional[Dict[str, Any]], payloads: Sequence[bytes]) -> None:
        if self.current is None:
            self.fail("nothing to send to: no HELLO yet")
        assert self.current is not None
        if command == "WELCOME":
            merged = dict(self.doc["welcome_defaults"])
            merged.update(header or {})
            if "pub_port" not in merged and "pub_endpoint" not in merged:
                merged["pub_port"] = self.pub_port
            header = merged
            self.welcomes[self.current] = merged
        head = json.dumps(header).encode() if header is not None else b""
        self.router.send_multipart([self.current, b"", b"PRO1", command.encode(), head, *payloads])

    def _read_subscriptions(self, timeout: float) -> bool:
        if not self.xpub.poll(max(0, int(timeout * 1000)), zmq.POLLIN):
            return False
        frame = self.xpub.recv()
        if frame[:1] == b"\x01":
            topic = frame[1:].decode("utf-8", "replace")
            if topic not in self.subscriptions:
                self.subscriptions.append(topic)
        return True

    # --- steps

    def run(self) -> None:
        config = self.script.get("config", {})
        start_error = self.script.get("start_error")
        try:
            self.adapter.start(self.endpoint, self.script["peer"], config)
        except Exception as exc:  # noqa: BLE001 - any binding error is judged below
            code = self.adapter.start_error_code(exc)
            if start_error is None or code != start_error:
                self.fail(f"starting the {self.script['peer']} failed: {code or type(exc).__name__}: {exc}")
        else:
            if start_error is not None:
                self.fail(f"starting the {self.script['peer']} with {config} succeeded; expected {start_error}")
        for index, step in enumerate(self.script["steps"]):
            self.step_index = index
            self.run_step(step)

    def run_step(self, step: Dict[str, Any]) -> None:
        if "expect" in step:
            self.step_expect(step)
        elif "collect" in step:
            self.step_collect(step)
        elif "accept_pushes" in step:
            self.step_accept_pushes(step["accept_pushes"])
        elif "send" in step:
            header = substitute(step["header"], self.variables) if "header" in step else None
            self.send(step["send"], header, [payload_bytes(p) for p in step.get("payloads", [])])
        elif "send_frames" in step:
            frames = [f.encode() if isinstance(f, str) else bytes.fromhex(f["hex"]) for f in step["send_frames"]]
            if self.current is None:
                self.fail("nothing to send to: no HELLO yet")
            self.router.send_multipart([self.current, *frames])
        elif "expect_subscription" in step:
            topic = step["expect_subscription"]
            deadline = time.monotonic() + self.wait
            while topic not in self.subscriptions:
                left = deadline - time.monotonic()
                if left <= 0 or not self._read_subscriptions(left):
                    self.fail(f"no subscription to {topic!r} within {self.wait:.1f} s (got {self.subscriptions})")
        elif "subscriptions" in step:
            while self._read_subscriptions(0):
                pass
            if self.subscriptions != step["subscriptions"]:
                self.fail(f"subscriptions {self.subscriptions}, expected {step['subscriptions']}")
        elif "publish" in step:
            p = step["publish"]
            header = json.dumps(substitute(p["header"], self.variables)).encode()
            self.xpub.send_multipart([p["topic"].encode(), b"PRO1", b"SYSMSG", header, payload_bytes(p["payload"])])
        elif "silence_ms" in step:
            deadline = time.monotonic() + step["silence_ms"] / 1000.0
            while True:
                msg = self._take(deadline - time.monotonic())
                if msg is None:
                    break
                if msg.command == "HEARTBEAT":
                    self.heartbeats += 1
                    continue
                self.fail(f"expected silence, got {msg.describe()}")
        elif "do" in step:
            self.step_do(step)
        elif "outcome" in step:
            self.step_outcome(step)
        elif "received" in step:
            want = step["received"]
            got = self.adapter.received(len(want), self.wait)
            if len(got) != len(want) or any(match_value(w, g) for w, g in zip(want, got)):
                self.fail(f"the application was handed the system messages {_show(got)}, expected {_show(want)}")
        else:
            self.fail("unknown step")

    def step_expect(self, step: Dict[str, Any]) -> None:
        command = step["expect"]
        msg = self.next_message(command, heartbeats=command == "HEARTBEAT")
        if msg.command != command:
            self.fail(f"expected {command}, got {msg.describe()}")
        if "header" in step:
            err = match(step["header"], msg.header, self.variables)
            if err:
                self.fail(f"{command} header {json.dumps(msg.header)}: {err}")
        if "payloads" in step:
            want = step["payloads"]
            if len(msg.payloads) != len(want):
                self.fail(f"{command} has {len(msg.payloads)} payloads, expected {len(want)}")
            for i, (spec, frame) in enumerate(zip(want, msg.payloads)):
                err = match_payload(spec, frame)
                if err:
                    self.fail(f"{command} payload {i}: {err}")
        if command == "HELLO":
            if step.get("new_connection") and msg.rid in self.connections:
                self.fail("the HELLO came on an earlier connection; expected a new socket")
            self.current = msg.rid
            if msg.rid not in self.connections:
                self.connections.append(msg.rid)

    def step_collect(self, step: Dict[str, Any]) -> None:
        command = step["collect"]
        field, with_payloads = LISTS[command]
        expected = step["entries"]
        matched = [False] * len(expected)
        while not all(matched):
            msg = self.next_message(f"{command} (for {sum(not m for m in matched)} more entries)")
            if msg.command != command:
                self.fail(f"expected {command}, got {msg.describe()}")
            entries = msg.header.get(field)
            if not isinstance(entries, list):
                self.fail(f"{command} without a {field} list: {msg.describe()}")
            for i, entry in enumerate(entries):
                frame = msg.payloads[i] if with_payloads else None
                for j, want in enumerate(expected):
                    if matched[j]:
                        continue
                    trial = dict(self.variables)
                    if match(want["entry"], entry, trial) is not None:
                        continue
                    if "payload" in want and (frame is None or match_payload(want["payload"], frame) is not None):
                        continue
                    matched[j] = True
                    self.variables = trial
                    break
                else:
                    self.fail(f"{command} entry {_show(entry)}"
                              f"{' with payload ' + repr(frame[:100]) if frame is not None else ''} matches none of "
                              f"the expected entries still open: "
                              f"{_show([w for w, m in zip(expected, matched) if not m])}")

    def step_accept_pushes(self, jobs: List[Dict[str, Any]]) -> None:
        matched = [False] * len(jobs)
        while not all(matched):
            msg = self.next_message(f"PUSH (for {sum(not m for m in matched)} more jobs)")
            if msg.command != "PUSH":
                self.fail(f"expected PUSH, got {msg.describe()}")
            welcome = self.welcomes.get(self.current or b"", {})
            entry_options = welcome.get("entry_options") is True
            lifecycle = welcome.get("lifecycle") is True
            header = msg.header
            if not lifecycle and any(name in header for name in LIFECYCLE_OPTIONS):
                self.fail(f"the PUSH header carries lifecycle options, but the WELCOME did not announce lifecycle: "
                          f"{msg.describe()}")
            ids = []
            for i, entry in enumerate(header.get("jobs", [])):
                if not isinstance(entry, dict):
                    self.fail(f"PUSH entry {i} is not an object: {msg.describe()}")
                view: Dict[str, Any] = {}
                for name in ENTRY_OPTIONS:
                    if name in entry:
                        if not entry_options:
                            self.fail(f"PUSH entry {_show(entry)} carries {name}, but the WELCOME did not announce "
                                      f"entry_options")
                        view[name] = entry[name]
                    elif name in header:
                        view[name] = header[name]
                view.setdefault("priority", 0)
                if not lifecycle and any(name in entry for name in LIFECYCLE_OPTIONS):
                    self.fail(f"PUSH entry {_show(entry)} carries lifecycle options, but the WELCOME did not announce "
                              f"lifecycle")
                if lifecycle:
                    times = entry if ("delay" in entry or "at" in entry) else header
                    for name in LIFECYCLE_OPTIONS:
                        source = times if name in ("delay", "at") else (entry if name in entry else header)
                        if name in source:
                            view[name] = source[name]
                for name in ("key", "service", "raw"):
                    if name in entry:
                        view[name] = entry[name]
                frame = msg.payloads[i]
                for j, want in enumerate(jobs):
                    if matched[j]:
                        continue
                    if match(want["job"], view, {}) is not None:
                        continue
                    if "payload" in want and match_payload(want["payload"], frame) is not None:
                        continue
                    matched[j] = True
                    ids.append(want["id"])
                    break
                else:
                    self.fail(f"pushed job {_show(view)} with payload {frame[:100]!r} matches none of the jobs still "
                              f"expected: {_show([w for w, m in zip(jobs, matched) if not m])}")
            self.send("ACCEPTED", {"req": header.get("req"), "ids": ids}, [])

    def step_do(self, step: Dict[str, Any]) -> None:
        action = step["do"]
        if action == "work":
            if step.get("individual"):
                self.adapter.work(step["as"], step["jobs"], step.get("options", {}), individual=True)
            else:
                self.adapter.work(step["as"], step["jobs"], step.get("options", {}))
        elif action == "abort":
            self.adapter.abort(step["request"], step.get("indices"))
        elif action == "sysmsg":
            self.adapter.sysmsg(step["as"], step["msg"], step.get("to"))
        elif action == "wait_registered":
            if not self.adapter.wait_registered(self.wait):
                self.fail(f"the {self.script['peer']} did not say it is registered within {self.wait:.1f} s")
        else:
            self.fail(f"unknown action {action!r}")

    def step_outcome(self, step: Dict[str, Any]) -> None:
        name = step["outcome"]
        if "results" in step:
            got = self.adapter.work_outcome(name, self.wait)
            want = step["results"]
            problems = []
            if len(got) != len(want):
                problems.append(f"{len(got)} results for {len(want)}")
            for i, (w, g) in enumerate(zip(want, got)):
                if "err" in w:
                    if g.get("err") != w["err"]:
                        problems.append(f"result {i} is {_show(_printable(g))}, expected err {w['err']}")
                elif "raw" in w:
                    if g.get("err") is not None or g.get("raw") != bytes.fromhex(w["raw"]):
                        problems.append(f"result {i} is {_show(_printable(g))}, expected raw {w['raw']}")
                elif g.get("err") is not None or "data" not in g or match_value(w["data"], g["data"]) is not None:
                    problems.append(f"result {i} is {_show(_printable(g))}, expected data {_show(w['data'])}")
                if "attempts" in w and not (_is_number(g.get("attempts")) and g["attempts"] == w["attempts"]):
                    problems.append(f"result {i} reports attempts {g.get('attempts')!r}, expected {w['attempts']}")
                if "progress" in w:
                    handed = g.get("progress")
                    if not isinstance(handed, list) or match_value(w["progress"], handed) is not None:
                        problems.append(f"job {i} was handed the progress {_show(handed)}, expected "
                                        f"{_show(w['progress'])}")
            if problems:
                self.fail(f"request {name!r}: " + "; ".join(problems))
        else:
            got_sys = self.adapter.sysmsg_outcome(name, self.wait)
            if "sysdone" in step:
                want_sys = ("sysdone", step["sysdone"]["sentTo"], step["sysdone"]["receivedBy"])
            else:
                want_sys = ("err", step["err"])
            if tuple(got_sys) != want_sys:
                self.fail(f"system message {name!r} ended as {got_sys}, expected {want_sys}")


def _printable(result: Dict[str, Any]) -> Dict[str, Any]:
    out = copy.copy(result)
    if isinstance(out.get("raw"), bytes):
        out["raw"] = out["raw"].hex()
    if isinstance(out.get("data"), bytes):
        out["data"] = "bytes:" + out["data"].hex()
    return out
