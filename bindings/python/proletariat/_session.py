"""The DEALER side of one peer's conversation with the manager (PROTOCOL §3, §7, §8.1).

A ``Session`` owns the peer's DEALER socket (and its SUB socket for system
messages, unless the peer takes none: ``system_messages=False``), registers with
HELLO, keeps the heartbeat going both ways, and when the manager falls silent past
its liveness, says BYE, or answers ENOHELLO (it restarted), closes the sockets,
waits, opens new ones and registers again: the zguide's mdwrkapi/mdcliapi pattern,
as libproletariat's ``peer::Session`` does it.
It knows nothing about jobs; its owner learns what happens through hooks and sends
through :meth:`Session.send`.

With CURVE options (PROTOCOL §13) both sockets connect as CURVE clients of the
manager. A monitor on the DEALER reports failed handshakes (a key the manager does
not list, a peer without CURVE at a manager that requires it, a wrong server key) as
one log line each, rather than as a WELCOME that silently never comes; a refusal
(ZAP said no, or the security mechanisms differ) ends the attempt, and the next one
follows after the retry time.

Threading: not thread-safe. A Session lives on its owner's I/O thread; every method
and every hook runs there.

States: idle (before connect / after close) -> connecting (socket open, HELLO queued
or sent, waiting for WELCOME) -> registered -> waiting (socket closed, until the
retry time) -> connecting ...
"""

from __future__ import annotations

import collections
import errno
import itertools
import logging
import math
import time
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence

import zmq
from zmq.utils.monitor import recv_monitor_message

from . import _protocol as proto
from . import _spec
from .curve import CurveOptions
from .errors import ENOHELLO

log = logging.getLogger("proletariat")

IDLE, CONNECTING, REGISTERED, WAITING = "idle", "connecting", "registered", "waiting"

#: Heartbeat settings assumed until a WELCOME says otherwise (PROTOCOL §5, §7), the
#: manager's defaults (1 s x 5): a manager that has not answered HELLO within their
#: product is treated as silent.
DEFAULT_HEARTBEAT_S = _spec.DEFAULT_HEARTBEAT_MS / 1000.0
DEFAULT_LIVENESS = _spec.DEFAULT_LIVENESS
#: Fraction of the heartbeat interval after which an idle peer sends HEARTBEAT. The
#: protocol asks for one after at most a whole interval of silence; sending at half of
#: it leaves the manager's liveness window (interval x liveness) more room for the
#: delays Python threads suffer (the GIL, a loaded machine).
HEARTBEAT_EARLY = 0.5
#: ZeroMQ high-water marks, in messages: generous for bursts of pushes or results;
#: past them, messages wait in the session's own outbox, never dropped silently.
HIGH_WATER_MARK = 10_000
#: Messages kept while the socket is not writable. A peer this far behind has a dead
#: or stuck manager (the liveness timer recycles the session anyway).
MAX_OUTBOX = 100_000
#: Messages read per socket per loop step, so the owner's mailbox and timers are
#: served even under a flood from the manager.
MAX_RECEIVE_BATCH = 256
#: Longest single wait in poll(), a backstop: callers pass their own deadline.
MAX_POLL_WAIT_S = 1.0
#: How long a BYE may take to leave on close (linger is 0 otherwise, so that a dead
#: manager never blocks shutdown).
BYE_LINGER_MS = 200
#: The handshake failures the DEALER's monitor reports.
HANDSHAKE_EVENTS = (
    zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
)
#: Shortest wait before registering again after the manager refused the handshake,
#: in seconds, whatever the retry time: a refused peer must not hammer the manager.
HANDSHAKE_RETRY_MIN_S = 0.1
# Monitor endpoints, unique in the process (an fd-based name may be reused before the
# old one is released).
_monitor_names = itertools.count(1)

Hook = Callable[[], None]


