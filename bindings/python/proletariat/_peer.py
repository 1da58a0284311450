"""What Client and Worker share: the I/O thread, its mailbox, system messages, status.

Threading: each peer has one I/O thread that alone touches its ZeroMQ sockets
(ZeroMQ sockets are not thread-safe) and owns all per-request state. Other threads
reach it by posting commands to a :class:`Mailbox` (a deque plus a pipe whose read
end the I/O thread polls beside its sockets). User callbacks (system-message
handlers, abort handlers, Future done-callbacks) run on one separate "events"
thread, never on the I/O thread, so a slow callback cannot stop the heartbeat.
"""

from __future__ import annotations

import collections
import concurrent.futures
import itertools
import logging
import math
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple, TypeVar

import zmq

from . import _protocol as proto
from ._session import Session
from .curve import CurveOptions, curve_options
from .errors import EBADFIELD, ECONNLOST, ENOTSUPPORTED, ESTATE, ProletariatError

log = logging.getLogger("proletariat")

#: Default wait of the blocking control calls (status, my_status, system_message),
#: in seconds: a SYSDONE may take one liveness window (heartbeat x liveness, 5 s with
#: the manager's defaults) when a recipient never subscribes.
DEFAULT_CONTROL_TIMEOUT_S = 10.0

#: Commands taken from the mailbox per I/O loop step, so that a flood of answers
#: (thousands of jobs finishing at once) does not keep the loop from its sockets.
MAILBOX_BATCH = 1000

SysmsgHandler = Callable[[Any, str], Any]
F = TypeVar("F", bound=Callable[..., Any])
P = TypeVar("P", bound="PeerBase")

#: The mailbox command ("stop", drain seconds) that ends the I/O loop (PeerBase._stop_io).
_STOP = "stop"
# Reply command -> the command it answers.
_REPLY_OF = {"SYSDONE": "SYSMSG", "STATUS": "STATUS", "MYSTATUS": "MYSTATUS", "DEADLETTERS": "DEAD",
             "GROUPLIMITS": "GROUPLIMITS"}


class Mailbox:
    """A thread-safe queue the I/O thread can poll: any thread posts, one drains."""

    def __init__(self) -> None:
        self._items: Deque[Any] = collections.deque()
        self._lock = threading.Lock()
        self._closed = False
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        os.set_blocking(self._write_fd, False)

    def fileno(self) -> int:
        return self._read_fd

    def post(self, item: Any) -> bool:
        """Queues `item` and wakes the I/O thread. False once the mailbox is closed."""
        with self._lock:  # the lock keeps a late post from writing into a reused fd
            if self._closed:
                return False
            self._items.append(item)
            try:
                os.write(self._write_fd, b"\0")
            except BlockingIOError:
                pass  # the pipe is full: the reader is awake anyway
        return True

    def drain(self, limit: int = MAILBOX_BATCH) -> List[Any]:
        """Up to `limit` items posted so far, in order; see :meth:`backlog`."""
        try:
            while os.read(self._read_fd, 65536):
                pass
        except BlockingIOError:
            pass
        items = []
        for _ in range(limit):
            try:
                items.append(self._items.popleft())
            except IndexError:
                break
        return items

    def backlog(self) -> bool:
        """True if items wait that a drain left behind (the pipe no longer says so)."""
        return bool(self._items)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            os.close(self._read_fd)
            os.close(self._write_fd)


class PeerFuture(concurrent.futures.Future):  # type: ignore[type-arg]
    """A Future completed by a peer's I/O thread, whose done-callbacks run on the
    peer's events thread (never on the I/O thread), so that a callback may block or
    wait for another answer of the same peer without stalling it.

    Attributes:
        request_id: the request this Future answers (the wire's ``req``).
    """

    def __init__(self, peer: "PeerBase", request_id: int) -> None:
        super().__init__()
        self.request_id = request_id
        self._peer = peer

    def add_done_callback(self, fn: Callable[["concurrent.futures.Future[Any]"], object]) -> None:
        if self.done():
            super().add_done_callback(fn)  # runs at once, in the caller's thread
            return
        peer = self._peer
        super().add_done_callback(lambda future: peer._call_soon(fn, future))


