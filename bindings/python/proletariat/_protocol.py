"""The wire format of docs/PROTOCOL.md (PRO1): frames in, frames out. No sockets.

A message as a DEALER sees it is ``["", "PRO1", COMMAND, header-json, payload...]``.
Payloads are JSON text unless their entry says ``"raw": true``; the manager forwards
them byte for byte.

Its constants and tables (signature, limits, offer bounds, error codes) come from
protocol/protocol.json through the generated ``_spec.py``; never copy them here.
Changing the protocol: protocol/protocol.json and docs/PROTOCOL.md first (then run
protocol/generate.py), the C++ codec, the wire vectors (tests/vectors/), then this
module and the other bindings.
"""

from __future__ import annotations

import datetime
import json
import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from . import _spec
from .errors import EBADFIELD, ProletariatError

# The protocol's constants are those of protocol/protocol.json (the generated _spec.py).
SIGNATURE = _spec.SIGNATURE
PROTOCOL_VERSION = _spec.PROTOCOL_VERSION
#: Frames before the payloads: delimiter, signature, command, header.
FIXED_FRAMES = _spec.FIXED_FRAMES
#: Limits assumed when a WELCOME does not state them (PROTOCOL §10).
DEFAULT_MAX_MESSAGE_BYTES = _spec.MAX_MESSAGE_BYTES
DEFAULT_MAX_FRAMES = _spec.MAX_FRAMES
#: Ids must survive a JavaScript number (PROTOCOL §2).
MAX_SAFE_INTEGER = _spec.MAX_SAFE_INTEGER
#: Longest subscription topic (a peer id) the manager accepts (PROTOCOL §8.1).
MAX_TOPIC_BYTES = _spec.MAX_TOPIC_BYTES
#: The manager's default command port, and a peer's wait before registering again
#: after the manager was lost (CON_RETRYTIME, PROTOCOL §7).
DEFAULT_PORT = _spec.DEFAULT_PORT
DEFAULT_CON_RETRY_TIME_S = _spec.DEFAULT_CON_RETRY_TIME_MS / 1000.0
#: The offer's bounds on slots (PROTOCOL §4).
SLOTS_MIN = _spec.SLOTS_MIN
SLOTS_MAX = _spec.SLOTS_MAX
SLOTS_DEFAULT = _spec.SLOTS_DEFAULT
#: Job lifecycle bounds (PROTOCOL §14, §10): a job's group, a push's retry.max.
MAX_GROUP_BYTES = _spec.MAX_GROUP_BYTES
MAX_RETRIES = _spec.MAX_RETRIES

_COMPACT = (",", ":")


def encode(command: str, header: Optional[Dict[str, Any]] = None, payloads: Sequence[bytes] = ()) -> List[bytes]:
    """Frames of one message from a peer (DEALER side, delimiter first)."""
    head = b"" if not header else json.dumps(header, separators=_COMPACT, ensure_ascii=False).encode("utf-8")
    return [b"", SIGNATURE, command.encode("ascii"), head, *payloads]


@dataclass
class Message:
    """A decoded message from the manager."""

    command: str
    header: Dict[str, Any]
    payloads: List[bytes] = field(default_factory=list)


def decode(frames: Sequence[bytes]) -> Message:
    """Decodes frames received on a DEALER. Raises ValueError on a malformed message."""
    if len(frames) < FIXED_FRAMES:
        raise ValueError(f"message of {len(frames)} frames, at least {FIXED_FRAMES} expected")
    if len(frames[0]) != 0:
        raise ValueError("frame 0 is not the empty delimiter")
    if bytes(frames[1]) != SIGNATURE:
        raise ValueError(f"frame 1 is {bytes(frames[1])[:16]!r}, not the signature PRO1")
    try:
        command = bytes(frames[2]).decode("ascii")
    except UnicodeDecodeError as exc:
        raise ValueError("command frame is not ASCII") from exc
    header_frame = bytes(frames[3])
    if header_frame:
        try:
            header = json.loads(header_frame)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"{command} header is not valid JSON") from exc
        if not isinstance(header, dict):
            raise ValueError(f"{command} header is not a JSON object")
    else:
        header = {}
    return Message(command, header, [bytes(f) for f in frames[FIXED_FRAMES:]])