class Session:
    """One peer's session with the manager. See the module docstring."""

    def __init__(
        self,
        context: "zmq.Context[zmq.Socket[bytes]]",
        endpoint: str,
        name: str,
        con_retry_time: float,
        role: str,
        on_registered: Hook,
        on_message: Callable[[proto.Message], None],
        on_lost: Hook,
        on_sysmsg: Callable[[Dict[str, Any], bytes], None],
        system_messages: bool = True,
        identity: Optional[str] = None,
        curve: Optional[CurveOptions] = None,
    ) -> None:
        self._context = context
        self.endpoint = endpoint
        self._name = name
        self._con_retry_time = max(0.0, float(con_retry_time))
        self._role = role
        self._on_registered = on_registered
        self._on_message = on_message
        self._on_lost = on_lost
        self._on_sysmsg = on_sysmsg
        # False: HELLO says "sysmsg": false (the manager never counts this peer as a
        # recipient of system messages, PROTOCOL §3, §4) and no SUB socket is opened.
        self._system_messages = bool(system_messages)
        # A client's stable identity (PROTOCOL §4, §12), sent in every HELLO; None for
        # a worker, which has none.
        self._identity = identity
        # CURVE client options for both sockets (PROTOCOL §13); None: no CURVE.
        self._curve = curve

        self.state = IDLE
        self.welcome: Dict[str, Any] = {}
        self.peer_id = ""
        self._socket: "Optional[zmq.Socket[bytes]]" = None
        self._sub: "Optional[zmq.Socket[bytes]]" = None
        # The DEALER's monitor (handshake failures), or None when it could not be made.
        self._monitor: "Optional[zmq.Socket[bytes]]" = None
        # The last handshake failure logged, so that a retried refusal is logged once
        # (until a WELCOME) and at debug level after that.
        self._handshake_reported = ""
        self._topic = b""
        # Bumped whenever the socket is replaced, so a receive loop notices that a hook
        # or a message closed the socket it was reading.
        self._generation = 0
        self._outbox: Deque[List[bytes]] = collections.deque()
        self._heartbeat = DEFAULT_HEARTBEAT_S
        self._liveness = DEFAULT_LIVENESS
        self._last_recv = 0.0
        self._last_send = 0.0
        self._reconnect_at = 0.0

    # --- public -------------------------------------------------------------------

    @property
    def registered(self) -> bool:
        return self.state == REGISTERED

    def connect(self) -> None:
        """Opens the socket and sends HELLO."""
        if self.state == IDLE:
            self._open(time.monotonic())

    def close(self, say_bye: bool) -> None:
        """Ends the session, with BYE first when registered and `say_bye`. No hook runs."""
        self._close_sockets(say_bye)
        self.state = IDLE

    def send(self, frames: List[bytes]) -> bool:
        """Sends (or queues, in order) a message.

        False, and the message is dropped, when the session is not registered: the
        owner re-sends what matters from its on_registered hook.
        """
        if self.state != REGISTERED or self._socket is None:
            return False
        if not self._outbox and self._try_send(frames, time.monotonic()):
            return True
        if len(self._outbox) >= MAX_OUTBOX:
            log.error("%s: outbox full (%d messages), dropping a message", self._role, len(self._outbox))
            return False
        self._outbox.append(frames)
        return True

    def poll(self, extra_fds: Sequence[int], until: float) -> List[int]:
        """One step of the owner's loop.

        Waits until a socket or one of `extra_fds` is readable, the session's next
        timer, or `until` (a time.monotonic() value), whichever comes first; then reads
        inbound messages, flushes the outbox and runs the heartbeat, liveness and
        reconnect timers. Returns the extra fds that are readable.
        """
        now = time.monotonic()
        deadline = min(until, self._next_deadline())
        wait_s = min(max(deadline - now, 0.0), MAX_POLL_WAIT_S)

        poller = zmq.Poller()
        socket, sub, monitor = self._socket, self._sub, self._monitor
        if socket is not None:
            poller.register(socket, zmq.POLLIN | (zmq.POLLOUT if self._outbox else 0))
        if sub is not None:
            poller.register(sub, zmq.POLLIN)
        if monitor is not None:
            poller.register(monitor, zmq.POLLIN)
        for fd in extra_fds:
            poller.register(fd, zmq.POLLIN)
        try:
            events = dict(poller.poll(math.ceil(wait_s * 1000)))
        except zmq.ZMQError as exc:
            if exc.errno != errno.EINTR:
                log.error("%s: poll failed: %s", self._role, exc)
            events = {}
        ready = [fd for fd in extra_fds if events.get(fd, 0) & zmq.POLLIN]

        now = time.monotonic()
        if socket is not None and socket is self._socket and events.get(socket, 0) & zmq.POLLIN:
            self._receive(now)
        if sub is not None and sub is self._sub and events.get(sub, 0) & zmq.POLLIN:
            self._receive_sysmsg(now)
        if self._socket is not None and self._outbox:
            self._flush_outbox(now)
        if monitor is not None and monitor is self._monitor and events.get(monitor, 0) & zmq.POLLIN:
            self._read_monitor(now)
        self._run_timers(now)
        return ready

    # --- sockets ------------------------------------------------------------------

    def _open(self, now: float) -> None:
        self._close_sockets(False)
        self._heartbeat = DEFAULT_HEARTBEAT_S
        self._liveness = DEFAULT_LIVENESS
        self.welcome = {}
        self.peer_id = ""
        self._last_recv = now  # the WELCOME is due within the default liveness from here
        self._last_send = now
        try:
            socket = self._context.socket(zmq.DEALER)
            socket.setsockopt(zmq.LINGER, 0)
            socket.setsockopt(zmq.SNDHWM, HIGH_WATER_MARK)
            socket.setsockopt(zmq.RCVHWM, HIGH_WATER_MARK)
            # Queue only on a completed connection: nothing piles up for a manager
            # that is gone, and the HELLO leaves as soon as one is up.
            socket.setsockopt(zmq.IMMEDIATE, 1)
            self._socket = socket
            self._generation += 1
            self._apply_curve(socket)
            self._monitor = self._open_monitor(socket)
            socket.connect(self.endpoint)
        except zmq.ZMQError as exc:
            log.error(
                "%s: cannot connect to %r: %s; retrying in %.3f s", self._role, self.endpoint, exc, self._con_retry_time
            )
            self._close_sockets(False)
            self.state = WAITING
            self._reconnect_at = now + self._con_retry_time
            return
        self.state = CONNECTING
        log.debug("%s: connecting to %s", self._role, self.endpoint)
        self._outbox.append(proto.encode("HELLO", self._hello()))
        self._flush_outbox(now)

    def _hello(self) -> Dict[str, Any]:
        """The HELLO header: "identity" when the peer has one (a client), "sysmsg"
        only when false (absent means true)."""
        hello: Dict[str, Any] = {"name": self._name, "lang": "python"}
        if self._identity is not None:
            hello["identity"] = self._identity
        if not self._system_messages:
            hello["sysmsg"] = False
        return hello

    def _open_sub(self) -> None:
        """Connects the system-message SUB socket and subscribes to our peer id
        (unless this peer told the manager it takes no system messages)."""
        if not self._system_messages:
            return
        # A TCP channel is announced as its port (the command endpoint's host at
        # pub_port), any other (ipc://, inproc://) as its whole pub_endpoint (PROTOCOL §8.1).
        pub_port = self.welcome.get("pub_port")
        announced = self.welcome.get("pub_endpoint")
        if isinstance(pub_port, int) and not isinstance(pub_port, bool) and 0 < pub_port < 65536:
            endpoint = proto.pub_endpoint(self.endpoint, pub_port)
            if endpoint is None:
                log.warning("%s: cannot derive the system-message endpoint from %r", self._role, self.endpoint)
                return
        elif isinstance(announced, str) and "://" in announced:
            endpoint = announced
        else:
            log.info("%s: the manager announces no system-message channel; system messages are off", self._role)
            return
        topic = self.peer_id.encode("utf-8")
        if not topic or len(topic) > proto.MAX_TOPIC_BYTES:
            log.warning("%s: peer id %r cannot be a subscription topic", self._role, self.peer_id)
            return
        try:
            sub = self._context.socket(zmq.SUB)
        except zmq.ZMQError as exc:
            log.error("%s: cannot open the system-message socket: %s", self._role, exc)
            return
        try:
            sub.setsockopt(zmq.LINGER, 0)
            sub.setsockopt(zmq.RCVHWM, HIGH_WATER_MARK)
            sub.setsockopt(zmq.SUBSCRIBE, topic)
            self._apply_curve(sub)
            sub.connect(endpoint)
        except zmq.ZMQError as exc:
            log.error("%s: cannot connect the system-message socket to %s: %s", self._role, endpoint, exc)
            sub.close(linger=0)
            return
        self._sub = sub
        self._topic = topic
        log.debug("%s: system messages from %s, topic %r", self._role, endpoint, topic)

    def _apply_curve(self, socket: "zmq.Socket[bytes]") -> None:
        """Makes `socket` a CURVE client of the manager (before it connects)."""
        curve = self._curve
        if curve is None:
            return
        socket.setsockopt(zmq.CURVE_SERVERKEY, curve.server_public_key.encode("ascii"))
        socket.setsockopt(zmq.CURVE_PUBLICKEY, curve.public_key.encode("ascii"))
        socket.setsockopt(zmq.CURVE_SECRETKEY, curve.secret_key.encode("ascii"))

    def _open_monitor(self, socket: "zmq.Socket[bytes]") -> "Optional[zmq.Socket[bytes]]":
        try:
            return socket.get_monitor_socket(HANDSHAKE_EVENTS, f"inproc://proletariat-monitor-{next(_monitor_names)}")
        except zmq.ZMQError as exc:  # only the diagnostics are lost
            log.debug("%s: no socket monitor: %s", self._role, exc)
            return None

    def _close_monitor(self) -> None:
        monitor, self._monitor = self._monitor, None
        if monitor is None:
            return
        try:
            if self._socket is not None:
                self._socket.disable_monitor()
        except zmq.ZMQError:
            pass
        monitor.close(linger=0)

    def _read_monitor(self, now: float) -> None:
        """Handles the handshake failures the DEALER's monitor reported."""
        for _ in range(MAX_RECEIVE_BATCH):
            monitor = self._monitor
            if monitor is None:
                return
            try:
                event = recv_monitor_message(monitor, zmq.NOBLOCK)
            except zmq.Again:
                return
            except zmq.ZMQError as exc:
                log.debug("%s: monitor receive failed: %s", self._role, exc)
                return
            self._handshake_failed(int(event["event"]), int(event["value"]), now)

    def _handshake_failed(self, event: int, value: int, now: float) -> None:
        refused = event == zmq.EVENT_HANDSHAKE_FAILED_AUTH or (
            event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL and value == zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH
        )
        what = self._describe_handshake_failure(event, value)
        if what != self._handshake_reported:
            self._handshake_reported = what
            log.log(logging.ERROR if refused else logging.WARNING, "%s: %s (%s)", self._role, what, self.endpoint)
        else:
            log.debug("%s: %s again (%s)", self._role, what, self.endpoint)
        if not refused or self.state not in (CONNECTING, REGISTERED):
            return  # libzmq tries again by itself; the liveness window is the backstop
        retry_after = max(self._con_retry_time, HANDSHAKE_RETRY_MIN_S)
        if self.state == REGISTERED:
            self._lose("the manager refused the handshake", retry_after, now)
            return
        self._close_sockets(False)
        self.state = WAITING
        self._reconnect_at = now + retry_after

    def _describe_handshake_failure(self, event: int, value: int) -> str:
        mismatch = event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL and value == zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH
        curve = self._curve
        if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
            if curve is None:
                return f"the manager refused the connection (ZAP status {value})"
            return (f"the manager refused this {self._role}'s CURVE key {curve.public_key} (ZAP status {value}): "
                    f"its key directory does not list it (PROTOCOL §13)")
        if curve is None:
            if mismatch:
                return (f"the manager requires CURVE (PROTOCOL §13): give this {self._role} "
                        f"curve=CurveOptions(server_public_key, public_key, secret_key)")
            return (f"the handshake with the manager failed (error {value:#x}); a manager that requires CURVE "
                    f"refuses peers without curve= (PROTOCOL §13)")
        if mismatch:
            return "the manager does not run CURVE, but this peer was given curve= options"
        return (f"the CURVE handshake with the manager failed (error {value:#x}): is server_public_key "
                f"{curve.server_public_key} the manager's public key?")

    def _close_sockets(self, say_bye: bool) -> None:
        self._close_monitor()
        if self._sub is not None:
            self._sub.close(linger=0)
            self._sub = None
            self._topic = b""
        if self._socket is None:
            return
        socket = self._socket
        linger = 0
        try:
            if say_bye and self.state == REGISTERED:
                now = time.monotonic()
                self._flush_outbox(now)
                if self._try_send(proto.encode("BYE"), now):
                    linger = BYE_LINGER_MS
        except zmq.ZMQError as exc:
            log.warning("%s: could not say BYE: %s", self._role, exc)
        socket.close(linger=linger)
        self._socket = None
        self._generation += 1
        self._outbox.clear()

    def _lose(self, reason: str, retry_after: float, now: float) -> None:
        """Ends a session that went wrong and schedules the next one."""
        was_registered = self.state == REGISTERED
        log.warning(
            "%s: session with %s lost (%s), registering again in %.3f s", self._role, self.endpoint, reason, retry_after
        )
        self._close_sockets(False)
        self.state = WAITING
        self._reconnect_at = now + retry_after
        if was_registered:
            self._on_lost()

    # --- timers -------------------------------------------------------------------

    def _silence_limit(self) -> float:
        return self._heartbeat * self._liveness

    def _next_deadline(self) -> float:
        if self.state == IDLE:
            return math.inf
        if self.state == WAITING:
            return self._reconnect_at
        if self.state == CONNECTING:
            return self._last_recv + self._silence_limit()
        return min(self._last_recv + self._silence_limit(), self._last_send + self._heartbeat * HEARTBEAT_EARLY)

    def _run_timers(self, now: float) -> None:
        if self.state == WAITING:
            if now >= self._reconnect_at:
                self._open(now)
        elif self.state == CONNECTING:
            if now >= self._last_recv + self._silence_limit():
                self._lose("no WELCOME", self._con_retry_time, now)
        elif self.state == REGISTERED:
            if now >= self._last_recv + self._silence_limit():
                self._lose("manager silent past its liveness", self._con_retry_time, now)
                return
            if now >= self._last_send + self._heartbeat * HEARTBEAT_EARLY:
                if not self._outbox:
                    self._try_send(proto.encode("HEARTBEAT"), now)
                # Not writable (no connection): try again one interval later, do not spin.
                self._last_send = now

    # --- inbound ------------------------------------------------------------------

    def _receive(self, now: float) -> None:
        generation = self._generation
        for _ in range(MAX_RECEIVE_BATCH):
            if self._socket is None or generation != self._generation:
                return
            try:
                frames = self._socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            except zmq.ZMQError as exc:
                log.error("%s: receive failed: %s", self._role, exc)
                return
            self._last_recv = now  # anything at all from the manager is a sign of life
            try:
                msg = proto.decode_from_manager(frames)
            except ValueError as exc:
                log.warning("%s: dropping a bad message from the manager: %s", self._role, exc)
                continue
            try:
                self._handle(msg, now)
            except Exception:  # a bug in a hook must not end the I/O thread
                log.exception("%s: failed to handle %s from the manager", self._role, msg.command)

    def _handle(self, msg: proto.Message, now: float) -> None:
        command = msg.command
        if command == "WELCOME":
            if self.state != CONNECTING:
                log.warning("%s: unexpected WELCOME while %s; ignored", self._role, self.state)
                return
            peer_id = msg.header.get("id")
            heartbeat_ms = msg.header.get("heartbeat_ms")
            liveness = msg.header.get("liveness")
            if not isinstance(peer_id, str) or not peer_id or not isinstance(heartbeat_ms, int) or not isinstance(
                liveness, int
            ):
                log.warning("%s: malformed WELCOME %r dropped", self._role, msg.header)
                return
            if msg.header.get("protocol") != proto.PROTOCOL_VERSION:
                log.warning(
                    "%s: manager speaks protocol %r, this library %d",
                    self._role,
                    msg.header.get("protocol"),
                    proto.PROTOCOL_VERSION,
                )
            self.welcome = dict(msg.header)
            self.peer_id = peer_id
            self._handshake_reported = ""
            self._heartbeat = max(heartbeat_ms, 1) / 1000.0
            self._liveness = max(liveness, 1)
            self.state = REGISTERED
            log.info(
                "%s: registered with %s as %s (heartbeat %d ms, liveness %d)",
                self._role,
                self.endpoint,
                peer_id,
                heartbeat_ms,
                liveness,
            )
            self._open_sub()
            self._on_registered()
            return
        if command == "HEARTBEAT":
            return
        if command == "BYE":
            reason = msg.header.get("reason")
            self._lose("manager said BYE" + (f": {reason}" if reason else ""), self._con_retry_time, now)
            return
        if command == "ERROR":
            if msg.header.get("code") == ENOHELLO:
                # The manager does not know us: it restarted. Register again at once.
                self._lose("manager answered ENOHELLO", 0.0, now)
                return
            if self.state != REGISTERED:
                log.error(
                    "%s: manager answered %s before WELCOME: %s",
                    self._role,
                    msg.header.get("code"),
                    msg.header.get("message"),
                )
                return
        if self.state != REGISTERED:
            log.warning("%s: %s from the manager while %s; dropped", self._role, command, self.state)
            return
        self._on_message(msg)

    def _receive_sysmsg(self, now: float) -> None:
        generation = self._generation
        for _ in range(MAX_RECEIVE_BATCH):
            sub = self._sub
            if sub is None or generation != self._generation:
                return
            try:
                frames = sub.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            except zmq.ZMQError as exc:
                log.error("%s: system-message receive failed: %s", self._role, exc)
                return
            self._last_recv = now
            # SUB matches topic prefixes: "3f9a.1" also receives what is meant for
            # "3f9a.12". Only an exact match is ours.
            if not frames or frames[0] != self._topic:
                continue
            try:
                msg = proto.decode([b"", *frames[1:]])
            except ValueError as exc:
                log.warning("%s: dropping a bad system message: %s", self._role, exc)
                continue
            if msg.command != "SYSMSG" or len(msg.payloads) != 1:
                log.warning(
                    "%s: dropping %s with %d payloads from the system-message channel",
                    self._role,
                    msg.command,
                    len(msg.payloads),
                )
                continue
            if self.state != REGISTERED:
                continue
            try:
                self._on_sysmsg(msg.header, msg.payloads[0])
            except Exception:
                log.exception("%s: failed to handle a system message", self._role)

    # --- outbound -----------------------------------------------------------------

    def _try_send(self, frames: List[bytes], now: float) -> bool:
        """False if the socket cannot take the message now; the caller keeps it."""
        if self._socket is None or not frames:
            return False
        try:
            self._socket.send_multipart(frames, zmq.NOBLOCK)
        except zmq.Again:
            return False
        except zmq.ZMQError as exc:
            log.error("%s: send failed, message dropped: %s", self._role, exc)
            return True
        self._last_send = now
        return True

    def _flush_outbox(self, now: float) -> None:
        while self._outbox and self._socket is not None:
            if not self._try_send(self._outbox[0], now):
                return
            self._outbox.popleft()
