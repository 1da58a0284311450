"""proletariat.Worker: offers slots to the manager and runs jobs with a handler.

Threading: a Worker owns one I/O thread (started by :meth:`Worker.start`) that alone
touches its ZeroMQ sockets and owns the table of running jobs, their run deadlines
and the batch of results not yet sent. Handlers run on a pool of ``threads`` threads,
so a handler that blocks does not stop heartbeats. A job answers through
:meth:`WorkerJob.reply` / :meth:`WorkerJob.fail` (the library calls them with the
handler's return value or exception), from any thread; the answer is posted to the
I/O thread, which alone turns answers into RESULT entries.

A job leaves the running table exactly once: answered, timed out (ETO), aborted, or
taken away on reconnect or stop. An answer that reaches the I/O thread for a job no
longer in the table (matched by object identity, not id: a restarted manager may reuse
ids) is dropped, so each (id, attempt) gets at most one RESULT entry.
"""

from __future__ import annotations

import concurrent.futures
import heapq
import itertools
import logging
import math
import operator
import re
import threading
import time
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, TypeVar, Union, overload

from . import _protocol as proto
from . import _spec
from ._peer import PeerBase
from .client import DEFAULT_ENDPOINT, Job
from .curve import CurveOptions
from .errors import EABORTED, EBADFIELD, EBADOFFER, EDENIED, EHANDLER, ESTATE, ETO, ETOOBIG, JobError, ProletariatError

log = logging.getLogger("proletariat")

#: Largest offer a worker may make; the manager enforces the same bound (PROTOCOL §4).
MAX_SLOTS = proto.SLOTS_MAX
#: A runTimeout beyond this (about 30 years, in seconds) is treated as this.
MAX_RUN_TIMEOUT_S = float(1 << 30)
#: How long a graceful stop waits for the running jobs by default, in seconds: the
#: manager's own drain timeout is of the same order, and a job longer than that is
#: better run again elsewhere than waited for by a process that was asked to stop.
DEFAULT_DRAIN_TIMEOUT_S = 30.0

Handler = Callable[["WorkerJob"], Any]
AbortHandler = Callable[["WorkerJob", str], Any]
H = TypeVar("H", bound=Callable[..., Any])


