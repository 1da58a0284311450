"""Fixtures of the cross-language interop tests.

One real `proletariatd` per test, on loopback ports it picks and announces
(--announce; heartbeat 50 ms, liveness 20: see HEARTBEAT_MS), and peers in three languages joining it:

- Python: the binding in <repo>/bindings/python, imported in this process;
- Node.js: the small scripts beside this file (node_worker.js, node_client.js,
  node_peer.js), run as child processes over <repo>/bindings/node (which needs its
  node_modules: `cd bindings/node && npm ci`);
- C++: the programs of the build tree (<repo>/build, or $PROLETARIAT_BUILD_DIR).

Child processes print machine-readable lines on stdout; `Proc` collects them and
waits for a line with a bound. Every child, Python peer and daemon is stopped at
teardown, whatever the outcome of the test. Every wait is bounded by a few seconds
and fails with a message that says what did not happen.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import pytest

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "bindings" / "python"))

import zmq  # noqa: E402  (Debian's pyzmq; the binding needs it too)

import proletariat  # noqa: E402,F401  (fails here, clearly, if the binding is not importable)

#: Seconds a single wait may take before the test fails.
WAIT = 5.0
#: Heartbeats of the test daemon: 50 ms, as in the binding tests, but a liveness of 20
#: (a 1 s window) rather than 3. These tests do not exercise failure detection, and
#: with 150 ms a loaded CI machine (two cores shared with compilers) now and then
#: starves a peer that long: the manager drops it, it registers again under a new id,
#: and a test that counts peers or compares ids fails for no fault of the code under
#: test. The window also bounds how long the manager waits for a new peer's
#: subscription before it leaves the peer out of a broadcast (PROTOCOL §8.2).
HEARTBEAT_MS = int(os.environ.get("PROLETARIAT_INTEROP_HEARTBEAT_MS", "50"))
LIVENESS = int(os.environ.get("PROLETARIAT_INTEROP_LIVENESS", "20"))

BUILD_DIR = pathlib.Path(os.environ.get("PROLETARIAT_BUILD_DIR", str(REPO / "build")))
DAEMON = pathlib.Path(os.environ.get("PROLETARIAT_DAEMON", str(BUILD_DIR / "broker" / "proletariatd")))
NODE_BINDING = REPO / "bindings" / "node"


def cpp_program(relative: str) -> str:
    """Path of a program of the C++ build tree; fails the test if it is not built."""
    path = BUILD_DIR / relative
    if not path.exists():
        pytest.fail(f"C++ program {path} is missing: build the tree or set PROLETARIAT_BUILD_DIR")
    return str(path)


def node_program() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: the Node.js interop tests need Node.js >= 18")
    if not (NODE_BINDING / "node_modules" / "zeromq").exists():
        pytest.fail(f"{NODE_BINDING}/node_modules is missing: run `cd bindings/node && npm ci`")
    return node


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


class Daemon:
    """proletariatd on two loopback ports the kernel picked, which it announces.

    It binds tcp://127.0.0.1:* twice (what --port 0 does on every interface) and writes
    its ready line, {"event":"ready",...,"port":P,"pub_port":Q}, on stdout once bound
    (--announce): no test probes for a free port and races another process for it.
    Stdout is read on a thread to the end, so the daemon never blocks on a full pipe;
    stdin is a pipe held by this process, with --parent-watch, so that a test run that
    dies takes its daemons with it.
    """

    def __init__(self, extra_args: Sequence[str] = ()) -> None:
        if not DAEMON.exists():
            pytest.fail(f"no manager daemon at {DAEMON}: build it or set PROLETARIAT_DAEMON")
        self.log = tempfile.NamedTemporaryFile(prefix="proletariatd-interop-", suffix=".log", delete=False)
        args = [
            str(DAEMON),
            "--endpoint", "tcp://127.0.0.1:*",
            "--pub-endpoint", "tcp://127.0.0.1:*",
            "--announce",
            "--parent-watch",
            "--heartbeat-interval", str(HEARTBEAT_MS),
            "--heartbeat-liveness", str(LIVENESS),
            *extra_args,
        ]
        self.process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log)
        self._later: List[str] = []  # stdout after the ready line (nothing, unless --events)
        self._ready = threading.Event()
        self._first: Optional[str] = None
        self._reader = threading.Thread(target=self._read, name="proletariatd-stdout", daemon=True)
        self._reader.start()
        self._ready.wait(WAIT)
        line = self._first
        try:
            ready = json.loads(line) if line is not None else None
        except ValueError:
            ready = None
        if not (isinstance(ready, dict) and ready.get("event") == "ready"
                and all(isinstance(ready.get(k), int) and 0 < ready[k] < 65536 for k in ("port", "pub_port"))):
            exited = self.process.poll()
            self.stop()
            what = (f"wrote {line!r} instead of its ready line" if line is not None
                    else f"exited ({exited}) before announcing its endpoints" if exited is not None
                    else f"did not announce its endpoints within {WAIT} s")
            pytest.fail(f"proletariatd {what} ({' '.join(args)}); log:\n{self.log_text()}")
        self.port = int(ready["port"])
        self.pub_port = int(ready["pub_port"])
        self.endpoint = f"tcp://127.0.0.1:{self.port}"
        self.pub_endpoint = f"tcp://127.0.0.1:{self.pub_port}"

    def _read(self) -> None:
        assert self.process.stdout is not None
        try:
            for raw in self.process.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                if self._first is None:
                    self._first = line
                    self._ready.set()
                else:
                    self._later.append(line)
                    del self._later[:-50]
        except (OSError, ValueError):
            pass
        finally:
            self._ready.set()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(2)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(WAIT)
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        self._reader.join(WAIT)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def log_text(self) -> str:
        try:
            text = pathlib.Path(self.log.name).read_text(errors="replace")[-4000:]
        except OSError:
            text = "(no log)"
        if self._later:
            text += "\n--- stdout after the ready line\n" + "\n".join(self._later)
        return text


class Proc:
    """A child process whose stdout lines are collected by a thread."""

    def __init__(self, name: str, args: Sequence[str], cwd: Optional[str] = None) -> None:
        self.name = name
        self.args = list(args)
        self.stderr = tempfile.NamedTemporaryFile(prefix=f"interop-{name}-", suffix=".err", delete=False)
        self.lines: List[str] = []
        self._cond = threading.Condition()
        self.process = subprocess.Popen(
            self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
            cwd=cwd, text=True, bufsize=1,
        )
        self._reader = threading.Thread(target=self._read, name=f"read-{name}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def describe(self) -> str:
        try:
            err = pathlib.Path(self.stderr.name).read_text(errors="replace")[-2000:]
        except OSError:
            err = "(unreadable)"
        with self._cond:
            out = "\n".join(self.lines[-40:])
        return (f"{self.name} ({' '.join(self.args)}), exit {self.process.poll()}\n"
                f"--- stdout (last lines)\n{out}\n--- stderr\n{err}")

    def matching(self, pattern: str) -> List["re.Match[str]"]:
        """Every line so far that matches `pattern` (a regex, from the line's start)."""
        regex = re.compile(pattern)
        with self._cond:
            return [m for m in (regex.match(line) for line in self.lines) if m]

    def wait_line(self, pattern: str, what: str, timeout: float = WAIT, count: int = 1) -> List["re.Match[str]"]:
        """Waits until `count` lines match `pattern`; returns their matches."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [m for m in (regex.match(line) for line in self.lines) if m]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.process.poll() is not None and not self._reader.is_alive()):
                    break
                self._cond.wait(min(remaining, 0.05))
        pytest.fail(f"timed out after {timeout} s waiting for {what}: "
                    f"{len(found)} of {count} lines match /{pattern}/\n{self.describe()}")

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def wait_exit(self, what: str, timeout: float = WAIT) -> int:
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"timed out after {timeout} s waiting for {what}\n{self.describe()}")
        self._reader.join(WAIT)
        return code

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(1)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(WAIT)
        for stream in (self.process.stdin, self.process.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass


class Cluster:
    """What one test runs against: a daemon, plus every peer it started (stopped at teardown)."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.endpoint = daemon.endpoint
        self.procs: List[Proc] = []
        self.peers: List[Any] = []  # Python Worker / Client objects
        self.cleanups: List[Callable[[], None]] = []

    # -- child processes ------------------------------------------------------------
    def spawn(self, name: str, args: Sequence[str]) -> Proc:
        proc = Proc(name, args, cwd=str(HERE))
        self.procs.append(proc)
        return proc

    def node(self, script: str, *args: str) -> Proc:
        return self.spawn(script, [node_program(), str(HERE / script), self.endpoint, *args])

    def cpp_test_worker(self, *args: str) -> Proc:
        return self.spawn("proletariat-test-worker",
                          [cpp_program("tests/proletariat-test-worker"), "--endpoint", self.endpoint, *args])

    # -- Python peers -----------------------------------------------------------------
    def python_client(self, name: str = "py-client") -> "proletariat.Client":
        client = proletariat.Client(self.endpoint, name=name, con_retry_time=0.05)
        self.peers.append(client)
        assert client.wait_connected(WAIT), f"the Python client did not register within {WAIT} s"
        return client

    def python_worker(self, **options: Any) -> "proletariat.Worker":
        options.setdefault("con_retry_time", 0.05)
        worker = proletariat.Worker(self.endpoint, **options)
        self.peers.append(worker)
        worker.start()
        assert worker.wait_ready(WAIT), f"the Python worker's offer was not accepted within {WAIT} s"
        return worker

    def status(self) -> Dict[str, Any]:
        """The manager's STATUS, asked through a Python client kept for this purpose."""
        if not hasattr(self, "_status_client"):
            self._status_client = self.python_client("status-probe")
        return self._status_client.status(timeout=WAIT)

    def teardown(self) -> None:
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception:  # noqa: BLE001  (teardown goes on)
                pass
        for proc in reversed(self.procs):
            proc.stop()
        for peer in reversed(self.peers):
            try:
                peer.stop() if isinstance(peer, proletariat.Worker) else peer.close()
            except Exception:  # noqa: BLE001
                pass
        self.daemon.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Any:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def cluster(request: pytest.FixtureRequest) -> Any:
    daemon = Daemon()
    c = Cluster(daemon)
    try:
        yield c
    finally:
        report = getattr(request.node, "rep_call", None)
        failed = report is not None and report.failed
        if failed:
            for proc in c.procs:
                print(proc.describe())
        c.teardown()
        if failed:
            print(f"--- proletariatd log\n{daemon.log_text()}")


def parse_json_lines(matches: List["re.Match[str]"], group: int = 1) -> List[Any]:
    return [json.loads(m.group(group)) for m in matches]
