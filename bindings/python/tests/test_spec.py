"""The binding's protocol tables are the protocol description's (protocol/protocol.json,
through the generated proletariat/_spec.py), so that drift fails this suite: _spec.py
must be what protocol/generate.py writes, and the package must export every error code
of it, with its class, and use its constants rather than copies."""

from __future__ import annotations

import importlib.util
import json
import pathlib

import pytest

import proletariat
from conftest import REPO
from proletariat import _protocol as proto
from proletariat import _session, _spec, errors, worker

GENERATOR = REPO / "protocol" / "generate.py"
DESCRIPTION = REPO / "protocol" / "protocol.json"


def load_generator():
    if not GENERATOR.exists() or not DESCRIPTION.exists():
        pytest.skip(f"no {GENERATOR.relative_to(REPO)}: the package is tested outside its repository")
    spec = importlib.util.spec_from_file_location("proletariat_protocol_generate", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_spec_py_is_what_the_generator_writes():
    generate = load_generator()
    expected = generate.render_python(json.loads(DESCRIPTION.read_text(encoding="utf-8")))
    written = pathlib.Path(_spec.__file__).read_text(encoding="utf-8")
    assert written == expected, (
        "proletariat/_spec.py is not what protocol/protocol.json gives: run protocol/generate.py "
        "(never edit _spec.py by hand)"
    )


def test_every_error_code_is_exported_with_its_class():
    for code, (cls, meaning) in _spec.ERRORS.items():
        assert getattr(errors, code) == code, code
        assert getattr(proletariat, code) == code, code
        assert code in errors.__all__ and code in proletariat.__all__, code
        assert errors.error_class(code) == cls, code
        assert errors.ERROR_CLASSES[code] == cls and errors.ERROR_MEANINGS[code] == meaning, code
        assert proletariat.ProletariatError(code).error_class == cls, code
    # No code of the binding's own that the description does not have.
    assert set(errors.ERROR_CLASSES) == set(_spec.ERRORS)
    listed = {name for name in errors.__all__ if name.isupper() and name.startswith("E") and "_" not in name}
    assert listed == set(_spec.ERRORS)
    assert errors.error_class("EMYAPP") == "fault"  # application codes
    assert errors._NO_CODE_GIVEN in _spec.ERRORS and proletariat.ProletariatError("").code == errors._NO_CODE_GIVEN


def test_protocol_constants_come_from_the_spec():
    assert proto.SIGNATURE == _spec.SIGNATURE == b"PRO1"
    assert proto.PROTOCOL_VERSION == proletariat.PROTOCOL_VERSION == _spec.PROTOCOL_VERSION
    assert proto.FIXED_FRAMES == _spec.FIXED_FRAMES
    assert proto.MAX_SAFE_INTEGER == _spec.MAX_SAFE_INTEGER == (1 << 53) - 1
    assert proto.DEFAULT_MAX_MESSAGE_BYTES == _spec.MAX_MESSAGE_BYTES
    assert proto.DEFAULT_MAX_FRAMES == _spec.MAX_FRAMES
    # A peer id of 256 bytes is a topic the manager takes (PROTOCOL §8.1); 255 before issue 10.
    assert proto.MAX_TOPIC_BYTES == _spec.MAX_TOPIC_BYTES == 256
    assert (proto.SLOTS_MIN, proto.SLOTS_MAX, proto.SLOTS_DEFAULT) == (
        _spec.SLOTS_MIN, _spec.SLOTS_MAX, _spec.SLOTS_DEFAULT)
    assert worker.MAX_SLOTS == _spec.SLOTS_MAX
    assert proletariat.DEFAULT_ENDPOINT.endswith(f":{_spec.DEFAULT_PORT}")
    assert proto.DEFAULT_CON_RETRY_TIME_S * 1000 == _spec.DEFAULT_CON_RETRY_TIME_MS
    assert _session.DEFAULT_HEARTBEAT_S * 1000 == _spec.DEFAULT_HEARTBEAT_MS
    assert _session.DEFAULT_LIVENESS == _spec.DEFAULT_LIVENESS
    assert proto.encode("HELLO")[:3] == [b"", _spec.SIGNATURE, b"HELLO"]


def test_the_encoder_knows_every_command_a_peer_sends():
    # Commands the binding decodes or sends are the description's.
    from_peer = {name for name, (side, _payloads) in _spec.COMMANDS.items() if side in ("peer", "both")}
    assert {"HELLO", "OFFER", "PUSH", "ABORT", "RESULT", "REJECT", "RECEIVED", "DRAIN", "HEARTBEAT", "BYE",
            "SYSMSG", "SYSACK", "STATUS", "MYSTATUS", "PROGRESS", "DEAD", "GROUPLIMITS"} == from_peer


def test_lifecycle_bounds_come_from_the_spec():
    import proletariat.client as client

    assert proto.MAX_GROUP_BYTES == _spec.MAX_GROUP_BYTES == 256
    assert proto.MAX_RETRIES == _spec.MAX_RETRIES == 100
    client.Retry(_spec.MAX_RETRIES)
    with pytest.raises(proletariat.ProletariatError):
        client.Retry(_spec.MAX_RETRIES + 1)
    proto.check_group("g" * _spec.MAX_GROUP_BYTES)
    with pytest.raises(proletariat.ProletariatError):
        proto.check_group("g" * (_spec.MAX_GROUP_BYTES + 1))
    # The commands whose replies the admin calls wait for are the spec's manager commands.
    assert {"DEADLETTERS", "GROUPLIMITS", "PROGRESS"} <= set(_spec.FROM_MANAGER)
