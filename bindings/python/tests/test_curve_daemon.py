"""CURVE and roles against the real manager (PROTOCOL §13): proletariatd with
--curve-secret-key and --curve-keys, on a key directory each test writes by hand in
the formats of §13 (keys from zmq.curve_keypair).

Skipped only while the build's proletariatd --help does not mention --curve-keys.
The peer side alone, against a fake CURVE manager: tests/test_curve.py.
"""

from __future__ import annotations

import logging
import pathlib
import signal
from typing import Any, Dict, List

import pytest
import zmq
from zmq.utils.monitor import recv_monitor_message

from conftest import RETRY, WAIT, Daemon, daemon_has_flag, wait_for
from proletariat import EDENIED, Client, CurveKeyPair, CurveOptions, ProletariatError, Worker

pytestmark = pytest.mark.skipif(
    not daemon_has_flag("--curve-keys"),
    reason="the build's proletariatd --help does not mention --curve-keys (the manager's CURVE is not built yet)",
)

#: The key pairs of the tests, and where each public key is listed (None: nowhere).
ROLES = {
    "worker": "workers",
    "client": "clients",
    "client2": "clients",
    "admin": "admins",
    "unlisted": None,
}


def key_pair() -> CurveKeyPair:
    public, secret = zmq.curve_keypair()
    return CurveKeyPair(public.decode(), secret.decode())


class CurveSetup:
    """A key directory (workers/, clients/, admins/), the manager's secret key file,
    and the daemon that reads them."""

    def __init__(self, root: pathlib.Path) -> None:
        self.dir = root / "keys"
        for sub in ("workers", "clients", "admins"):
            (self.dir / sub).mkdir(parents=True)
        self.manager = key_pair()
        self.manager_key_file = root / "manager.key"
        self.manager_key_file.write_text(f"# the manager's key pair\npublic = {self.manager.public_key}\n"
                                         f"secret = {self.manager.secret_key}\n")
        self.manager_key_file.chmod(0o600)
        self.keys: Dict[str, CurveKeyPair] = {}
        for name, role in ROLES.items():
            self.keys[name] = key_pair()
            if role is not None:
                self.list_key(name, role)
        self.daemon = Daemon(["--curve-secret-key", str(self.manager_key_file), "--curve-keys", str(self.dir)])

    def key_file(self, name: str, role: str) -> pathlib.Path:
        return self.dir / role / f"{name}.pub"

    def list_key(self, name: str, role: str) -> None:
        self.key_file(name, role).write_text(f"# {name}\n{self.keys[name].public_key}\n")

    def options(self, name: str) -> CurveOptions:
        return CurveOptions(self.manager.public_key, *self.keys[name])

    def sighup(self) -> None:
        assert self.daemon.process is not None and self.daemon.process.poll() is None
        self.daemon.process.send_signal(signal.SIGHUP)


@pytest.fixture
def curve(request: pytest.FixtureRequest, tmp_path: pathlib.Path):
    setup = CurveSetup(tmp_path)
    yield setup
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        print(f"--- proletariatd log ---\n{setup.daemon.log_text()}")
    setup.daemon.close()


@pytest.fixture
def peers(curve: CurveSetup, closing):
    """peers.worker(key name, handler, **options) and peers.client(key name, **options);
    key name None connects without CURVE. Neither waits for anything."""

    class Peers:
        @staticmethod
        def worker(name: Any, handler, **options: Any) -> Worker:
            options.setdefault("con_retry_time", RETRY)
            worker = closing(Worker(curve.daemon.endpoint, handler=handler,
                                    curve=curve.options(name) if name else None, **options))
            worker.start()
            return worker

        @staticmethod
        def client(name: Any, **options: Any) -> Client:
            options.setdefault("con_retry_time", RETRY)
            return closing(Client(curve.daemon.endpoint, curve=curve.options(name) if name else None, **options))

    return Peers()


def logged(caplog, text: str) -> List[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "proletariat" and text in r.getMessage()]


def square(job):
    return job.args * job.args