class WorkerJob(Job):
    """One job on this worker, as its handler sees it.

    Attributes:
        args: the job's arguments (any JSON value; bytes when the client sent bytes).
        raw_args: the payload exactly as received.
        raw: True when the arguments are raw bytes.
        id: the manager's job id.
        attempt: 1 for the first assignment, growing each time the job is reassigned.
        priority: the job's priority.
        key: the hold-similar-work key, or None.
        service: the service the job names, or None.
        client: the id of the client that pushed it.
        run_timeout: seconds the job may run (ETO after that), or None.
        cancelled: a :class:`threading.Event`, set when the job is aborted, timed out,
            or taken away (reconnect, stop). A long handler should check it
            (``job.cancelled.is_set()``, ``job.is_cancelled()``) or wait on it, and
            give up: its answer is discarded anyway.
        cancel_reason: why it was cancelled: ``"abort"``, ``"ETO"``, ``"reconnect"``
            or ``"stop"`` (None while not cancelled).

    :meth:`progress` reports how far the job got, to the client's ``progress``
    callback (PROTOCOL §14.4).

    The handler's return value is the result (bytes are sent raw); raising
    :class:`ProletariatError` fails the job with its code, any other exception with
    ``EHANDLER``. To answer later, from any thread, call :meth:`defer` and return,
    then :meth:`reply` or :meth:`fail` once; or return a
    :class:`concurrent.futures.Future` whose outcome is the answer.
    """

    def __init__(self, worker: "Worker", entry: Dict[str, Any], payload: bytes) -> None:
        self._worker = worker
        self.id: int = entry["id"]
        self.attempt: int = entry["attempt"]
        priority = entry.get("priority", 0)
        self.priority: float = priority if isinstance(priority, (int, float)) and not isinstance(priority, bool) else 0
        key, service, client = entry.get("key"), entry.get("service"), entry.get("client")
        self.key: Optional[str] = key if isinstance(key, str) and key else None
        self.service: Optional[str] = service if isinstance(service, str) and service else None
        self.client: str = client if isinstance(client, str) else ""
        run_timeout = entry.get("runTimeout")
        self.run_timeout: Optional[float] = (
            run_timeout / 1000.0 if isinstance(run_timeout, int) and not isinstance(run_timeout, bool) else None
        )
        self.raw: bool = entry.get("raw") is True
        self.raw_args: bytes = payload
        self.args: Any = None  # decoded on the handler thread, before the handler runs
        self.cancelled = threading.Event()
        self.cancel_reason: Optional[str] = None
        self._lock = threading.Lock()
        self._answered = False
        self._deferred = False

    def __repr__(self) -> str:
        return f"WorkerJob(id={self.id}, attempt={self.attempt}, service={self.service!r}, key={self.key!r})"

    def is_cancelled(self) -> bool:
        """True once the job was aborted, timed out or taken away."""
        return self.cancelled.is_set()

    def raise_if_cancelled(self) -> None:
        """Raises ProletariatError(EABORTED) if the job was cancelled: a handler's
        shortcut for giving up."""
        if self.cancelled.is_set():
            raise ProletariatError(EABORTED, f"job {self.id} was cancelled ({self.cancel_reason})")

    def defer(self) -> "WorkerJob":
        """Says the answer comes later through :meth:`reply` or :meth:`fail`: the
        handler's return value is then ignored. Returns the job."""
        self._deferred = True
        return self

    def reply(self, value: Any = None) -> bool:
        """Answers the job with `value` (a JSON value, or bytes sent raw).

        Only the first answer counts; False when the job was answered or cancelled
        already. A value that is not JSON serializable fails the job with EHANDLER.
        """
        try:
            data, raw = proto.dump_payload(value)
        except (TypeError, ValueError) as exc:
            log.warning("worker: the result of job %d is not JSON serializable: %s", self.id, exc)
            return self._answer(JobError(EHANDLER, f"the result is not JSON serializable: {exc}"), b"", False)
        return self._answer(None, data, raw)

    def progress(self, data: Any) -> bool:
        """Reports the job's progress (any JSON value, or bytes sent raw) to the
        manager at once, which forwards it to the client, before the job's result.

        True if the report was queued; False, doing nothing, once the job was
        answered, aborted, timed out or taken away. A manager that did not announce
        the job lifecycle (PROTOCOL §14) does not take progress: the report is then
        dropped (logged once per session). Raises ProletariatError ``EBADFIELD`` for
        data that is not JSON serializable."""
        try:
            frame, raw = proto.dump_payload(data)
        except (TypeError, ValueError) as exc:
            raise ProletariatError(EBADFIELD, f"the progress of job {self.id} is not JSON serializable: {exc}") from None
        with self._lock:
            # Under the lock, so that a report made before the answer is queued before it.
            if self._answered:
                return False
            return self._worker._mailbox.post(("progress", self, frame, raw))

    def fail(self, code: str = EHANDLER, message: str = "") -> bool:
        """Fails the job with an error code (``"E..."``) and message. Only the first
        answer counts; False when the job was answered or cancelled already."""
        return self._answer(JobError(str(code) if code else EHANDLER, str(message or "")), b"", False)

    def _answer(self, err: Optional[JobError], data: bytes, raw: bool) -> bool:
        with self._lock:
            if self._answered:
                return False
            self._answered = True
        return self._worker._mailbox.post(("answer", self, err, data, raw))

    def _cancel(self, reason: str) -> None:
        """I/O thread: the job was taken away; later answers are ignored."""
        with self._lock:
            self._answered = True
            if self.cancel_reason is None:
                self.cancel_reason = reason
        self.cancelled.set()

    def _settle_from(self, future: "concurrent.futures.Future[Any]") -> None:
        if future.cancelled():
            self.fail(EABORTED, "the handler's future was cancelled")
            return
        error = future.exception()
        if error is None:
            self.reply(future.result())
        elif isinstance(error, ProletariatError):
            self.fail(error.code, error.message)
        else:
            self.fail(EHANDLER, f"{type(error).__name__}: {error}")


class _Running:
    __slots__ = ("job", "deadline")

    def __init__(self, job: WorkerJob, deadline: Optional[float]) -> None:
        self.job = job
        self.deadline = deadline


def _integer(value: Any, what: str, low: int, high: Optional[int] = MAX_SLOTS) -> int:
    """`value` as an int in [low, high] (numpy integers welcome); EBADOFFER otherwise."""
    try:
        number = operator.index(value) if not isinstance(value, bool) else None
    except TypeError:
        number = None
    if number is None or number < low or (high is not None and number > high):
        bounds = f"{low} .. {high}" if high is not None else f">= {low}"
        raise ProletariatError(EBADOFFER, f"{what} must be an integer {bounds}, not {value!r}")
    return number


_RANGE_START = re.compile(_spec.RANGE_START_PATTERN)