# --- what a message from the manager must hold (PROTOCOL §5, §8.2) ------------------
# The rules are protocol.json's "peer_checks" (generated into _spec.FROM_MANAGER), the
# same the C++ peer's decoder and the Node binding apply, so every binding drops the
# same messages (tests/vectors/manager_to_peer.json). A field that is null counts as
# absent; unknown fields are ignored.


def _is_uint(value: Any, maximum: int = MAX_SAFE_INTEGER) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= maximum


def _is_non_negative(value: Any) -> bool:
    return (not isinstance(value, bool) and isinstance(value, (int, float))
            and math.isfinite(value) and value >= 0)


def _check_field(value: Any, rule: Dict[str, Any]) -> None:
    """Checks one present field against its rule from _spec.FROM_MANAGER."""
    name, kind = rule["name"], rule["type"]
    if kind == "nonempty":
        if not isinstance(value, str) or not value:
            raise ValueError(f"missing field '{name}'")
    elif kind == "string":
        if not isinstance(value, str):
            raise ValueError(f"field '{name}' must be a string")
    elif kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"field '{name}' must be a boolean")
    elif kind == "uint":
        if not _is_uint(value, rule["max"]):
            raise ValueError(f"field '{name}' must be an unsigned integer up to {rule['max']}")
    elif kind == "nonnegative":
        if not _is_non_negative(value):
            raise ValueError(f"field '{name}' must be a finite number >= 0")
    elif kind == "uint[]":
        if not isinstance(value, list) or not all(_is_uint(i) for i in value):
            raise ValueError(f"field '{name}' must be an array of unsigned integers")
    elif kind == "object":
        if not isinstance(value, dict):
            raise ValueError(f"field '{name}' must be null or an object")
        _check_fields(value, rule["fields"])
    elif kind == "list":
        if not isinstance(value, list) or not all(isinstance(e, dict) for e in value):
            raise ValueError(f"field '{name}' must be an array of objects")
        for entry in value:
            _check_fields(entry, rule["fields"])
    else:  # generate.py only emits the types above
        raise AssertionError(f"unknown peer_checks type {kind!r}")


def _check_fields(obj: Dict[str, Any], rules: Sequence[Dict[str, Any]]) -> None:
    for rule in rules:
        value = obj.get(rule["name"])
        if value is None:
            if not rule["optional"]:
                raise ValueError(f"missing field '{rule['name']}'")
            continue
        _check_field(value, rule)


def _check_from_manager(msg: Message) -> None:
    """The checks protocol.json's "peer_checks" name for msg's command."""
    rules = _spec.FROM_MANAGER.get(msg.command)
    if rules is None:
        raise ValueError(f"{msg.command[:32]!r} is not a command the manager sends")
    _check_fields(msg.header, rules)
    for rule in rules:
        if rule.get("payloads"):
            listed = len(msg.header[rule["name"]])
            if listed != len(msg.payloads):
                raise ValueError(f"header lists {listed} entries but {len(msg.payloads)} payload frames follow")


def decode_from_manager(frames: Sequence[bytes]) -> Message:
    """Decodes a message received on the peer's DEALER from the manager, and checks
    that it is one the manager sends, with its required fields of their types and one
    payload frame per listed job or result. Raises ValueError when it is malformed:
    the session logs it and drops it, and goes on."""
    msg = decode(frames)
    try:
        _check_from_manager(msg)
    except ValueError as exc:
        raise ValueError(f"{msg.command[:32]}: {exc}") from None
    return msg


