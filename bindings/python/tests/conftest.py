"""Fixtures: a real proletariatd on loopback ports it picks and announces, and a fake manager.

The daemon is found through $PROLETARIAT_DAEMON, else <repo>/build/broker/proletariatd.
Every wait has a timeout of a few seconds and a message that says what was awaited.
"""

from __future__ import annotations

import collections
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence

import pytest
import zmq

HERE = pathlib.Path(__file__).resolve().parent
PACKAGE_ROOT = HERE.parent
REPO = PACKAGE_ROOT.parent.parent
sys.path.insert(0, str(PACKAGE_ROOT))

#: Seconds any single wait in the tests may take before it fails.
WAIT = 5.0
#: Heartbeat settings of every test daemon: 50 ms x 10, so losses show within 500 ms.
#: $PROLETARIAT_TEST_LIVENESS: 10 x 50 ms by default, so a loaded CI machine is not taken for a dead peer
#: (the tests that lose the manager on purpose only get slower).
HEARTBEAT_MS = 50
LIVENESS = int(os.environ.get("PROLETARIAT_TEST_LIVENESS", "10"))
#: Reconnect delay of test peers, in seconds.
RETRY = 0.05
#: Reconnect delay of test peers that hear a manager's BYE on SIGTERM, in seconds: the
#: stopping manager stays bound a moment after its BYE (up to the daemon's 100 ms
#: signal tick) and a HELLO that reaches it then is lost, so that its peer waits a whole
#: default liveness window (5 s) for a WELCOME. Later, the HELLO meets the next one.
RETRY_AFTER_BYE = 0.5


def daemon_path() -> pathlib.Path:
    return pathlib.Path(os.environ.get("PROLETARIAT_DAEMON", REPO / "build" / "broker" / "proletariatd"))


_DAEMON_HELP: Optional[str] = None


def daemon_help() -> str:
    """The daemon's --help text ("" when it cannot be run), read once per test run."""
    global _DAEMON_HELP
    if _DAEMON_HELP is None:
        try:
            done = subprocess.run([str(daemon_path()), "--help"], stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=WAIT)
            _DAEMON_HELP = (done.stdout + done.stderr).decode("utf-8", "replace")
        except (OSError, subprocess.SubprocessError):
            _DAEMON_HELP = ""
    return _DAEMON_HELP


def daemon_has_flag(flag: str) -> bool:
    """True when the daemon's --help names `flag` (e.g. "--journal")."""
    return re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", daemon_help()) is not None


#: Tests of the manager's durability (PROTOCOL §12: --journal, --drain-timeout, SIGTERM
#: drains, DRAIN): skipped only while the build's daemon does not have --journal yet.
needs_journal = pytest.mark.skipif(
    not daemon_has_flag("--journal"),
    reason="the build's proletariatd --help does not mention --journal (the manager's durability is not built yet)",
)