def ready_pair(peers):
    worker = peers.worker("worker", square)
    assert worker.wait_ready(WAIT), f"the listed worker's offer was not accepted: {worker.offer_error}"
    client = peers.client("client")
    assert client.wait_connected(WAIT), "the listed client did not register"
    return worker, client


def test_listed_keys_exchange_jobs_and_system_messages(peers):
    worker, client = ready_pair(peers)
    assert [r.value() for r in client.work([1, 2, 3], timeout=WAIT)] == [1, 4, 9]
    # The system-message channel runs CURVE too: the worker's SUB is subscribed.
    got: List[Any] = []
    worker.on_sysmsg(lambda content, sender: got.append((content, sender)))
    assert client.system_message({"over": "curve"}, to=worker.id, timeout=WAIT) == (1, 1)
    assert got == [({"over": "curve"}, client.id)]


def test_an_unlisted_key_never_registers_while_the_listed_ones_work(curve, peers, caplog):
    worker, client = ready_pair(peers)
    intruder = peers.client("unlisted")
    wait_for(lambda: logged(caplog, f"refused this client's CURVE key {curve.keys['unlisted'].public_key}"),
             "the manager's refusal of the unlisted key")
    assert not intruder.connected and intruder.id == ""
    assert client.work(5, timeout=WAIT).value() == 25
    assert not intruder.connected


def test_a_peer_without_curve_is_refused(peers, caplog):
    worker, client = ready_pair(peers)
    plain = peers.client(None)
    wait_for(lambda: logged(caplog, "curve="), "the failed handshake of the peer without CURVE")
    assert not plain.connected
    assert client.work(6, timeout=WAIT).value() == 36


def test_a_worker_key_that_pushes_gets_edenied(peers):
    worker, _client = ready_pair(peers)
    pusher = peers.client("worker")  # the worker's key: registered, but no client
    assert pusher.wait_connected(WAIT), "a listed key registers whatever its role"
    results = pusher.work([1, 2], timeout=WAIT)
    assert [r.err.code if r.err else None for r in results] == [EDENIED, EDENIED]
    assert pusher.connected  # the session goes on
    assert worker.running == 0


def test_a_client_key_that_offers_gets_edenied(peers):
    worker, client = ready_pair(peers)
    ran_on: List[str] = []
    impostor = peers.worker("client", lambda job: ran_on.append("impostor"))
    assert impostor.wait_ready(WAIT) is False
    assert impostor.offer_error is not None and impostor.offer_error.code == EDENIED
    assert impostor.connected
    assert [r.value() for r in client.work(list(range(20)), timeout=WAIT)] == [n * n for n in range(20)]
    assert ran_on == []


def test_status_needs_an_admin_key_and_names_every_peer_by_its_key(curve, peers):
    worker, client = ready_pair(peers)
    assert client.work(2, timeout=WAIT).value() == 4  # a client that pushed is listed in status
    with pytest.raises(ProletariatError) as info:
        client.status(timeout=WAIT)
    assert info.value.code == EDENIED
    mine = client.my_status(timeout=WAIT)  # any listed key
    assert mine["id"] == client.id and mine["key"] == curve.keys["client"].public_key
    admin = peers.client("admin")
    assert admin.wait_connected(WAIT)
    status = admin.status(timeout=WAIT)
    assert [w["key"] for w in status["workers"]] == [curve.keys["worker"].public_key]
    assert [c["key"] for c in status["clients"]] == [curve.keys["client"].public_key]


def test_a_key_removed_then_sighup_disconnects_that_peer_only(curve, peers, caplog):
    worker, client = ready_pair(peers)
    other = peers.client("client2")
    assert other.wait_connected(WAIT)
    ids = (worker.id, other.id)
    curve.key_file("client", "clients").unlink()
    curve.sighup()
    wait_for(lambda: not client.connected, "the revoked client to be disconnected")
    wait_for(lambda: logged(caplog, "key revoked"), "the manager's BYE with the reason 'key revoked'")
    wait_for(lambda: logged(caplog, f"refused this client's CURVE key {curve.keys['client'].public_key}"),
             "the revoked key to be refused when it registers again")
    assert not client.connected
    assert other.work([7, 8], timeout=WAIT)[1].value() == 64
    assert (worker.id, other.id) == ids and worker.connected and other.connected
    # Listed again (and SIGHUP), the key registers again.
    curve.list_key("client", "clients")
    curve.sighup()
    assert client.wait_connected(WAIT)
    assert client.work(3, timeout=WAIT).value() == 9