def entries(msg: Message, name: str) -> List[Dict[str, Any]]:
    """The list `name` of a header whose entries each own one payload frame."""
    items = msg.header.get(name)
    if not isinstance(items, list) or not all(isinstance(e, dict) for e in items):
        raise ValueError(f"{msg.command}: field '{name}' must be an array of objects")
    if len(items) != len(msg.payloads):
        raise ValueError(f"{msg.command}: header lists {len(items)} entries but {len(msg.payloads)} payload frames follow")
    return items


def json_bytes(value: Any) -> int:
    """Bytes of `value` as this module encodes it in a header."""
    return len(json.dumps(value, separators=_COMPACT, ensure_ascii=False).encode("utf-8"))


def entry_bytes(entry: Dict[str, Any]) -> int:
    """Bytes an entry adds to a header's list: its JSON and a comma."""
    return (json_bytes(entry) if entry else 2) + 1


def message_overhead(command: str, header: Dict[str, Any], list_name: str) -> int:
    """Bytes of a message with `header` plus an empty list `list_name`, before any
    entries and payloads: every frame the manager counts against max_message_bytes
    (delimiter, signature, command, header)."""
    return len(SIGNATURE) + len(command) + json_bytes(dict(header, **{list_name: []}))


# --- payloads ---------------------------------------------------------------------

RAW_TYPES = (bytes, bytearray, memoryview)


def dump_payload(value: Any) -> Tuple[bytes, bool]:
    """(frame, raw) for a job argument or a result: bytes go raw, the rest as JSON.

    Raises TypeError/ValueError when the value is not JSON serializable.
    """
    if isinstance(value, RAW_TYPES):
        return bytes(value), True
    return json.dumps(value, separators=_COMPACT, ensure_ascii=False, allow_nan=False).encode("utf-8"), False


def load_payload(frame: bytes, raw: bool) -> Any:
    """The value of a payload frame: bytes when raw, else parsed JSON (empty -> None).

    Raises ValueError when a non-raw payload is not JSON.
    """
    if raw:
        return bytes(frame)
    if not frame:
        return None
    return json.loads(frame)


# --- field helpers ----------------------------------------------------------------


