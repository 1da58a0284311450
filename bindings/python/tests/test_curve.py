"""CURVE on the peer side (PROTOCOL §13), without the real manager: the key files and
the options' checks, then a fake manager whose ROUTER and XPUB are CURVE servers with
a ZAP handler of the test's (both sockets of a peer must connect as CURVE clients; a
refused handshake is logged and retried), and the peer's handling of EDENIED.

The same against proletariatd --curve-keys: tests/test_curve_daemon.py.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
from typing import Any, List, Set, Tuple

import pytest
import zmq
import zmq.utils.z85

from conftest import WAIT, FakeManager, wait_for
from proletariat import (
    EBADFIELD,
    EDENIED,
    ESTATE,
    Client,
    CurveKeyPair,
    CurveOptions,
    ProletariatError,
    Worker,
    generate_curve_key_pair,
    is_z85_key,
    read_public_key_file,
    read_secret_key_file,
    write_key_files,
)

RETRY = 0.05


def bad_field(call, *args, **kwargs) -> str:
    with pytest.raises(ProletariatError) as info:
        call(*args, **kwargs)
    assert info.value.code == EBADFIELD, info.value
    return info.value.message


# --- keys and key files ----------------------------------------------------------------


def test_z85_keys():
    keys = generate_curve_key_pair()
    assert is_z85_key(keys.public_key) and is_z85_key(keys.secret_key)
    assert is_z85_key(keys.public_key.encode())
    assert is_z85_key("0" * 40) and is_z85_key("%nSc0" * 8)  # "%nSc0" is 2**32 - 1 ...
    assert not is_z85_key("%nSc1" + "0" * 35) and not is_z85_key("#" * 40)  # ... one more overflows
    for text in ("", "0" * 39, "0" * 41, "0" * 39 + " ", "0" * 39 + '"', "0" * 39 + "é", None, 40, b"\xff" * 40):
        assert not is_z85_key(text), text


def test_generated_pairs_differ_and_hide_the_secret():
    a, b = generate_curve_key_pair(), generate_curve_key_pair()
    assert a != b
    public, secret = a  # a NamedTuple
    assert (public, secret) == (a.public_key, a.secret_key)
    assert secret not in repr(a)
    assert zmq.curve_public(secret.encode()).decode() == public


def test_read_public_key_file_takes_the_first_line_that_is_not_a_comment(tmp_path):
    key = generate_curve_key_pair().public_key
    path = tmp_path / "w.pub"
    path.write_text(f"# a comment\n\n   \n  {key}  \r\nanything after it\n")
    assert read_public_key_file(path) == key
    assert read_public_key_file(str(path)) == key
    path.write_text(key)  # no newline at all
    assert read_public_key_file(path) == key


@pytest.mark.parametrize("text, what", [
    ("", "holds no key"),
    ("# only a comment\n\n", "holds no key"),
    ("not a key\n", "first line"),
    ("{key}x\n", "first line"),
    ("public = {key}\n", "first line"),
])
def test_bad_public_key_files(tmp_path, text, what):
    path = tmp_path / "bad.pub"
    path.write_text(text.format(key=generate_curve_key_pair().public_key))
    message = bad_field(read_public_key_file, path)
    assert str(path) in message and what in message


def test_an_unreadable_key_file_names_itself(tmp_path):
    missing = tmp_path / "missing.pub"
    assert str(missing) in bad_field(read_public_key_file, missing)
    assert "cannot be read" in bad_field(read_secret_key_file, tmp_path)  # a directory


def test_read_secret_key_file(tmp_path):
    keys = generate_curve_key_pair()
    path = tmp_path / "w.key"
    path.write_text(f"# proletariat CURVE secret key\n\nsecret={keys.secret_key}\n  public   =   {keys.public_key}\n"
                    f"comment = other names are ignored\n")
    assert read_secret_key_file(path) == keys


@pytest.mark.parametrize("text, what", [
    ("", "needs a 'public"),
    ("public = {public}\n", "needs a 'public"),
    ("secret = {secret}\n", "needs a 'public"),
    ("public = {public}\nsecret = {secret}x\n", "needs a 'public"),
    ("the public key\nsecret = {secret}\n", "expected 'public = <z85>'"),  # (Z85 keys may hold a '=')
    ("public = {other}\nsecret = {secret}\n", "not the public key of its secret key"),
])
def test_bad_secret_key_files(tmp_path, text, what):
    keys = generate_curve_key_pair()
    path = tmp_path / "bad.key"
    path.write_text(text.format(public=keys.public_key, secret=keys.secret_key,
                                other=generate_curve_key_pair().public_key))
    message = bad_field(read_secret_key_file, path)
    assert str(path) in message and what in message
    assert keys.secret_key not in message


def test_write_key_files_as_keygen_does(tmp_path):
    keys = generate_curve_key_pair()
    pub, key = write_key_files(tmp_path / "worker-1", keys)
    assert (pub, key) == (str(tmp_path / "worker-1.pub"), str(tmp_path / "worker-1.key"))
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert open(pub).read() == keys.public_key + "\n"
    assert read_public_key_file(pub) == keys.public_key
    assert read_secret_key_file(key) == keys
    with pytest.raises(ProletariatError) as info:  # never overwrites
        write_key_files(tmp_path / "worker-1", generate_curve_key_pair())
    assert info.value.code == ESTATE
    assert read_secret_key_file(key) == keys


# --- CurveOptions, and curve= on Worker and Client -------------------------------------


def test_curve_options_check_every_key():
    server, mine = generate_curve_key_pair(), generate_curve_key_pair()
    options = CurveOptions(server.public_key, mine.public_key, mine.secret_key)
    assert options.keys == mine and options.server_public_key == server.public_key
    assert mine.secret_key not in repr(options)
    # bytes are taken and kept as str
    assert CurveOptions(server.public_key.encode(), mine.public_key.encode(), mine.secret_key.encode()) == options
    assert CurveOptions(server.public_key, *mine) == options
    assert "server_public_key" in bad_field(CurveOptions, "x", *mine)
    assert "public_key" in bad_field(CurveOptions, server.public_key, mine.public_key[:-1], mine.secret_key)
    message = bad_field(CurveOptions, server.public_key, mine.public_key, mine.secret_key + "0")
    assert "secret_key" in message and mine.secret_key not in message
    assert "not the public key" in bad_field(CurveOptions, server.public_key, server.public_key, mine.secret_key)
    bad_field(CurveOptions, server.public_key, mine.public_key, None)


def test_curve_options_from_files(tmp_path):
    server, mine = generate_curve_key_pair(), generate_curve_key_pair()
    (tmp_path / "manager.pub").write_text(server.public_key + "\n")
    (tmp_path / "me.key").write_text(f"public = {mine.public_key}\nsecret = {mine.secret_key}\n")
    options = CurveOptions.from_files(tmp_path / "manager.pub", tmp_path / "me.key")
    assert options == CurveOptions(server.public_key, *mine)
    # The manager's secret key file is no public key file: its first line is "public = ...".
    (tmp_path / "manager.key").write_text(f"public = {server.public_key}\nsecret = {server.secret_key}\n")
    assert "first line" in bad_field(CurveOptions.from_files, tmp_path / "manager.key", tmp_path / "me.key")


@pytest.mark.parametrize("make", [Client, Worker])
def test_peers_take_curve_options_or_a_mapping_and_check_them_at_construction(make):
    server, mine = generate_curve_key_pair(), generate_curve_key_pair()
    options = CurveOptions(server.public_key, *mine)
    endpoint = "tcp://127.0.0.1:1"  # never reached: close() follows at once
    for given in (options, {"server_public_key": server.public_key, "public_key": mine.public_key,
                            "secret_key": mine.secret_key}):
        peer = make(endpoint, curve=given)
        try:
            assert peer.curve == options
        finally:
            peer.close()
    peer = make(endpoint)
    assert peer.curve is None
    peer.close()
    bad_field(make, endpoint, curve={"server_public_key": server.public_key, "public_key": mine.public_key})
    assert "unknown: secret" in bad_field(make, endpoint, curve={"server_public_key": server.public_key,
                                                                  "public_key": mine.public_key,
                                                                  "secret_key": mine.secret_key, "secret": "x"})
    bad_field(make, endpoint, curve={"server_public_key": "short", "public_key": mine.public_key,
                                     "secret_key": mine.secret_key})
    bad_field(make, endpoint, curve=(server.public_key, *mine))
    bad_field(make, endpoint, curve="keys/manager.pub")


# --- a fake manager that runs CURVE ----------------------------------------------------


class CurveFakeManager(FakeManager):
    """FakeManager with CURVE: its ROUTER and an XPUB (pub_port) are CURVE servers, and
    a ZAP handler admits the keys in `allowed`. Every ZAP request is kept in
    `zap_requests` as (socket "router"/"xpub", mechanism, Z85 key)."""

    def __init__(self, allowed: Set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.ctx = zmq.Context()
        self.keys = generate_curve_key_pair()
        self.allowed = set(allowed)
        self.zap_requests: List[Tuple[str, str, str]] = []
        self._zap = self.ctx.socket(zmq.REP)
        self._zap.setsockopt(zmq.LINGER, 0)
        self._zap.bind("inproc://zeromq.zap.01")  # before any server socket takes a connection
        self._stop = threading.Event()
        self._zap_thread = threading.Thread(target=self._serve_zap, name="fake-zap", daemon=True)
        self._zap_thread.start()
        self.router = self._server(zmq.ROUTER, b"router")
        self.port = self.router.bind_to_random_port("tcp://127.0.0.1")
        self.endpoint = f"tcp://127.0.0.1:{self.port}"
        self.xpub = self._server(zmq.XPUB, b"xpub")
        self.pub_port = self.xpub.bind_to_random_port("tcp://127.0.0.1")
        self.last_hello = {}

    def _server(self, kind: int, domain: bytes) -> "zmq.Socket[bytes]":
        socket = self.ctx.socket(kind)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.CURVE_SERVER, 1)
        socket.setsockopt(zmq.CURVE_SECRETKEY, self.keys.secret_key.encode())
        socket.setsockopt(zmq.ZAP_DOMAIN, domain)
        return socket

    def _serve_zap(self) -> None:
        zap = self._zap
        try:
            while not self._stop.is_set():
                if not zap.poll(20):
                    continue
                frames = zap.recv_multipart()
                version, request_id, domain, _address, _identity, mechanism = frames[:6]
                key = zmq.utils.z85.encode(frames[6]).decode() if mechanism == b"CURVE" else ""
                self.zap_requests.append((domain.decode(), mechanism.decode(), key))
                ok = mechanism == b"CURVE" and key in self.allowed
                zap.send_multipart([version, request_id, b"200" if ok else b"400", b"OK" if ok else b"not listed",
                                    key.encode(), b""])
        finally:
            zap.close(linger=0)

    def options(self, keys: CurveKeyPair) -> CurveOptions:
        return CurveOptions(self.keys.public_key, *keys)

    def close(self) -> None:
        self._stop.set()
        self._zap_thread.join(WAIT)
        self.xpub.close(linger=0)
        super().close()


@pytest.fixture
def curve_manager():
    manager = CurveFakeManager()
    yield manager
    manager.close()


def logged(caplog, text: str) -> List[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "proletariat" and text in r.getMessage()]


@pytest.mark.parametrize("role", ["client", "worker"])
def test_a_listed_key_registers_and_subscribes_over_curve(curve_manager, closing, role):
    """Both sockets are CURVE clients with the peer's key: the command socket's HELLO
    and the system-message SUB's subscription pass the ZAP handler, and a system
    message reaches the application."""
    keys = generate_curve_key_pair()
    curve_manager.allowed.add(keys.public_key)
    options = curve_manager.options(keys)
    got: List[Any] = []
    if role == "client":
        peer = closing(Client(curve_manager.endpoint, con_retry_time=RETRY, curve=options))
    else:
        peer = closing(Worker(curve_manager.endpoint, handler=lambda job: None, con_retry_time=RETRY, curve=options))
        peer.start()
    peer.on_sysmsg(lambda content, sender: got.append((content, sender)))
    rid = curve_manager.welcome("fake.1", pub_port=curve_manager.pub_port)
    if role == "worker":
        _, header, _ = curve_manager.expect("OFFER")
        curve_manager.send(rid, "OFFERED", {"slots": header["slots"], "ranges": []})
        assert peer.wait_ready(WAIT)
    assert curve_manager.xpub.poll(WAIT * 1000), "no subscription reached the CURVE XPUB"
    assert curve_manager.xpub.recv() == b"\x01fake.1"
    assert ("router", "CURVE", keys.public_key) in curve_manager.zap_requests
    assert ("xpub", "CURVE", keys.public_key) in curve_manager.zap_requests
    curve_manager.xpub.send_multipart([b"fake.1", b"PRO1", b"SYSMSG", json.dumps({"msg": 7, "from": "MANAGER"}).encode(),
                                       b'{"hello":"curve"}'])
    _, header, _ = curve_manager.expect("SYSACK")
    assert header == {"msg": 7}
    assert got == [({"hello": "curve"}, "MANAGER")]


def test_an_unlisted_key_never_registers_and_the_refusal_is_logged(curve_manager, closing, caplog):
    caplog.set_level(logging.DEBUG, logger="proletariat")
    keys = generate_curve_key_pair()  # not in curve_manager.allowed
    client = closing(Client(curve_manager.endpoint, con_retry_time=RETRY, curve=curve_manager.options(keys)))
    wait_for(lambda: logged(caplog, f"refused this client's CURVE key {keys.public_key} (ZAP status 400)"),
             "the refusal in the log")
    # Refused at the handshake: no HELLO ever reached the manager. It tries again
    # after its retry time, logging the same refusal only once.
    wait_for(lambda: len(curve_manager.zap_requests) >= 3, "the client's attempts to be retried")
    assert not curve_manager.router.poll(0)
    assert not client.connected
    errors = [r for r in logged(caplog, "refused this client's CURVE key") if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert keys.secret_key not in caplog.text
    # Once the key is listed, the next attempt gets through.
    curve_manager.allowed.add(keys.public_key)
    curve_manager.welcome("fake.2")
    assert client.wait_connected(WAIT)


def test_a_peer_without_curve_is_told_that_the_manager_requires_it(curve_manager, closing, caplog):
    client = closing(Client(curve_manager.endpoint, con_retry_time=RETRY))
    wait_for(lambda: logged(caplog, "curve="), "the handshake failure in the log")
    assert not curve_manager.router.poll(0)
    assert not client.connected
    # libzmq stops such a peer in the greeting, before any ZAP request.
    assert all(mechanism == "CURVE" for _, mechanism, _ in curve_manager.zap_requests)


def test_a_wrong_server_key_fails_the_handshake(curve_manager, closing, caplog):
    keys = generate_curve_key_pair()
    curve_manager.allowed.add(keys.public_key)
    wrong = generate_curve_key_pair().public_key
    client = closing(Client(curve_manager.endpoint, con_retry_time=RETRY, curve=CurveOptions(wrong, *keys)))
    wait_for(lambda: logged(caplog, f"is server_public_key {wrong} the manager's public key?"),
             "the handshake failure in the log")
    assert not curve_manager.router.poll(0)
    assert not client.connected


def test_curve_options_at_a_manager_without_curve(fake_manager, closing, caplog):
    server, keys = generate_curve_key_pair(), generate_curve_key_pair()
    client = closing(Client(fake_manager.endpoint, con_retry_time=RETRY, curve=CurveOptions(server.public_key, *keys)))
    wait_for(lambda: logged(caplog, "CURVE"), "the handshake failure in the log")
    assert not fake_manager.router.poll(0)
    assert not client.connected


# --- EDENIED ---------------------------------------------------------------------------


def denied(command: str, req: Any = None) -> dict:
    header = {"code": EDENIED, "class": "request", "command": command,
              "message": f"this key may not {command} (roles: worker)"}
    if req is not None:
        header["req"] = req
    return header


def test_a_push_refused_with_edenied_fails_its_jobs_and_the_session_goes_on(fake_manager, closing):
    client = closing(Client(fake_manager.endpoint, con_retry_time=RETRY))
    rid = fake_manager.welcome()
    assert client.wait_connected(WAIT)
    future = client.submit([1, 2, 3])
    _, header, payloads = fake_manager.expect("PUSH")
    assert len(payloads) == 3
    fake_manager.send(rid, "ERROR", denied("PUSH", header["req"]))
    results = future.result(WAIT)
    assert [r.err.code for r in results] == [EDENIED] * 3
    assert results[0].err.error_class == "request" and "may not PUSH" in results[0].err.message
    with pytest.raises(ProletariatError) as info:
        results[0].value()
    assert info.value.code == EDENIED
    # Nothing is pushed again; the next request is pushed (and refused) on its own.
    assert client.connected and client.pending == 0
    second = client.submit(4)
    _, header, _ = fake_manager.expect("PUSH")
    fake_manager.send(rid, "ERROR", denied("PUSH", header["req"]))
    assert second.result(WAIT).err.code == EDENIED
    fake_manager.nothing(0.2)


def test_status_refused_with_edenied_raises_it(fake_manager, closing):
    client = closing(Client(fake_manager.endpoint, con_retry_time=RETRY))
    rid = fake_manager.welcome()
    future = client._control("STATUS", {}, [])
    _, header, _ = fake_manager.expect("STATUS")
    fake_manager.send(rid, "ERROR", denied("STATUS", header["req"]))
    with pytest.raises(ProletariatError) as info:
        future.result(WAIT)
    assert info.value.code == EDENIED


def test_an_offer_refused_with_edenied_is_reported_once_and_made_again_next_session(fake_manager, closing, caplog):
    worker = closing(Worker(fake_manager.endpoint, handler=lambda job: None, con_retry_time=RETRY))
    worker.start()
    rid = fake_manager.welcome()
    fake_manager.expect("OFFER")
    fake_manager.send(rid, "ERROR", denied("OFFER"))
    assert worker.wait_ready(WAIT) is False  # at once: the refusal, not the timeout, ends the wait
    assert worker.offer_error is not None and worker.offer_error.code == EDENIED
    assert worker.connected and not worker.ready
    assert [r.levelno for r in logged(caplog, "refused the offer with EDENIED")] == [logging.ERROR]
    # It does not offer again in this session (heartbeats go on)...
    fake_manager.nothing(0.3)
    # ... but does in the next one (the manager may have given its key the worker role).
    fake_manager.send(rid, "BYE", {"reason": "key revoked"})
    rid = fake_manager.welcome("fake.2")
    _, header, _ = fake_manager.expect("OFFER")
    assert worker.offer_error is None
    fake_manager.send(rid, "OFFERED", {"slots": header["slots"], "ranges": []})
    assert worker.wait_ready(WAIT)
