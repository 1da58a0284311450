"""The session scripts of tests/vectors/sessions.json (issue 10), run against this
binding's Worker and Client. The scripted fake manager is session_runner.py; this
file only maps the scripts' protocol terms onto the Python API."""

from __future__ import annotations

import threading
from typing import Any, Dict, List, Optional, Tuple

import pytest
import zmq

from conftest import FakeManager
from proletariat import Client, Job, ProletariatError, Retry, Worker
from session_runner import SessionRunner, load_sessions

DOC = load_sessions()
SCRIPTS = DOC["scripts"]

#: Scripts this binding is known to fail, by name, with the bug as the reason. Empty:
#: a failing script is a bug to fix, not to list here without a reason.
KNOWN_FAILURES: Dict[str, str] = {}


def _handler(job: Any) -> Any:
    """The scripts' standard worker application (sessions.json, "THE APPLICATION")."""
    args = job.args
    if isinstance(args, (bytes, bytearray)):
        return bytes(args)
    if isinstance(args, dict) and "progress" in args:
        for value in args["progress"]:
            assert job.progress(value), f"progress of running job {job.id} refused"
    if isinstance(args, dict) and "echo" in args:
        return args["echo"]
    if isinstance(args, dict) and "fail" in args:
        raise ProletariatError(args["fail"], "scripted failure")
    if isinstance(args, dict) and args.get("hang") is True:
        job.defer()  # never answered; the worker keeps the job
        return None
    raise ProletariatError("EHANDLER", f"no scripted behaviour for {args!r}")


def _retry(wire: Optional[Dict[str, Any]]) -> Optional[Retry]:
    """A retry object as on the wire (ms) as the Python API's Retry (seconds)."""
    if wire is None:
        return None
    seconds = {k: wire[k] / 1000.0 for k in ("initial", "maxDelay") if k in wire}
    return Retry(wire["max"], codes=wire.get("codes"), initial=seconds.get("initial"), factor=wire.get("factor"),
                 max_delay=seconds.get("maxDelay"), jitter=wire.get("jitter"))


class PythonAdapter:
    def __init__(self) -> None:
        self.peer: Any = None
        self.requests: Dict[str, Any] = {}
        # Individual requests: their streams and the progress each job was handed.
        self.progress: Dict[str, Dict[int, List[Any]]] = {}
        self.messages: Dict[str, Any] = {}
        self.got: List[Dict[str, Any]] = []
        self.got_changed = threading.Condition()

    def start(self, endpoint: str, peer: str, config: Dict[str, Any]) -> None:
        common = {
            "con_retry_time": config.get("conRetryTime", 50) / 1000.0,
            "system_messages": config.get("systemMessages", True),
            "name": "session-script",
        }
        if peer == "worker":
            self.peer = Worker(
                endpoint,
                slots=config.get("slots", 100),
                priority_slots={float(k): v for k, v in config.get("prioritySlots", {}).items()},
                services=config.get("services", ()),
                handler=_handler,
                **common,
            )
            self._watch_sysmsgs()
            self.peer.start()
        else:
            self.peer = Client(endpoint, keep_state=config.get("keepState", False), **common)
            self._watch_sysmsgs()

    def _watch_sysmsgs(self) -> None:
        if not self.peer.system_messages:
            return

        @self.peer.on_sysmsg
        def record(content: Any, sender: str) -> None:
            with self.got_changed:
                self.got.append({"content": content, "from": sender})
                self.got_changed.notify_all()

    def start_error_code(self, exc: BaseException) -> Optional[str]:
        return exc.code if isinstance(exc, ProletariatError) else None

    def work(self, name: str, jobs: List[Dict[str, Any]], options: Dict[str, Any], individual: bool = False) -> None:
        items = []
        for job in jobs:
            args = bytes.fromhex(job["raw"]) if "raw" in job else job["args"]
            items.append(Job(args, key=job.get("key"), service=job.get("service")))
        seconds = {k: options[k] / 1000.0 if options.get(k) is not None else None
                   for k in ("timeout", "runTimeout", "assigntimeout", "delay", "at")}
        kwargs = dict(priority=options.get("priority", 0), timeout=seconds["timeout"],
                      run_timeout=seconds["runTimeout"], assign_timeout=seconds["assigntimeout"],
                      delay=seconds["delay"], at=seconds["at"], group=options.get("group"),
                      retry=_retry(options.get("retry")))
        if not individual:
            self.requests[name] = self.peer.submit(items, **kwargs)
            return
        handed: Dict[int, List[Any]] = {i: [] for i in range(len(items))}
        self.progress[name] = handed
        self.requests[name] = self.peer.work_individual(
            items, progress=lambda index, data: handed[index].append(data), **kwargs)

    def abort(self, name: str, indices: Optional[List[int]]) -> None:
        self.peer.abort(self.requests[name], indices)

    def sysmsg(self, name: str, msg: Any, to: Optional[str]) -> None:
        self.messages[name] = self.peer.system_message_future(msg, to=to)

    def wait_registered(self, timeout: float) -> bool:
        if isinstance(self.peer, Worker):
            return bool(self.peer.wait_ready(timeout))
        return bool(self.peer.wait_connected(timeout))

    def work_outcome(self, name: str, timeout: float) -> List[Dict[str, Any]]:
        request = self.requests[name]
        if name in self.progress:
            # The stream yields a job's result only after its progress was handed over.
            by_index = {}
            while request.remaining:
                index, result = request.next(timeout)
                by_index[index] = (result, list(self.progress[name][index]))
            pairs = [by_index[i] for i in sorted(by_index)]
        else:
            pairs = [(r, None) for r in request.result(timeout)]
        out = []
        for r, progress in pairs:
            if r.err is not None:
                item: Dict[str, Any] = {"err": r.err.code}
            elif isinstance(r.data, (bytes, bytearray)):
                item = {"raw": bytes(r.data)}
            else:
                item = {"data": r.data}
            if r.attempts is not None:
                item["attempts"] = r.attempts
            if progress is not None:
                item["progress"] = progress
            out.append(item)
        return out

    def sysmsg_outcome(self, name: str, timeout: float) -> Tuple[Any, ...]:
        try:
            sent_to, received_by = self.messages[name].result(timeout)
        except ProletariatError as exc:
            return ("err", exc.code)
        return ("sysdone", sent_to, received_by)

    def received(self, count: int, timeout: float) -> List[Dict[str, Any]]:
        with self.got_changed:
            self.got_changed.wait_for(lambda: len(self.got) >= count, timeout)
            return list(self.got)

    def close(self) -> None:
        if self.peer is not None:
            self.peer.close(timeout=2.0)


@pytest.mark.parametrize("script", SCRIPTS, ids=[s["name"] for s in SCRIPTS])
def test_session_script(script: Dict[str, Any]) -> None:
    if script["name"] in KNOWN_FAILURES:
        pytest.skip(KNOWN_FAILURES[script["name"]])
    manager = FakeManager()
    xpub = manager.ctx.socket(zmq.XPUB)
    xpub.setsockopt(zmq.LINGER, 0)
    pub_port = xpub.bind_to_random_port("tcp://127.0.0.1")
    adapter = PythonAdapter()
    try:
        SessionRunner(DOC, script, manager.router, xpub, pub_port, manager.endpoint, adapter).run()
    finally:
        adapter.close()
        xpub.close(linger=0)
        manager.close()