def rogue_sub(context: zmq.Context, endpoint: str, options: Any = None):
    """A SUB on the system-message port that subscribes to everything, and the
    monitor that reports its failed handshakes."""
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    if options is not None:
        sub.setsockopt(zmq.CURVE_SERVERKEY, options.server_public_key.encode())
        sub.setsockopt(zmq.CURVE_PUBLICKEY, options.public_key.encode())
        sub.setsockopt(zmq.CURVE_SECRETKEY, options.secret_key.encode())
    monitor = sub.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                                     | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_SUCCEEDED)
    sub.connect(endpoint)
    return sub, monitor


def test_an_unauthenticated_sub_on_the_system_message_port_receives_nothing(curve, peers):
    worker, client = ready_pair(peers)
    got: List[Any] = []
    worker.on_sysmsg(lambda content, sender: got.append(content))
    context = zmq.Context()
    subs = [rogue_sub(context, curve.daemon.pub_endpoint),  # no CURVE
            rogue_sub(context, curve.daemon.pub_endpoint, curve.options("unlisted"))]
    try:
        for sub, monitor in subs:
            assert monitor.poll(WAIT * 1000), "the rogue SUB's handshake neither failed nor succeeded"
            event = recv_monitor_message(monitor)["event"]
            assert event != zmq.EVENT_HANDSHAKE_SUCCEEDED, "the manager's XPUB let a rogue SUB in"
        for n in range(3):
            assert client.system_message({"secret": n}, to=worker.id, timeout=WAIT) == (1, 1)
        assert got == [{"secret": 0}, {"secret": 1}, {"secret": 2}]
        for sub, monitor in subs:
            # The messages were delivered to the worker's SUB: none went here.
            assert not sub.poll(100), f"a rogue SUB received {sub.recv_multipart()}"
            while monitor.poll(0):
                assert recv_monitor_message(monitor)["event"] != zmq.EVENT_HANDSHAKE_SUCCEEDED
    finally:
        for sub, monitor in subs:
            sub.disable_monitor()
            monitor.close(linger=0)
            sub.close(linger=0)
        context.term()


def test_a_listed_key_cannot_read_another_peers_system_messages(curve, peers):
    """Issue 12, item 7: the channel grants a peer's topic only to that peer's key. A
    listed client's SUB passes the handshake, subscribes to everything and to the
    worker's id, and reads nothing; the worker reads its own."""
    worker, client = ready_pair(peers)
    got: List[Any] = []
    worker.on_sysmsg(lambda content, sender: got.append(content))
    admin = peers.client("admin")
    assert admin.wait_connected(WAIT)
    refused_before = admin.status(timeout=WAIT)["subscriptionsRefused"]
    context = zmq.Context()
    sub, monitor = rogue_sub(context, curve.daemon.pub_endpoint, curve.options("client2"))
    try:
        sub.setsockopt(zmq.SUBSCRIBE, worker.id.encode())
        assert monitor.poll(WAIT * 1000), "the listed SUB's handshake did not end"
        assert recv_monitor_message(monitor)["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED
        wait_for(lambda: admin.status(timeout=WAIT)["subscriptionsRefused"] >= refused_before + 2,
                 "the manager to refuse both subscriptions of the other key")
        for n in range(3):
            assert client.system_message({"secret": n}, to=worker.id, timeout=WAIT) == (1, 1)
        assert admin.system_message({"for": "everybody"}, timeout=WAIT)[1] >= 2
        assert got == [{"secret": 0}, {"secret": 1}, {"secret": 2}, {"for": "everybody"}]
        assert not sub.poll(100), f"another key's SUB received {sub.recv_multipart()}"
    finally:
        sub.disable_monitor()
        monitor.close(linger=0)
        sub.close(linger=0)
        context.term()