@dataclass
class _Control:
    """A SYSMSG, STATUS, MYSTATUS, DEAD or GROUPLIMITS request waiting for its reply."""

    req: int
    command: str
    header: Dict[str, Any]
    payloads: List[bytes]
    future: PeerFuture
    sent: bool = False
    #: The reply's value (default: its header as a dict).
    decode: Optional[Callable[[proto.Message], Any]] = None
    #: Only a manager that announced the job lifecycle (PROTOCOL §5, §14) knows it.
    lifecycle: bool = False


def _check_endpoint(endpoint: str) -> str:
    if not isinstance(endpoint, str) or "://" not in endpoint:
        raise ProletariatError(EBADFIELD, f"endpoint must be a ZeroMQ endpoint such as tcp://host:1917, not {endpoint!r}")
    return endpoint


class PeerBase:
    """The I/O thread machinery of a peer (internal). See the module docstring."""

    _role = "peer"

    def __init__(
        self, endpoint: str, name: str, con_retry_time: float, system_messages: bool = True, curve: Any = None
    ) -> None:
        self._endpoint = _check_endpoint(endpoint)
        self._curve = curve_options(curve)
        self._name = str(name or "")
        if not isinstance(system_messages, bool):
            raise ProletariatError(EBADFIELD, f"system_messages must be True or False, not {system_messages!r}")
        self._system_messages = system_messages
        self._identity: Optional[str] = None  # a Client sets its own before _start_io
        try:
            self._con_retry_time = float(con_retry_time)
        except (TypeError, ValueError):
            raise ProletariatError(EBADFIELD, f"con_retry_time must be seconds, not {con_retry_time!r}") from None
        if not math.isfinite(self._con_retry_time) or self._con_retry_time < 0:
            raise ProletariatError(EBADFIELD, "con_retry_time must be a finite number of seconds >= 0")
        self._mailbox = Mailbox()
        self._reqs = itertools.count(1)  # PUSH, SYSMSG, STATUS and MYSTATUS share it
        self._status = threading.Condition()
        self._peer_id = ""
        self._connected = False
        self._sysmsg_handlers: List[SysmsgHandler] = []
        self._events = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"proletariat-{self._role}-events")
        self._events_ident: Optional[int] = None
        self._io_thread: Optional[threading.Thread] = None
        self._lifecycle = threading.Lock()
        self._closing = False
        # I/O thread state.
        self._session: Optional[Session] = None
        self._controls: Dict[int, _Control] = {}

    # --- public -------------------------------------------------------------------

    @property
    def id(self) -> str:
        """The id the manager gave this peer for the current session ("" when not registered)."""
        with self._status:
            return self._peer_id

    @property
    def connected(self) -> bool:
        """True while registered with the manager."""
        with self._status:
            return self._connected

    @property
    def endpoint(self) -> str:
        """The manager's command endpoint."""
        return self._endpoint

    @property
    def curve(self) -> Optional[CurveOptions]:
        """The CURVE options this peer connects with (PROTOCOL §13), or None."""
        return self._curve

    @property
    def system_messages(self) -> bool:
        """False when this peer told the manager that it takes no system messages."""
        return self._system_messages

    def wait_connected(self, timeout: Optional[float] = None) -> bool:
        """Waits until registered with the manager; False if `timeout` seconds passed first."""
        with self._status:
            return bool(self._status.wait_for(lambda: self._connected, timeout))

    def on_sysmsg(self, handler: F) -> F:
        """Adds a handler for system messages; usable as a decorator.

        ``handler(content, sender)`` gets the message (any JSON value) and the sender's
        peer id (``"MANAGER"`` for the manager's own). Handlers run on this peer's
        events thread; the message is acknowledged (SYSACK) once they all returned, so
        the sender's ``received_by`` counts peers whose application saw it.

        Raises ProletariatError ``ESTATE`` on a peer made with
        ``system_messages=False``: it never receives any.
        """
        if not callable(handler):
            raise TypeError("on_sysmsg needs a callable")
        if not self._system_messages:
            raise ProletariatError(
                ESTATE, f"this {self._role} was made with system_messages=False and receives no system messages"
            )
        self._sysmsg_handlers.append(handler)
        return handler

    def system_message(
        self, message: Any, to: Optional[str] = None, *, timeout: Optional[float] = DEFAULT_CONTROL_TIMEOUT_S
    ) -> Tuple[int, int]:
        """Sends a system message and waits until every recipient acknowledged it.

        Args:
            message: any JSON value.
            to: ``None`` for every other peer (the manager hears it too, but counts
                only when addressed), ``"MANAGER"`` for the manager only, or a peer id.
            timeout: seconds to wait for the manager's SYSDONE; None waits forever.

        Returns:
            ``(sent_to, received_by)``: how many recipients the message was meant for
            and how many acknowledged it: ``(1, 1)`` for ``"MANAGER"``, ``(0, 0)`` for
            a broadcast with no other peer (PROTOCOL §8.2).

        Raises:
            ProletariatError: ``ENOPEER`` when `to` names no registered peer (or
                one made with ``system_messages=False``, which takes none),
                ``ECONNLOST`` when the session ended first, ``EBADFIELD`` for a message
                that is not JSON serializable.
            TimeoutError: no SYSDONE within `timeout`.
        """
        result: Tuple[int, int] = self._wait(self.system_message_future(message, to), timeout, "SYSMSG")
        return result

    def system_message_future(self, message: Any, to: Optional[str] = None) -> PeerFuture:
        """Like :meth:`system_message`, but returns a Future of ``(sent_to, received_by)``
        (a :class:`concurrent.futures.Future`; done-callbacks run on the events thread)."""
        if to is not None and not isinstance(to, str):
            raise ProletariatError(EBADFIELD, f"'to' must be None, 'MANAGER' or a peer id, not {to!r}")
        if isinstance(message, proto.RAW_TYPES):
            raise ProletariatError(EBADFIELD, "a system message is a JSON value, not bytes")
        try:
            content, _raw = proto.dump_payload(message)
        except (TypeError, ValueError) as exc:
            raise ProletariatError(EBADFIELD, f"the system message is not JSON serializable: {exc}") from None
        return self._control("SYSMSG", {"to": to}, [content])

    def status(self, *, timeout: Optional[float] = DEFAULT_CONTROL_TIMEOUT_S) -> Dict[str, Any]:
        """The manager's STATUS (PROTOCOL §8.2): queues, slots, workers, clients, and
        why waiting jobs wait. Returns the reply header as a dict.

        Raises ProletariatError (e.g. ``ECONNLOST``) or TimeoutError.
        """
        status: Dict[str, Any] = self._wait(self._control("STATUS", {}, []), timeout, "STATUS")
        return status

    def my_status(self, *, timeout: Optional[float] = DEFAULT_CONTROL_TIMEOUT_S) -> Dict[str, Any]:
        """This peer as the manager sees it (MYSTATUS): id, role, connect time, state,
        and for a worker its slots, running jobs and ranges. Returns a dict."""
        status: Dict[str, Any] = self._wait(self._control("MYSTATUS", {}, []), timeout, "MYSTATUS")
        return status

    def close(self, timeout: float = 5.0) -> None:
        """Leaves the manager (BYE) and stops the I/O thread. Idempotent."""
        self._stop_io(timeout, 0.0)

    def _stop_io(self, timeout: float, drain_s: float) -> None:
        """Stops the I/O thread: at once (drain_s 0) or after the peer's graceful
        stop (see _io_begin_drain), which may take up to drain_s seconds; waits for
        the thread `timeout` seconds beyond that. A second call while a graceful stop
        goes on turns it into an immediate one when its drain_s is 0."""
        with self._lifecycle:
            again = self._closing
            self._closing = True
            thread = self._io_thread
        if again:
            if drain_s <= 0 and thread is not None and thread.is_alive():
                self._mailbox.post((_STOP, 0.0))  # False once the thread is gone: nothing to hurry
                if thread is not threading.current_thread():
                    thread.join(timeout)
            return
        if thread is not None:
            self._mailbox.post((_STOP, drain_s))
            if thread is not threading.current_thread():
                thread.join(drain_s + timeout)
                if thread.is_alive():
                    # Leave the mailbox open: the thread still polls its pipe.
                    log.error("%s: the I/O thread did not stop within %.1f s", self._role, drain_s + timeout)
                    self._events.shutdown(wait=False)
                    return
        else:
            self._fail_posted()
        self._mailbox.close()
        self._events.shutdown(wait=threading.get_ident() != self._events_ident)

    def __enter__(self: P) -> P:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # --- helpers for any thread ---------------------------------------------------

    def _start_io(self) -> None:
        self._io_thread = threading.Thread(target=self._run, name=f"proletariat-{self._role}-io", daemon=True)
        self._io_thread.start()

    def _post(self, item: Any) -> None:
        if self._closing or not self._mailbox.post(item):
            raise ProletariatError(ECONNLOST, f"this {self._role} is closed")

    def _control(
        self,
        command: str,
        header: Dict[str, Any],
        payloads: List[bytes],
        decode: Optional[Callable[[proto.Message], Any]] = None,
        lifecycle: bool = False,
    ) -> PeerFuture:
        req = next(self._reqs)
        future = PeerFuture(self, req)
        # req first, as the other implementations and tests/vectors write it.
        self._post(("control", _Control(req, command, {"req": req, **header}, payloads, future, decode=decode,
                                        lifecycle=lifecycle)))
        return future

    def _wait(self, future: PeerFuture, timeout: Optional[float], what: str) -> Any:
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            self._mailbox.post(("forget", future.request_id))
            raise TimeoutError(f"no answer to {what} within {timeout} s") from None

    def _call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Runs fn(*args) on the events thread (in order), logging what it raises."""

        def call() -> None:
            try:
                fn(*args)
            except Exception:
                log.exception("%s: a callback raised", self._role)

        def on_events_thread() -> None:
            self._events_ident = threading.get_ident()
            call()

        try:
            self._events.submit(on_events_thread)
        except RuntimeError:  # shut down: run it here rather than lose a result
            call()

    def _resolve(self, future: "concurrent.futures.Future[Any]", value: Any = None, error: Optional[BaseException] = None) -> None:
        """Completes a Future (from the I/O thread), unless it was cancelled. Waiters
        wake at once; done-callbacks of a PeerFuture run on the events thread."""
        if future.done():
            return
        try:
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(value)
        except concurrent.futures.InvalidStateError:
            pass  # cancelled meanwhile

    def _set_status(self, connected: bool, peer_id: str) -> None:
        with self._status:
            self._connected = connected
            self._peer_id = peer_id
            self._status.notify_all()

    # --- I/O thread ---------------------------------------------------------------

    def _run(self) -> None:
        context = zmq.Context()
        session = Session(
            context,
            self._endpoint,
            self._name,
            self._con_retry_time,
            self._role,
            on_registered=self._on_registered,
            on_message=self._on_message,
            on_lost=self._on_lost,
            on_sysmsg=self._on_sysmsg,
            system_messages=self._system_messages,
            identity=self._identity,
            curve=self._curve,
        )
        self._session = session
        stopping = False
        try:
            session.connect()
            mailbox_fd = self._mailbox.fileno()
            stop_at: Optional[float] = None  # during a graceful stop: when it gives up
            while not stopping:
                try:
                    until = 0.0 if self._mailbox.backlog() else self._io_deadline()
                    if stop_at is not None:
                        until = min(until, stop_at)
                    session.poll([mailbox_fd], until)
                    for command in self._mailbox.drain():
                        if command[0] != _STOP:
                            self._on_command(command)
                        elif command[1] > 0 and stop_at is None and not stopping and self._io_begin_drain():
                            stop_at = time.monotonic() + command[1]
                        else:
                            stopping = True
                    now = time.monotonic()
                    self._io_timers(now)
                    if stop_at is not None and (now >= stop_at or self._io_drained()):
                        stopping = True
                except Exception:  # one bad step must not end the peer
                    log.exception("%s: I/O loop", self._role)
            try:
                self._io_shutdown()
                self._fail_posted()  # commands posted after the stop
            except Exception:
                log.exception("%s: shutdown", self._role)
            self._fail_controls(ProletariatError(ECONNLOST, f"this {self._role} was closed"))
            session.close(True)
            self._set_status(False, "")
        finally:
            session.close(False)
            context.term()

    def _on_command(self, command: Tuple[Any, ...]) -> None:
        kind = command[0]
        if kind == "control":
            ctl: _Control = command[1]
            self._controls[ctl.req] = ctl
            assert self._session is not None
            if self._session.registered:
                self._send_control(ctl)
        elif kind == "forget":
            self._controls.pop(command[1], None)
        elif kind == "sysack":
            assert self._session is not None
            if self._session.registered and self._session.peer_id == command[2]:
                self._session.send(proto.encode("SYSACK", {"msg": command[1]}))
        else:
            self._io_command(command)

    def _on_registered(self) -> None:
        assert self._session is not None
        self._set_status(True, self._session.peer_id)
        for ctl in list(self._controls.values()):
            if not ctl.sent:
                self._send_control(ctl)
        self._io_registered()

    def _send_control(self, ctl: _Control) -> None:
        """Sends a waiting control request in the current session; one the manager
        cannot know (it did not announce the lifecycle) fails with ENOTSUPPORTED
        instead of an EUNKNOWNCMD."""
        assert self._session is not None
        if ctl.lifecycle and self._session.welcome.get("lifecycle") is not True:
            self._controls.pop(ctl.req, None)
            self._resolve(ctl.future, error=ProletariatError(
                ENOTSUPPORTED, f"the manager did not announce the job lifecycle in its WELCOME: it does not know "
                               f"{ctl.command} (PROTOCOL §14)"))
            return
        ctl.sent = self._session.send(proto.encode(ctl.command, ctl.header, ctl.payloads))

    def _on_lost(self) -> None:
        self._set_status(False, "")
        for req in [req for req, ctl in self._controls.items() if ctl.sent]:
            ctl = self._controls.pop(req)
            self._resolve(ctl.future, error=ProletariatError(ECONNLOST, f"the connection to the manager was lost ({ctl.command})"))
        self._io_lost()

    def _fail_controls(self, error: ProletariatError) -> None:
        for ctl in self._controls.values():
            self._resolve(ctl.future, error=error)
        self._controls.clear()

    def _fail_posted(self) -> None:
        """Fails what is still in the mailbox: on close, when the I/O thread is gone
        or never ran."""
        for command in self._mailbox.drain(1 << 62):
            if command[0] == "control":
                self._resolve(command[1].future, error=ProletariatError(ECONNLOST, f"this {self._role} was closed"))
            else:
                self._io_command_unserved(command)

    def _on_message(self, msg: proto.Message) -> None:
        command = msg.command
        if command in _REPLY_OF:
            self._on_control_reply(msg)
        elif command == "ERROR":
            header = msg.header
            code = str(header.get("code") or "EINTERNAL")
            message = str(header.get("message") or "")
            req = header.get("req")
            failed = header.get("command")
            ctl = None
            if isinstance(req, int) and req in self._controls and failed in (None, self._controls[req].command):
                ctl = self._controls.pop(req)
            elif req is None and failed in _REPLY_OF.values():
                ctl = self._pop_oldest_control(str(failed))
            if ctl is not None:
                self._resolve(ctl.future, error=ProletariatError(code, message, header.get("class")))
            elif not self._io_error(code, message, failed, req, header):
                log.error(
                    "%s: manager answered %s%s: %s", self._role, code, f" to {failed}" if failed else "", message
                )
        else:
            self._io_message(msg)

    def _pop_oldest_control(self, command: str) -> Optional[_Control]:
        for req, ctl in self._controls.items():  # dicts keep insertion order: oldest first
            if ctl.command == command and ctl.sent:
                return self._controls.pop(req)
        return None

    def _on_control_reply(self, msg: proto.Message) -> None:
        command = _REPLY_OF[msg.command]
        req = msg.header.get("req")
        ctl = None
        if isinstance(req, int) and req in self._controls and self._controls[req].command == command:
            ctl = self._controls.pop(req)
        elif req is None:
            ctl = self._pop_oldest_control(command)
        if ctl is None:
            log.debug("%s: %s for request %r, which is not waiting; dropped", self._role, msg.command, req)
            return
        if command == "SYSMSG":
            sent_to, received_by = msg.header.get("sentTo"), msg.header.get("receivedBy")
            if not isinstance(sent_to, int) or not isinstance(received_by, int):
                self._resolve(ctl.future, error=ProletariatError("EINTERNAL", f"malformed SYSDONE {msg.header!r}"))
            else:
                self._resolve(ctl.future, (sent_to, received_by))
        elif ctl.decode is not None:
            try:
                value = ctl.decode(msg)
            except (ValueError, TypeError, KeyError) as exc:  # the peer checks passed, so a manager bug
                self._resolve(ctl.future, error=ProletariatError("EINTERNAL", f"malformed {msg.command}: {exc}"))
            else:
                self._resolve(ctl.future, value)
        else:
            self._resolve(ctl.future, dict(msg.header))

    def _on_sysmsg(self, header: Dict[str, Any], content: bytes) -> None:
        """A system message for us: hand it to the handlers, then acknowledge it (as
        the C++ library does: the sender's receivedBy then means "seen by the
        application"). The ack is sent only in the session the message came in."""
        assert self._session is not None
        msg_id = header.get("msg")
        sender = header.get("from")
        sender_id = sender if isinstance(sender, str) else ""
        if not isinstance(msg_id, int) or isinstance(msg_id, bool):
            log.warning("%s: system message without a numeric 'msg' id dropped", self._role)
            return
        try:
            value = proto.load_payload(content, False)
        except ValueError:
            log.warning("%s: system message %d from %s is not JSON; acknowledged and dropped", self._role, msg_id, sender)
            self._session.send(proto.encode("SYSACK", {"msg": msg_id}))
            return
        handlers = list(self._sysmsg_handlers)
        if not handlers:
            self._session.send(proto.encode("SYSACK", {"msg": msg_id}))
            return
        peer_id = self._session.peer_id

        def deliver() -> None:
            for handler in handlers:
                try:
                    handler(value, sender_id)
                except Exception:
                    log.exception("%s: a system-message handler raised", self._role)
            self._mailbox.post(("sysack", msg_id, peer_id))

        self._call_soon(deliver)

    # --- hooks for Client and Worker (I/O thread) ---------------------------------

    def _io_deadline(self) -> float:
        return math.inf

    def _io_timers(self, now: float) -> None:
        pass

    def _io_command(self, command: Tuple[Any, ...]) -> None:
        log.warning("%s: unknown command %r", self._role, command[0])

    def _io_command_unserved(self, command: Tuple[Any, ...]) -> None:
        pass

    def _io_registered(self) -> None:
        pass

    def _io_shutdown(self) -> None:
        pass

    def _io_begin_drain(self) -> bool:
        """A graceful stop was asked for: start it and return True, or return False
        to stop at once. The loop then runs until _io_drained() or the drain time."""
        return False

    def _io_drained(self) -> bool:
        """True when a graceful stop has nothing left to wait for."""
        return True

    def _io_lost(self) -> None:
        pass

    def _io_message(self, msg: proto.Message) -> None:
        log.warning("%s: unexpected %s from the manager dropped", self._role, msg.command)

    def _io_error(self, code: str, message: str, command: Any, req: Any, header: Dict[str, Any]) -> bool:
        """An ERROR that is no control request's. True if handled."""
        return False

    def _send(self, frames: List[bytes]) -> bool:
        assert self._session is not None
        return self._session.send(frames)

    @property
    def _registered(self) -> bool:
        return self._session is not None and self._session.registered


__all__ = ["PeerBase", "PeerFuture", "Mailbox", "DEFAULT_CONTROL_TIMEOUT_S"]