def _range_start(start: Any) -> float:
    """A prioritySlots key as a number: finite and >= 0 (PROTOCOL §4); EBADOFFER otherwise.

    Strings are read as the wire writes them, JSON number syntax without a sign ("1",
    "2.5", "1e3"; the manager's rule), without the extras float() would take (blanks,
    digit separators, "inf", a leading zero)."""
    if isinstance(start, bool) or (isinstance(start, str) and not _RANGE_START.fullmatch(start)):
        value = math.nan
    else:
        try:
            value = float(start)
        except (TypeError, ValueError):
            value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ProletariatError(EBADOFFER, f"priority_slots start {start!r} must be a finite number >= 0")
    return value


def _drain_seconds(value: Any) -> float:
    """A drain timeout: a finite number of seconds >= 0; EBADFIELD otherwise."""
    try:
        seconds = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise ProletariatError(EBADFIELD, f"drain_timeout must be a finite number of seconds >= 0, not {value!r}")
    return seconds


def _check_offer(slots: Any, priority_slots: Any, services: Iterable[str]) -> Tuple[int, Dict[float, int], List[str]]:
    """The offer rules of protocol/protocol.json ("offer"; PROTOCOL §4, SPEC 3), the
    manager's, checked before connecting so that a bad configuration raises EBADOFFER
    rather than becoming a log line. Returns (slots, the guarantees of the ranges above
    0, services): a guarantee for the range starting at 0 is ignored, as the manager
    ignores it (range 0 always gets the slots the other ranges leave), so it is checked
    for its type but not sent."""
    slots = _integer(slots, "slots", proto.SLOTS_MIN, proto.SLOTS_MAX)
    ranges: Dict[float, int] = {}
    if priority_slots:
        if not isinstance(priority_slots, Mapping):
            raise ProletariatError(EBADOFFER, "priority_slots must be a dict {lowest priority: slots}")
        for start, guaranteed in priority_slots.items():
            value = _range_start(start)
            count = _integer(guaranteed, f"priority_slots[{start!r}]", 0, None)
            if value == 0:
                log.debug("worker: the guarantee of %d slots for priority 0 is ignored: range 0 gets the slots "
                          "the other ranges leave", count)
                continue
            if value in ranges:
                raise ProletariatError(EBADOFFER, f"priority_slots names the range starting at "
                                                  f"{proto.priority_key(value)} twice")
            ranges[value] = count
        total = sum(ranges.values())
        if total > slots:
            raise ProletariatError(
                EBADOFFER, f"priority_slots guarantee {total} slots to the ranges above 0, more than the {slots} "
                           f"slots offered"
            )
    names: List[str] = []
    if isinstance(services, str):
        services = [services]
    for service in services:
        if not isinstance(service, str) or not service:
            raise ProletariatError(EBADOFFER, f"service names must be non-empty strings, not {service!r}")
        if service not in names:
            names.append(service)
    return int(slots), ranges, names