def wait_for(condition: Callable[[], Any], what: str, timeout: float = WAIT, interval: float = 0.005) -> Any:
    """Polls `condition` until it returns something truthy; fails the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class DaemonStdout:
    """Reads a daemon's stdout on a thread: the first line is its --announce line, the
    rest is kept (the last lines) so that the pipe never fills and blocks it."""

    def __init__(self, stream: Any) -> None:
        self.first: Optional[str] = None
        self.later: Deque[str] = collections.deque(maxlen=50)
        self._stream = stream
        self._done = threading.Event()  # the first line, or the end of the stream
        self._thread = threading.Thread(target=self._read, name="proletariatd-stdout", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for raw in self._stream:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                if self.first is None:
                    self.first = line
                    self._done.set()
                else:
                    self.later.append(line)
        except (OSError, ValueError):
            pass  # closed under us at teardown
        finally:
            self._done.set()

    def first_line(self, timeout: float) -> Optional[str]:
        """The first line, once written; None at the end of the stream or after `timeout`."""
        self._done.wait(max(timeout, 0.0))
        return self.first

    def close(self) -> None:
        """After the process ended: the reader meets the end of the pipe."""
        self._thread.join(WAIT)
        self._stream.close()


class Daemon:
    """A proletariatd process on two loopback ports the kernel picked; restartable on
    the same ports.

    It binds tcp://127.0.0.1:* twice (what --port 0 does on every interface) and says
    which ports it got in its --announce line, so no test probes for a free port and
    races another process for it between the probe and the bind. Its stdin is a pipe
    this process holds, with --parent-watch: if the test run dies, so does the daemon.
    """

    def __init__(self, extra_args: Sequence[str] = ()) -> None:
        path = daemon_path()
        if not path.exists():
            pytest.fail(f"no manager daemon at {path}: build it or set PROLETARIAT_DAEMON")
        self.path = path
        self.port = 0  # known once the first start announced them
        self.pub_port = 0
        self.endpoint = ""
        self.pub_endpoint = ""
        self.extra_args = list(extra_args)
        self.log = tempfile.NamedTemporaryFile(prefix="proletariatd-", suffix=".log", delete=False)
        self.process: Optional[subprocess.Popen] = None  # type: ignore[type-arg]
        self.stdout: Optional[DaemonStdout] = None
        self.start()

    def _args(self) -> List[str]:
        if self.port:  # a restart: the ports the peers know
            binds = ["--endpoint", self.endpoint, "--pub-endpoint", self.pub_endpoint]
        else:
            binds = ["--endpoint", "tcp://127.0.0.1:*", "--pub-endpoint", "tcp://127.0.0.1:*"]
        return [
            str(self.path),
            *binds,
            "--announce",
            "--parent-watch",
            "--heartbeat-interval",
            str(HEARTBEAT_MS),
            "--heartbeat-liveness",
            str(LIVENESS),
            *self.extra_args,
        ]

    def start(self) -> None:
        """Starts the daemon and waits for its announce line (it is bound then)."""
        args = self._args()
        deadline = time.monotonic() + WAIT
        while True:
            self.process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log)
            self.stdout = DaemonStdout(self.process.stdout)
            line = self.stdout.first_line(deadline - time.monotonic())
            if line is not None:
                break
            exited = self.process.poll() is not None
            self._end_process()
            # A restart may find its port still held for a moment (the daemon exits
            # at once, unable to bind): try again until the deadline.
            if not (exited and self.port) or time.monotonic() >= deadline:
                pytest.fail(
                    f"proletariatd {'exited' if exited else 'wrote nothing'} without announcing its endpoints "
                    f"within {WAIT} s ({' '.join(args)}); log:\n{self.log_text()}"
                )
            time.sleep(0.01)  # the old process's port is released by the kernel: nothing to wait on
        self._take_announce(line, args)

    def _take_announce(self, line: str, args: Sequence[str]) -> None:
        try:
            ready = json.loads(line)
        except ValueError:
            ready = None
        ok = (
            isinstance(ready, dict)
            and ready.get("event") == "ready"
            and all(isinstance(ready.get(k), int) and 0 < ready[k] < 65536 for k in ("port", "pub_port"))
        )
        if not ok:
            self._end_process()
            pytest.fail(f"proletariatd's first line is not its ready announcement: {line!r} ({' '.join(args)}); "
                        f"log:\n{self.log_text()}")
        if self.port and (ready["port"], ready["pub_port"]) != (self.port, self.pub_port):
            self._end_process()
            pytest.fail(f"proletariatd restarted on {ready}, not on its ports {self.port} and {self.pub_port}")
        self.port, self.pub_port = ready["port"], ready["pub_port"]
        self.endpoint = f"tcp://127.0.0.1:{self.port}"
        self.pub_endpoint = f"tcp://127.0.0.1:{self.pub_port}"

    def _end_process(self) -> None:
        """Kills the process if it still runs and releases its pipes."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait(WAIT)
        if process.stdin is not None:
            process.stdin.close()
        if self.stdout is not None:
            self.stdout.close()

    def kill(self) -> None:
        """SIGKILL: the manager vanishes without a word."""
        self._end_process()

    def terminate(self) -> None:
        """SIGTERM: the manager says BYE to every peer and exits."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(WAIT)
            except subprocess.TimeoutExpired:
                self._end_process()
                pytest.fail("proletariatd did not stop on SIGTERM within the wait")
        self._end_process()

    def send_sigterm(self) -> None:
        """SIGTERM without waiting: a manager with a journal drains first (PROTOCOL §12)."""
        assert self.process is not None and self.process.poll() is None, "the daemon is not running"
        self.process.send_signal(signal.SIGTERM)

    def wait_exit(self, timeout: float = WAIT) -> int:
        """Waits for the process to end by itself; its exit status."""
        assert self.process is not None
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"proletariatd did not exit within {timeout} s; log:\n{self.log_text()}")
        self._end_process()
        return code

    def restart(self, kill: bool = True) -> None:
        self.kill() if kill else self.terminate()
        self.start()

    def log_text(self) -> str:
        try:
            text = pathlib.Path(self.log.name).read_text(errors="replace")[-4000:]
        except OSError:
            text = "(no log)"
        if self.stdout is not None and self.stdout.later:
            text += "\n--- stdout after the announce line\n" + "\n".join(self.stdout.later)
        return text

    def close(self) -> None:
        self.kill()
        self.log.close()
        try:
            os.unlink(self.log.name)
        except OSError:
            pass


@pytest.fixture
def daemon(request: pytest.FixtureRequest):
    """A fresh manager per test. Extra flags: @pytest.mark.daemon_args("--flag", "value")."""
    marker = request.node.get_closest_marker("daemon_args")
    d = Daemon(marker.args if marker else ())
    yield d
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        print(f"--- proletariatd log ---\n{d.log_text()}")
    d.close()


@pytest.fixture
def journal_daemon(request: pytest.FixtureRequest, tmp_path: pathlib.Path):
    """A manager with a journal in a fresh directory (restarts keep it): PROTOCOL §12.
    Extra flags: @pytest.mark.daemon_args(...). Its directory is `journal_dir`."""
    marker = request.node.get_closest_marker("daemon_args")
    directory = tmp_path / "journal"
    directory.mkdir()
    d = Daemon(["--journal", str(directory), *(marker.args if marker else ())])
    d.journal_dir = directory  # type: ignore[attr-defined]
    yield d
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        print(f"--- proletariatd log ---\n{d.log_text()}")
    d.close()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any):  # type: ignore[no-untyped-def]
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "daemon_args(*args): extra proletariatd flags for the daemon fixture")


class Closer:
    """Closes Clients and Workers at teardown, even when a test fails."""

    def __init__(self) -> None:
        self.items: List[Any] = []

    def __call__(self, item: Any) -> Any:
        self.items.append(item)
        return item

    def close_all(self) -> None:
        for item in reversed(self.items):
            try:
                item.close(timeout=2.0)
            except Exception:
                pass


@pytest.fixture
def closing():
    """closing(obj) registers a Client/Worker to be closed at teardown; returns obj."""
    c = Closer()
    yield c
    c.close_all()


@pytest.fixture
def make_worker(daemon: Daemon, closing: Closer):
    """make_worker(handler, **options): a started Worker whose offer was accepted."""
    from proletariat import Worker

    def make(handler: Optional[Callable[..., Any]] = None, **options: Any) -> Worker:
        options.setdefault("con_retry_time", RETRY)
        worker = closing(Worker(daemon.endpoint, handler=handler, **options))
        worker.start()
        assert worker.wait_ready(WAIT), "worker offer not accepted within the wait"
        return worker

    return make


@pytest.fixture
def make_client(daemon: Daemon, closing: Closer):
    """make_client(**options): a connected Client."""
    from proletariat import Client

    def make(**options: Any) -> Client:
        options.setdefault("con_retry_time", RETRY)
        client = closing(Client(daemon.endpoint, **options))
        assert client.wait_connected(WAIT), "client not registered within the wait"
        return client

    return make


# --- a fake manager, for checking the wire protocol frame by frame -------------------


class FakeManager:
    """A ROUTER on a free loopback port that the test drives by hand."""

    def __init__(self) -> None:
        self.ctx = zmq.Context()
        self.router = self.ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.port = self.router.bind_to_random_port("tcp://127.0.0.1")
        self.endpoint = f"tcp://127.0.0.1:{self.port}"
        self.last_hello: Dict[str, Any] = {}

    def recv(self, timeout: float = WAIT, skip_heartbeats: bool = True):  # type: ignore[no-untyped-def]
        """(routing id, command, header, payloads) of the next message."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self.router.poll(int(left * 1000) + 1, zmq.POLLIN):
                pytest.fail(f"fake manager: no message within {timeout} s")
            frames = self.router.recv_multipart()
            rid, empty, signature, command, header = frames[:5]
            assert empty == b"" and signature == b"PRO1", frames
            if skip_heartbeats and command == b"HEARTBEAT":
                continue
            return rid, command.decode(), (json.loads(header) if header else {}), frames[5:]

    def expect(self, command: str, timeout: float = WAIT):  # type: ignore[no-untyped-def]
        rid, got, header, payloads = self.recv(timeout)
        assert got == command, f"expected {command}, got {got} {header}"
        return rid, header, payloads

    def nothing(self, within: float, ignore: Sequence[str] = ("HEARTBEAT",)) -> None:
        """Asserts that no message other than `ignore` arrives within `within` seconds."""
        deadline = time.monotonic() + within
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self.router.poll(int(left * 1000) + 1, zmq.POLLIN):
                return
            frames = self.router.recv_multipart()
            if frames[3].decode() not in ignore:
                pytest.fail(f"fake manager: unexpected {frames[3].decode()} {frames[4:]}")

    def send(self, rid: bytes, command: str, header: Optional[Dict[str, Any]] = None, payloads: Sequence[bytes] = ()) -> None:
        head = json.dumps(header).encode() if header else b""
        self.router.send_multipart([rid, b"", b"PRO1", command.encode(), head, *payloads])

    def welcome(self, peer_id: str = "fake.1", heartbeat_ms: int = 1000, liveness: int = 5, **fields: Any) -> bytes:
        """Awaits HELLO and answers WELCOME (with `fields` added, e.g. journal="j1");
        returns the peer's routing id. The HELLO's header is kept as `last_hello`.

        The default heartbeat is slow (1 s x 5) so that a test that does not answer
        heartbeats keeps its peer; tests of liveness pass their own."""
        rid, header, _ = self.expect("HELLO")
        assert header.get("lang") == "python"
        self.last_hello = header
        self.send(rid, "WELCOME", {"id": peer_id, "protocol": 1, "heartbeat_ms": heartbeat_ms, "liveness": liveness,
                                   **fields})
        return rid

    def close(self) -> None:
        self.router.close(linger=0)
        self.ctx.term()


@pytest.fixture
def fake_manager():
    m = FakeManager()
    yield m
    m.close()