def seconds_to_ms(value: Optional[float], name: str) -> Optional[int]:
    """A duration in seconds (the Python API) as integer milliseconds (the wire)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ProletariatError(EBADFIELD, f"{name} must be a number of seconds, not {value!r}") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise ProletariatError(EBADFIELD, f"{name} must be a finite number of seconds >= 0, not {value!r}")
    ms = math.ceil(seconds * 1000 - 1e-6)
    if ms > MAX_SAFE_INTEGER:
        raise ProletariatError(EBADFIELD, f"{name} is too large")
    return max(ms, 0)


def check_priority(priority: float) -> float:
    """A push priority: a finite number >= 0 (fractions allowed)."""
    if isinstance(priority, bool):
        raise ProletariatError(EBADFIELD, "priority must be a number")
    try:
        value = float(priority)
    except (TypeError, ValueError):
        raise ProletariatError(EBADFIELD, f"priority must be a number, not {priority!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ProletariatError(EBADFIELD, f"priority must be a finite number >= 0, not {priority!r}")
    return value


def wire_number(value: float) -> Any:
    """A float as its plainest JSON number: 2.0 -> 2, 1.5 -> 1.5."""
    return int(value) if float(value).is_integer() else float(value)


def priority_key(start: float) -> str:
    """The string key of a prioritySlots range start: 1 -> "1", 2.5 -> "2.5"."""
    return str(wire_number(start))


def pub_endpoint(command_endpoint: str, pub_port: int) -> Optional[str]:
    """The system-message endpoint: the command endpoint's host at `pub_port`.

    None when the command endpoint is not a TCP endpoint with a host.
    """
    if not command_endpoint.startswith("tcp://"):
        return None
    rest = command_endpoint[len("tcp://"):]
    # tcp://[source;]host:port; keep an optional source-address prefix.
    host, sep, _port = rest.rpartition(":")
    if not sep or not host or host == "*":
        return None
    return f"tcp://{host}:{int(pub_port)}"


# --- job lifecycle fields (PROTOCOL §4, §14) -------------------------------------------
# Checked here with the manager's rules, so that a bad option raises EBADFIELD at the
# call instead of failing a whole push (and every request sharing it) later.


def duration_ms(value: Any, name: str) -> Optional[int]:
    """seconds_to_ms, also taking a datetime.timedelta."""
    if isinstance(value, datetime.timedelta):
        value = value.total_seconds()
    if isinstance(value, bool):
        raise ProletariatError(EBADFIELD, f"{name} must be a number of seconds, not {value!r}")
    return seconds_to_ms(value, name)


def epoch_ms(value: Any, name: str = "at") -> Optional[int]:
    """A wall-clock time as integer ms since the Unix epoch: a datetime (a naive one is
    local time, as datetime.timestamp() reads it) or seconds since the epoch (a number,
    as time.time() gives). Rounded up, so that a job never becomes due before the time
    asked for."""
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        # In integers: a float of seconds since 1970 is off by a fraction of a ms.
        try:
            since = value.astimezone(datetime.timezone.utc) - _EPOCH
        except (OverflowError, ValueError, OSError):
            raise ProletariatError(EBADFIELD, f"{name} is not a time this machine can convert: {value!r}") from None
        micros = (since.days * 86400 + since.seconds) * 1_000_000 + since.microseconds
        if micros < 0:
            raise ProletariatError(EBADFIELD, f"{name} must be a time after the epoch, not {value!r}")
        ms = -(-micros // 1000)
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProletariatError(EBADFIELD, f"{name} must be a datetime or seconds since the epoch, not {value!r}")
    else:
        seconds = float(value)
        if not math.isfinite(seconds) or seconds < 0:
            raise ProletariatError(EBADFIELD, f"{name} must be a time after the epoch, not {value!r}")
        # The slack absorbs the float's error at today's magnitude (1e9 s: about 2e-4 ms).
        ms = max(math.ceil(seconds * 1000 - 1e-3), 0)
    if ms > MAX_SAFE_INTEGER:
        raise ProletariatError(EBADFIELD, f"{name} is too far in the future")
    return ms


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def check_group(group: Any) -> Optional[str]:
    """A job's group: None, or a non-empty str of at most max_group_bytes of UTF-8."""
    if group is None:
        return None
    if not isinstance(group, str) or not group:
        raise ProletariatError(EBADFIELD, f"group must be a non-empty string, not {group!r}")
    try:
        size = len(group.encode("utf-8"))
    except UnicodeEncodeError:
        raise ProletariatError(EBADFIELD, "group must be valid UTF-8 text (it has lone surrogates)") from None
    if size > MAX_GROUP_BYTES:
        raise ProletariatError(EBADFIELD, f"group must be at most {MAX_GROUP_BYTES} bytes of UTF-8, not {size}")
    return group


def check_number(value: Any, name: str, low: float, high: float = math.inf) -> Any:
    """A finite number in [low, high], as its plainest JSON number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProletariatError(EBADFIELD, f"{name} must be a number, not {value!r}")
    if not math.isfinite(value) or not low <= value <= high:
        bounds = f"{low:g} .. {high:g}" if math.isfinite(high) else f">= {low:g}"
        raise ProletariatError(EBADFIELD, f"{name} must be a finite number {bounds}, not {value!r}")
    return wire_number(value)


def check_uint(value: Any, name: str, high: int = MAX_SAFE_INTEGER) -> int:
    """An integer 0 .. high (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        raise ProletariatError(EBADFIELD, f"{name} must be an integer 0 .. {high}, not {value!r}")
    return int(value)