class Worker(PeerBase):
    """A peer that offers slots and runs jobs.

    Args:
        endpoint: the manager's command endpoint.
        slots: how many jobs run at once, 1 … 1,000,000.
        priority_slots: ``{lowest priority of a range: slots guaranteed to it}``, e.g.
            ``{1: 30, 2: 20}``; the rest belongs to the range starting at 0 (a
            guarantee given for 0 is ignored, as the manager ignores it). The
            guarantees above 0 must not sum to more than `slots`.
        services: services offered. None offered: only jobs that name no service.
            Services given to :meth:`handler` are added.
        answer_threshold: results are batched until this many wait (ANSWER_THRESHOLD),
            or the oldest waited `answer_delay` seconds, or nothing else runs.
        con_retry_time: seconds to wait before registering again after the manager
            was lost (CON_RETRYTIME).
        threads: threads that run handlers.
        name: shown in the manager's status.
        answer_delay: the bound on how long a batched result waits, in seconds.
        handler: the work handler (or use :meth:`handler` / :meth:`on_work`).
        system_messages: False tells the manager that this worker never takes system
            messages (HELLO ``"sysmsg": false``): it opens no system-message socket,
            broadcasts of other peers do not wait for it or count it, and a message
            addressed to it gets ``ENOPEER``. It may still send them.
        drain_timeout: seconds :meth:`stop` waits for the running jobs to finish
            (graceful stop: DRAIN, then BYE once they are done); 0 makes every stop
            immediate. Default 30.
        curve: connect with CURVE (PROTOCOL §13): a :class:`CurveOptions` (the
            manager's public key and this worker's key pair), or a mapping of its
            fields; None (the default) connects without. Both sockets use it. The
            manager must list the public key under ``workers/``: an offer by a key
            that is not a worker's is refused with ``EDENIED`` (see
            :attr:`offer_error`), and a key it does not list at all never registers
            (the refusal is logged).

    Raises ProletariatError ``EBADOFFER`` for an inconsistent offer, ``EBADFIELD``
    for a bad drain_timeout or malformed CURVE keys.

    Example::

        worker = Worker("tcp://127.0.0.1:1917", slots=8)

        @worker.handler
        def square(job):
            return job.args["n"] ** 2

        worker.run_forever()
    """

    _role = "worker"

    def __init__(
        self,
        endpoint: str = DEFAULT_ENDPOINT,
        slots: int = proto.SLOTS_DEFAULT,
        priority_slots: Optional[Mapping[float, int]] = None,
        services: Iterable[str] = (),
        answer_threshold: int = 1,
        con_retry_time: float = proto.DEFAULT_CON_RETRY_TIME_S,
        threads: int = 4,
        name: str = "",
        answer_delay: float = 0.005,
        handler: Optional[Handler] = None,
        *,
        system_messages: bool = True,
        drain_timeout: float = DEFAULT_DRAIN_TIMEOUT_S,
        curve: Optional[Union[CurveOptions, Mapping[str, Any]]] = None,
    ) -> None:
        super().__init__(endpoint, name, con_retry_time, system_messages, curve)
        self._drain_timeout = _drain_seconds(drain_timeout)
        self._in_handler = threading.local()  # .active is True on a handler thread inside a handler
        self._slots, self._priority_slots, self._services = _check_offer(slots, priority_slots, services)
        self._answer_threshold = _integer(answer_threshold, "answer_threshold", 1, 1 << 30)
        self._threads = _integer(threads, "threads", 1, 1 << 16)
        self._answer_delay = max(0.0, float(answer_delay))
        self._handlers: Dict[Optional[str], Handler] = {}
        self._abort_handlers: List[AbortHandler] = []
        self._pool: Optional[concurrent.futures.ThreadPoolExecutor] = None
        self._started = False
        self._stopped = threading.Event()
        self._ready = False
        #: The manager's refusal of this session's offer (``EBADOFFER``, ``EDENIED``), or
        #: None. Cleared when the worker offers again on its next registration.
        self.offer_error: Optional[ProletariatError] = None
        # I/O thread state. Invariant: every job in _running with a deadline has an
        # entry in _run_deadlines (which may also hold stale entries of jobs gone).
        self._running: Dict[Tuple[int, int], _Running] = {}
        self._run_deadlines: List[Tuple[float, int, Tuple[int, int], WorkerJob]] = []
        self._seq = itertools.count()
        self._pending: List[Dict[str, Any]] = []  # results not yet sent, with ...
        self._pending_payloads: List[bytes] = []  # ... their payloads, same order
        self._oldest_pending = 0.0
        # Progress reports not yet sent (PROGRESS entries and payloads): sent at the end
        # of the loop step that queued them, and always before any RESULT.
        self._progress: List[Dict[str, Any]] = []
        self._progress_payloads: List[bytes] = []
        # Progress dropped in this session because the manager does not take it (logged once).
        self._progress_refused = False
        # True from the start of a graceful stop (DRAIN sent): JOBS that still arrive
        # are rejected, and no new offer is made.
        self._draining = False
        if handler is not None:
            self.on_work(handler)

    # --- configuration ------------------------------------------------------------

    @overload
    def handler(self, service: Handler) -> Handler: ...

    @overload
    def handler(self, service: Optional[str] = None) -> Callable[[H], H]: ...

    def handler(self, service: Union[Handler, Optional[str]] = None) -> Any:
        """Registers the work handler; a decorator, with or without a service name.

        ``@worker.handler`` sets the handler for every job; ``@worker.handler("ocr")``
        the handler for jobs of service "ocr" (and offers that service). A job goes to
        its service's handler, else to the default one.
        """
        if callable(service):
            self.on_work(service)
            return service

        name: Optional[str] = service

        def register(fn: H) -> H:
            self.on_work(fn, name)
            return fn

        return register

    def on_work(self, handler: Handler, service: Optional[str] = None) -> None:
        """Sets ``handler(job) -> result`` for every job, or for jobs of `service`.

        Services are offered when the worker registers: set handlers before start().
        """
        if not callable(handler):
            raise TypeError("the work handler must be callable")
        if service is not None:
            if not isinstance(service, str) or not service:
                raise ProletariatError(EBADOFFER, f"service names must be non-empty strings, not {service!r}")
            if service not in self._services:
                if self._started:
                    log.warning("worker: service %r added after start(); offered from the next session on", service)
                self._services.append(service)
        self._handlers[service] = handler

    def on_abort(self, handler: H) -> H:
        """Adds ``handler(job, reason)``, called when a running job is taken away:
        reason ``"abort"`` (client or manager), ``"ETO"`` (run timeout),
        ``"reconnect"`` (the manager was lost) or ``"stop"``. Runs on the events
        thread, after ``job.cancelled`` is set. Usable as a decorator."""
        if not callable(handler):
            raise TypeError("on_abort needs a callable")
        self._abort_handlers.append(handler)
        return handler

    # --- lifecycle ----------------------------------------------------------------

    def start(self) -> "Worker":
        """Starts the handler threads and the I/O thread, which registers and offers
        the slots. Returns at once; see :meth:`wait_ready`."""
        with self._lifecycle:
            if self._closing:
                raise ProletariatError(ESTATE, "this worker was stopped; make a new one")
            if self._started:
                raise ProletariatError(ESTATE, "Worker.start called twice")
            self._started = True
            self._pool = concurrent.futures.ThreadPoolExecutor(self._threads, thread_name_prefix="proletariat-handler")
            self._start_io()
        return self

    def stop(self, timeout: float = 5.0, drain_timeout: Optional[float] = None) -> None:
        """Stops the worker, gracefully by default (PROTOCOL §4 DRAIN, §12).

        Graceful: tells the manager DRAIN (it sends no more jobs; any that still
        arrive are rejected), waits until the running jobs have finished and their
        results are sent, at most `drain_timeout` seconds (default: the constructor's,
        30 s), then does what an immediate stop does with what is left.

        Immediate (``drain_timeout=0``, or a graceful stop whose time is up): delivers
        finished results, cancels the running jobs (their ``cancelled`` flags are set
        with reason ``"stop"``; the manager requeues them), says BYE and stops the I/O
        thread. Handlers still running are not waited for.

        Blocks until the worker stopped, waiting for the I/O thread `timeout` seconds
        beyond the drain. Called from a handler, it returns at once and the worker
        stops in the background (it cannot wait for the job that called it). A second
        call with ``drain_timeout=0`` while a graceful stop goes on makes it immediate;
        otherwise a second call does nothing.
        """
        self.close(timeout, drain_timeout)

    def close(self, timeout: float = 5.0, drain_timeout: Optional[float] = None) -> None:
        """Same as :meth:`stop`."""
        drain_s = self._drain_timeout if drain_timeout is None else _drain_seconds(drain_timeout)
        if getattr(self._in_handler, "active", False):
            threading.Thread(
                target=self._close, args=(timeout, drain_s), name="proletariat-worker-stop", daemon=True
            ).start()
            return
        self._close(timeout, drain_s)

    def _close(self, timeout: float, drain_s: float) -> None:
        self._stop_io(timeout, drain_s if self._started else 0.0)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        with self._status:
            self._ready = False
        self._stopped.set()

    def run_forever(self) -> None:
        """Starts (if needed) and serves until :meth:`stop` is called from another
        thread or the process gets Ctrl-C (KeyboardInterrupt), then stops."""
        if not self._started:
            self.start()
        try:
            while not self._stopped.wait(0.5):
                pass
        except KeyboardInterrupt:
            log.info("worker: interrupted, stopping")
        finally:
            try:
                self.stop()
            except KeyboardInterrupt:  # a second Ctrl-C while draining: stop now
                log.info("worker: interrupted again, stopping at once")
                self.stop(drain_timeout=0)

    def __enter__(self) -> "Worker":
        if not self._started:
            self.start()
        return self

    # --- status -------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """True while the manager has accepted the offer (OFFERED)."""
        with self._status:
            return bool(self._ready)

    def wait_ready(self, timeout: Optional[float] = None) -> bool:
        """Waits until the manager accepted the offer; False if `timeout` passed first,
        or at once when the manager refused it (then :attr:`offer_error` says why)."""
        with self._status:
            self._status.wait_for(lambda: self._ready or self.offer_error is not None, timeout)
            return bool(self._ready)

    @property
    def running(self) -> int:
        """Jobs running on this worker now."""
        return len(self._running)

    @property
    def slots(self) -> int:
        """The slots offered."""
        return self._slots

    @property
    def services(self) -> List[str]:
        """The services offered."""
        return list(self._services)

    # --- handler threads ----------------------------------------------------------

    def _run_handler(self, job: WorkerJob) -> None:
        if job.cancelled.is_set():
            return  # taken away before it started
        self._in_handler.active = True
        try:
            self._run_handler_of(job)
        finally:
            self._in_handler.active = False

    def _run_handler_of(self, job: WorkerJob) -> None:
        try:
            job.args = proto.load_payload(job.raw_args, job.raw)
        except ValueError as exc:
            job.fail(EHANDLER, f"the job's arguments are not valid JSON: {exc}")
            return
        handler = self._handlers.get(job.service) if job.service else None
        if handler is None:
            handler = self._handlers.get(None)
        if handler is None:
            job.fail(EHANDLER, f"this worker has no handler for {'service ' + repr(job.service) if job.service else 'jobs'}")
            return
        try:
            value = handler(job)
        except ProletariatError as exc:
            job.fail(exc.code, exc.message)
            return
        except Exception as exc:
            log.debug("worker: handler failed on job %d", job.id, exc_info=True)
            job.fail(EHANDLER, f"{type(exc).__name__}: {exc}")
            return
        except BaseException as exc:
            job.fail(EHANDLER, f"{type(exc).__name__}: {exc}")
            raise
        if job._deferred:
            return
        if isinstance(value, concurrent.futures.Future):
            value.add_done_callback(job._settle_from)
            return
        job.reply(value)  # ignored if the handler answered already

    # --- I/O thread ---------------------------------------------------------------

    def _offer_header(self) -> Dict[str, Any]:
        header: Dict[str, Any] = {"slots": self._slots}
        if self._priority_slots:
            header["prioritySlots"] = {proto.priority_key(s): n for s, n in sorted(self._priority_slots.items())}
        if self._services:
            header["services"] = list(self._services)
        return header

    def _set_ready(self, ready: bool) -> None:
        with self._status:
            self._ready = ready
            self._status.notify_all()

    def _io_registered(self) -> None:
        if self._draining:
            return  # stopping: no new offer (the loop ends as the lost session took every job)
        with self._status:
            self.offer_error = None
        self._send(proto.encode("OFFER", self._offer_header()))

    def _io_lost(self) -> None:
        self._set_ready(False)
        # The manager has requeued these attempts (or forgot them): nothing we finish
        # for them may be sent, now or after we register again.
        self._take_away_all("reconnect")
        self._pending.clear()
        self._pending_payloads.clear()
        self._progress.clear()
        self._progress_payloads.clear()
        self._progress_refused = False

    def _io_message(self, msg: proto.Message) -> None:
        if msg.command == "OFFERED":
            log.info("worker: offer of %s slots accepted", msg.header.get("slots"))
            self.offer_error = None
            self._set_ready(True)
        elif msg.command == "JOBS":
            self._on_jobs(msg)
        elif msg.command == "ABORT":
            self._on_abort(msg)
        else:
            super()._io_message(msg)

    def _io_error(self, code: str, message: str, command: Any, req: Any, header: Dict[str, Any]) -> bool:
        if command == "OFFER":
            # Not offered again in this session: the refusal would only repeat. The
            # next registration offers again (the manager may have reloaded its keys).
            if code == EDENIED:
                log.error("worker: the manager refused the offer with EDENIED: this worker's CURVE key is not listed "
                          "as a worker's (PROTOCOL §13); it takes no jobs in this session: %s", message)
            else:
                log.error("worker: the manager refused the offer: %s %s", code, message)
            with self._status:
                self.offer_error = ProletariatError(code, message, header.get("class"))
                self._status.notify_all()
            return True
        return False

    def _on_jobs(self, msg: proto.Message) -> None:
        try:
            items = proto.entries(msg, "jobs")
        except ValueError as exc:
            log.error("worker: dropping JOBS: %s", exc)
            return
        now = time.monotonic()
        reject: List[Dict[str, int]] = []
        assert self._pool is not None
        for entry, payload in zip(items, msg.payloads):
            job_id, attempt = entry.get("id"), entry.get("attempt")
            if not isinstance(job_id, int) or not isinstance(attempt, int):
                log.error("worker: JOBS entry without integer id and attempt dropped: %r", entry)
                continue
            key = (job_id, attempt)
            if key in self._running:
                log.warning("worker: job %d attempt %d is already running; duplicate ignored", job_id, attempt)
                continue
            if self._draining or len(self._running) >= self._slots:
                reject.append({"id": job_id, "attempt": attempt})
                continue
            job = WorkerJob(self, entry, payload)
            deadline = None
            if job.run_timeout is not None:
                deadline = now + min(job.run_timeout, MAX_RUN_TIMEOUT_S)
                heapq.heappush(self._run_deadlines, (deadline, next(self._seq), key, job))
            self._running[key] = _Running(job, deadline)
            self._pool.submit(self._run_handler, job)
        if reject:
            if self._draining:
                log.info("worker: rejecting %d jobs that arrived after DRAIN", len(reject))
            else:
                log.warning("worker: rejecting %d jobs beyond its %d slots", len(reject), self._slots)
            self._send(proto.encode("REJECT", {"jobs": reject}))

    def _on_abort(self, msg: proto.Message) -> None:
        jobs = msg.header.get("jobs")
        if not isinstance(jobs, list):
            log.warning("worker: malformed ABORT %r dropped", msg.header)
            return
        for entry in jobs:
            if not isinstance(entry, dict):
                continue
            key = (entry.get("id"), entry.get("attempt"))
            if key in self._running:
                self._take_away(key, "abort")  # type: ignore[arg-type]
            else:
                log.debug("worker: ABORT for job %r attempt %r, which is not running", key[0], key[1])

    def _io_command(self, command: Tuple[Any, ...]) -> None:
        if command[0] == "answer":
            _, job, err, data, raw = command
            key = (job.id, job.attempt)
            running = self._running.get(key)
            if running is None or running.job is not job:
                log.debug("worker: late answer for job %d attempt %d dropped", job.id, job.attempt)
                return
            del self._running[key]
            self._add_result(key, err, data, raw)
        elif command[0] == "progress":
            self._on_progress(command[1], command[2], command[3])
        else:
            super()._io_command(command)

    def _on_progress(self, job: WorkerJob, frame: bytes, raw: bool) -> None:
        key = (job.id, job.attempt)
        running = self._running.get(key)
        if running is None or running.job is not job:
            return  # answered, aborted or timed out meanwhile: progress would follow its end
        welcome = self._session.welcome if self._session else {}
        if welcome.get("lifecycle") is not True:
            if not self._progress_refused:
                log.warning("worker: the manager did not announce the job lifecycle (PROTOCOL §14): progress of "
                            "its jobs is dropped")
                self._progress_refused = True
            return
        entry: Dict[str, Any] = {"id": key[0], "attempt": key[1]}
        if raw:
            entry["raw"] = True
        self._progress.append(entry)
        self._progress_payloads.append(frame)

    def _add_result(self, key: Tuple[int, int], err: Optional[JobError], data: bytes, raw: bool) -> None:
        if not self._pending:
            self._oldest_pending = time.monotonic()
        entry: Dict[str, Any] = {"id": key[0], "attempt": key[1], "err": err.to_wire() if err else None}
        if raw:
            entry["raw"] = True
        self._pending.append(entry)
        self._pending_payloads.append(data if err is None else b"")

    def _io_deadline(self) -> float:
        deadline = self._run_deadlines[0][0] if self._run_deadlines else math.inf
        if self._pending:
            deadline = min(deadline, self._oldest_pending + self._answer_delay)
        return deadline

    def _io_timers(self, now: float) -> None:
        self._flush_progress()
        while self._run_deadlines and self._run_deadlines[0][0] <= now:
            _deadline, _seq, key, job = heapq.heappop(self._run_deadlines)
            running = self._running.get(key)
            if running is None or running.job is not job:
                continue  # answered before its deadline
            self._add_result(key, JobError(ETO, f"the job ran longer than its runTimeout of {job.run_timeout:g} s"), b"", False)
            self._take_away(key, "ETO")
        # Stale entries (jobs answered in time) would pile up under long run timeouts.
        if len(self._run_deadlines) > 2 * len(self._running) + 64:
            self._run_deadlines = [e for e in self._run_deadlines if self._running.get(e[2]) is not None and self._running[e[2]].job is e[3]]
            heapq.heapify(self._run_deadlines)
        self._maybe_flush(now)

    def _maybe_flush(self, now: float) -> None:
        """Sends the batch when it is full, when nothing else runs, or when its oldest
        result has waited answer_delay (SPEC 4, ANSWER_THRESHOLD)."""
        if self._pending and (
            len(self._pending) >= self._answer_threshold
            or not self._running
            or now >= self._oldest_pending + self._answer_delay
        ):
            self._flush()

    def _flush(self) -> None:
        """Sends the pending results, in as many RESULT messages as the manager's
        max_frames and max_message_bytes (from WELCOME) require (PROTOCOL §10). A
        result too big to travel alone is answered with the error ETOOBIG instead."""
        self._flush_progress()
        if not self._pending:
            return
        max_frames, max_bytes = self._limits()
        max_results = max_frames - proto.FIXED_FRAMES
        base_bytes = proto.message_overhead("RESULT", {}, "results")
        entries, payloads = self._pending, self._pending_payloads
        self._pending, self._pending_payloads = [], []

        chunk_entries: List[Dict[str, Any]] = []
        chunk_payloads: List[bytes] = []
        size = base_bytes
        for entry, payload in zip(entries, payloads):
            entry_size = proto.entry_bytes(entry) + len(payload)
            if base_bytes + entry_size > max_bytes:
                log.warning("worker: the result of job %d (%d bytes) is too big to send; answering ETOOBIG",
                            entry["id"], entry_size)
                entry = {"id": entry["id"], "attempt": entry["attempt"],
                         "err": {"code": ETOOBIG, "message": f"the result needs {base_bytes + entry_size} bytes, "
                                                            f"more than the manager's max_message_bytes of {max_bytes}"}}
                payload = b""
                entry_size = proto.entry_bytes(entry)
            if chunk_entries and (len(chunk_entries) >= max_results or size + entry_size > max_bytes):
                self._send(proto.encode("RESULT", {"results": chunk_entries}, chunk_payloads))
                chunk_entries, chunk_payloads, size = [], [], base_bytes
            chunk_entries.append(entry)
            chunk_payloads.append(payload)
            size += entry_size
        if chunk_entries:
            self._send(proto.encode("RESULT", {"results": chunk_entries}, chunk_payloads))

    def _limits(self) -> Tuple[int, int]:
        """(max_frames, max_message_bytes) of the current WELCOME, or the defaults."""
        welcome = self._session.welcome if self._session else {}
        max_frames = welcome.get("max_frames")
        if not isinstance(max_frames, int) or max_frames <= proto.FIXED_FRAMES:
            max_frames = proto.DEFAULT_MAX_FRAMES
        max_bytes = welcome.get("max_message_bytes")
        if not isinstance(max_bytes, int) or max_bytes <= 0:
            max_bytes = proto.DEFAULT_MAX_MESSAGE_BYTES
        return max_frames, max_bytes

    def _flush_progress(self) -> None:
        """Sends the queued progress reports, split as the manager's limits require
        (PROTOCOL §10). A report too big to travel alone is dropped: unlike a result,
        nothing has to answer for it."""
        if not self._progress:
            return
        max_frames, max_bytes = self._limits()
        max_entries = max_frames - proto.FIXED_FRAMES
        base_bytes = proto.message_overhead("PROGRESS", {}, "progress")
        entries, payloads = self._progress, self._progress_payloads
        self._progress, self._progress_payloads = [], []
        chunk_entries: List[Dict[str, Any]] = []
        chunk_payloads: List[bytes] = []
        size = base_bytes
        for entry, payload in zip(entries, payloads):
            entry_size = proto.entry_bytes(entry) + len(payload)
            if base_bytes + entry_size > max_bytes:
                log.warning("worker: a progress report of job %d (%d bytes) is too big to send; dropped",
                            entry["id"], entry_size)
                continue
            if chunk_entries and (len(chunk_entries) >= max_entries or size + entry_size > max_bytes):
                self._send(proto.encode("PROGRESS", {"progress": chunk_entries}, chunk_payloads))
                chunk_entries, chunk_payloads, size = [], [], base_bytes
            chunk_entries.append(entry)
            chunk_payloads.append(payload)
            size += entry_size
        if chunk_entries:
            self._send(proto.encode("PROGRESS", {"progress": chunk_entries}, chunk_payloads))

    def _take_away(self, key: Tuple[int, int], reason: str) -> None:
        """Removes a running job: cancels it and tells the abort handlers. No RESULT
        follows unless the caller queued one (ETO)."""
        running = self._running.pop(key, None)
        if running is None:
            return
        job = running.job
        job._cancel(reason)
        for handler in self._abort_handlers:
            self._call_soon(handler, job, reason)

    def _take_away_all(self, reason: str) -> None:
        for key in list(self._running):
            self._take_away(key, reason)

    def _io_begin_drain(self) -> bool:
        """A graceful stop: DRAIN, then the loop waits for the running jobs (False:
        not registered, so nothing runs and nobody hears a DRAIN; stop at once)."""
        if not self._registered:
            return False
        self._draining = True
        self._set_ready(False)
        self._send(proto.encode("DRAIN"))
        if self._running:
            log.info("worker: draining, waiting for %d running jobs", len(self._running))
        return True

    def _io_drained(self) -> bool:
        # A lost session took the running jobs away (the manager requeued them).
        return not self._registered or (not self._running and not self._pending and not self._progress)

    def _io_shutdown(self) -> None:
        if self._draining and self._running:
            log.warning("worker: the drain timeout passed with %d jobs running; they go back to the manager",
                        len(self._running))
        self._flush()  # finished work is worth delivering; the BYE requeues the rest
        self._take_away_all("stop")


__all__ = ["Worker", "WorkerJob"]
