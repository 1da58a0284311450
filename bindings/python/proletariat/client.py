"""proletariat.Client: pushes groups of jobs to the manager and collects their results.

Threading: a Client owns one I/O thread (started by the constructor) that alone
touches its ZeroMQ sockets and owns the table of requests. Every public method may be
called from any thread; :meth:`Client.work` blocks the caller until the results are
in, :meth:`Client.submit` and :meth:`Client.work_individual` do not.

A job's life on the I/O thread (as in libproletariat's client): unsent -> sent (PUSH
queued, its ACCEPTED awaited) -> accepted (the manager's id known) -> done (result
delivered). Any state may jump to done (client timeout ECSTO, abort EABORTED, ERROR
for its push, lost connection without keep_state ECONNLOST). Losing the session takes
every sent or accepted job back to unsent (keep_state: pushed again on the next
session) or to done with ECONNLOST, unless the last WELCOME named a journal
(PROTOCOL §12): then accepted jobs stay accepted (their ids kept, their results
awaited from the next session if it names the same journal), and only sent jobs go
back to unsent. Invariants: ``_by_id`` holds exactly the accepted jobs that are not
done (kept ones included); ``_awaiting_accept`` holds, in the order they were sent, the
pushes of the current session whose ACCEPTED (or ERROR) has not arrived, including
pushes whose jobs finished meanwhile (their ids, when they come, are aborted on the
manager), and never more than MAX_PUSHES_IN_FLIGHT of them.
"""

from __future__ import annotations

import collections
import datetime
import heapq
import logging
import math
import queue
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Deque, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from . import _protocol as proto
from . import _spec
from ._peer import DEFAULT_CONTROL_TIMEOUT_S, PeerBase, PeerFuture
from .curve import CurveOptions
from .errors import (
    EABORTED,
    EBADFIELD,
    ECONNLOST,
    ECSTO,
    EDENIED,
    EDRAINING,
    EHANDLER,
    EINTERNAL,
    ENOTSUPPORTED,
    ETOOBIG,
    JobError,
    ProletariatError,
)

log = logging.getLogger("proletariat")

DEFAULT_ENDPOINT = f"tcp://127.0.0.1:{proto.DEFAULT_PORT}"
#: The one push strategy of every binding (protocol/protocol.json "peer_strategy", as
#: the C++ and Node.js clients do it): jobs per PUSH at most (the manager's limits may
#: ask for fewer), and pushes sent whose ACCEPTED (or ERROR) has not arrived yet: a
#: request of 100,000 jobs is fed to the manager as it accepts them, rather than piled
#: into its socket buffers at once.
MAX_JOBS_PER_PUSH = _spec.MAX_JOBS_PER_PUSH
MAX_PUSHES_IN_FLIGHT = _spec.MAX_PUSHES_IN_FLIGHT
#: PUSH messages built per I/O loop step: a large request leaves in slices, between
#: which the loop reads answers and keeps the heartbeat going.
PUSHES_PER_STEP = 2
#: Bytes of UTF-8 a client identity may have (PROTOCOL §4 HELLO).
MAX_IDENTITY_BYTES = 128


def new_identity() -> str:
    """A fresh client identity: "python-" and 32 random hex digits (128 bits)."""
    return "python-" + secrets.token_hex(16)


def _check_identity(identity: Any) -> str:
    """An identity given by the application: a str of 1 to 128 bytes of UTF-8."""
    if not isinstance(identity, str):
        raise ProletariatError(EBADFIELD, f"identity must be a string, not {identity!r}")
    try:
        size = len(identity.encode("utf-8"))
    except UnicodeEncodeError:
        raise ProletariatError(EBADFIELD, "identity must be valid UTF-8 text (it has lone surrogates)") from None
    if not 1 <= size <= MAX_IDENTITY_BYTES:
        raise ProletariatError(EBADFIELD, f"identity must be 1 to {MAX_IDENTITY_BYTES} bytes of UTF-8, not {size}")
    return identity


_RETRY_FIELDS = ("max", "codes", "initial", "factor", "max_delay", "jitter")


@dataclass(frozen=True)
class Retry:
    """How the manager retries a job whose worker answered an error (PROTOCOL §14.1).

    Only ``max`` is required; a field left None takes the manager's default (given in
    parentheses). Durations are seconds, as everywhere in this API.

    Attributes:
        max: attempts after the first one, 0 … 100 (``max_retries``).
        codes: the error codes that are retried (every code but ``ETO``). Errors of
            the manager and of this library (``EATO``, ``EPOISON``, ``ECSTO``,
            ``EABORTED``, ``ECONNLOST``) are never retried, whatever it says.
        initial: seconds of backoff before the first retry (1).
        factor: each backoff is the previous one times this, >= 1 (2).
        max_delay: no backoff is longer, in seconds (300).
        jitter: each backoff is shortened by a random fraction up to this, 0 … 1 (0.2).

    ``retry=`` of a push also takes an int (``retry=3`` is ``Retry(3)``) or a mapping
    of these fields (``{"max": 3, "initial": 0.5}``). Raises ProletariatError
    ``EBADFIELD`` for a value the manager would refuse.
    """

    max: int
    codes: Optional[Tuple[str, ...]] = None
    initial: Optional[float] = None
    factor: Optional[float] = None
    max_delay: Optional[float] = None
    jitter: Optional[float] = None

    def __post_init__(self) -> None:
        proto.check_uint(self.max, "retry.max", proto.MAX_RETRIES)
        if self.codes is not None:
            codes = [self.codes] if isinstance(self.codes, str) else self.codes
            try:
                codes = tuple(codes)
            except TypeError:
                raise ProletariatError(EBADFIELD, f"retry.codes must be a list of codes, not {self.codes!r}") from None
            for code in codes:
                if not isinstance(code, str) or not code:
                    raise ProletariatError(EBADFIELD, f"retry.codes must be non-empty strings, not {code!r}")
            object.__setattr__(self, "codes", codes)
        for name in ("initial", "max_delay"):
            proto.duration_ms(getattr(self, name), f"retry.{name}")
        if self.factor is not None:
            proto.check_number(self.factor, "retry.factor", 1)
        if self.jitter is not None:
            proto.check_number(self.jitter, "retry.jitter", 0, 1)

    @classmethod
    def of(cls, value: Any) -> Optional["Retry"]:
        """`value` as a Retry: None, a Retry, an int (max) or a mapping of the fields."""
        if value is None or isinstance(value, Retry):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return cls(value)
        if isinstance(value, Mapping):
            unknown = sorted(str(k) for k in value if k not in _RETRY_FIELDS)
            if unknown:
                raise ProletariatError(EBADFIELD, f"retry has unknown fields {unknown}; it takes {list(_RETRY_FIELDS)} "
                                                  f"(durations in seconds)")
            if "max" not in value:
                raise ProletariatError(EBADFIELD, "retry needs max, the attempts after the first one")
            return cls(**value)
        raise ProletariatError(EBADFIELD, f"retry must be a Retry, an int or a mapping, not {value!r}")

    def to_wire(self) -> Dict[str, Any]:
        """The PUSH ``retry`` object: only the fields that were given."""
        wire: Dict[str, Any] = {"max": self.max}
        if self.codes is not None:
            wire["codes"] = list(self.codes)
        if self.initial is not None:
            wire["initial"] = proto.duration_ms(self.initial, "retry.initial")
        if self.factor is not None:
            wire["factor"] = proto.wire_number(self.factor)
        if self.max_delay is not None:
            wire["maxDelay"] = proto.duration_ms(self.max_delay, "retry.max_delay")
        if self.jitter is not None:
            wire["jitter"] = proto.wire_number(self.jitter)
        return wire


class _Lifecycle:
    """The lifecycle options of a request or of one job, in wire terms (PROTOCOL §4):
    None where not given."""

    __slots__ = ("delay", "at", "group", "retry")

    def __init__(self, delay: Any = None, at: Any = None, group: Any = None, retry: Any = None) -> None:
        if delay is not None and at is not None:
            raise ProletariatError(EBADFIELD, "give delay or at, not both")
        self.delay: Optional[int] = proto.duration_ms(delay, "delay")
        self.at: Optional[int] = proto.epoch_ms(at)
        self.group: Optional[str] = proto.check_group(group)
        policy = Retry.of(retry)
        self.retry: Optional[Dict[str, Any]] = policy.to_wire() if policy is not None else None

    def any(self) -> bool:
        return self.delay is not None or self.at is not None or self.group is not None or self.retry is not None

    def fields(self) -> Dict[str, Any]:
        """The wire fields that are set."""
        return {name: getattr(self, name) for name in self.__slots__ if getattr(self, name) is not None}


_NO_LIFECYCLE = _Lifecycle()


class Job:
    """A job to push: its arguments plus optional per-job settings.

    Plain values given to :meth:`Client.work` are wrapped in a Job without them; use
    Job explicitly to set them, or to send a JSON array as one job.

    Attributes:
        args: any JSON value, or bytes (sent raw, received as bytes by the worker).
        key: the hold-similar-work key (SPEC 2.2), or None.
        service: the service a worker must offer to take the job, or None.
        delay, at, group, retry: this job's lifecycle options (PROTOCOL §14), as for
            :meth:`Client.work`, overriding the request's; None: the request's. A job
            with ``delay`` or ``at`` overrides both of the request's.
    """

    def __init__(
        self,
        args: Any = None,
        *,
        key: Optional[str] = None,
        service: Optional[str] = None,
        delay: Union[float, datetime.timedelta, None] = None,
        at: Union[float, datetime.datetime, None] = None,
        group: Optional[str] = None,
        retry: Union["Retry", int, Mapping[str, Any], None] = None,
    ) -> None:
        if key is not None and not isinstance(key, str):
            raise ProletariatError(EBADFIELD, f"key must be a string, not {key!r}")
        if service is not None and not isinstance(service, str):
            raise ProletariatError(EBADFIELD, f"service must be a string, not {service!r}")
        self.args = args
        self.key = key or None
        self.service = service or None
        self.delay = delay
        self.at = at
        self.group = group
        self.retry = retry
        # Checked here, so that a bad option fails where it was written.
        given = any(option is not None for option in (delay, at, group, retry))
        self._lifecycle = _Lifecycle(delay, at, group, retry) if given else None

    def __repr__(self) -> str:
        named = (("key", self.key), ("service", self.service), ("delay", self.delay), ("at", self.at),
                 ("group", self.group), ("retry", self.retry))
        extra = "".join(f", {n}={v!r}" for n, v in named if v is not None and v != "")
        return f"{type(self).__name__}({self.args!r}{extra})"


@dataclass(frozen=True)
class Result:
    """The result of one job: ``err`` is None or a :class:`JobError`; ``data`` any JSON
    value (bytes when the worker answered raw bytes); ``attempts`` how many times a
    worker answered for the job, this result's attempt included, when its push asked
    for retries (PROTOCOL §5, §14.1), else None.

    ``value()`` returns ``data`` or raises ``err``.
    """

    err: Optional[JobError]
    data: Any = None
    attempts: Optional[int] = None

    @property
    def ok(self) -> bool:
        """True when the job succeeded."""
        return self.err is None

    def value(self) -> Any:
        """The data, or raises the job's :class:`JobError` (a ProletariatError)."""
        if self.err is not None:
            raise self.err
        return self.data


class RequestFuture(PeerFuture):
    """The Future :meth:`Client.submit` returns.

    Its result is a list of :class:`Result` (a single Result for a single job). It
    never raises for job errors: they are in the results. ``cancel()`` aborts the
    request on the manager and cancels the Future; ``abort()`` aborts (all or some
    jobs) and lets the Future complete, with ``EABORTED`` for the aborted jobs.
    Done-callbacks run on the client's events thread.
    """

    def __init__(self, client: "Client", request_id: int) -> None:
        super().__init__(client, request_id)
        self._client = client

    def abort(self, indices: Optional[Iterable[int]] = None) -> None:
        """Aborts the request's unfinished jobs (or those at `indices`)."""
        self._client.abort(self.request_id, indices)

    def cancel(self) -> bool:
        if not super().cancel():
            return False
        self._client._abort_quietly(self.request_id)
        return True


class ResultStream(Iterator[Tuple[int, Result]]):
    """What :meth:`Client.work_individual` returns: iterate to get ``(index, Result)``
    pairs in finishing order; iteration ends once every job has its result.

    Closing the stream (``close()``, leaving a ``with`` block, or dropping it) before
    the end aborts the jobs that have not finished.
    """

    def __init__(self, client: "Client", request_id: int, count: int) -> None:
        self.request_id = request_id
        self._client = client
        self._queue: "queue.SimpleQueue[Tuple[int, Result]]" = queue.SimpleQueue()
        self._remaining = count

    def __iter__(self) -> "ResultStream":
        return self

    def __next__(self) -> Tuple[int, Result]:
        if self._remaining <= 0:
            raise StopIteration
        item = self._queue.get()
        self._remaining -= 1
        return item

    def next(self, timeout: Optional[float] = None) -> Tuple[int, Result]:
        """The next ``(index, Result)``; raises TimeoutError after `timeout` seconds,
        StopIteration at the end."""
        if self._remaining <= 0:
            raise StopIteration
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no result within {timeout} s") from None
        self._remaining -= 1
        return item

    @property
    def remaining(self) -> int:
        """Results not yet taken from the stream."""
        return self._remaining

    def abort(self, indices: Optional[Iterable[int]] = None) -> None:
        """Aborts the unfinished jobs (or those at `indices`); they yield EABORTED."""
        self._client.abort(self.request_id, indices)

    def close(self) -> None:
        """Stops listening; aborts the jobs that have not finished."""
        if self._remaining > 0:
            self._client._abort_quietly(self.request_id)
            self._remaining = 0

    def __enter__(self) -> "ResultStream":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


class _ClientJob:
    __slots__ = ("data", "raw", "key", "service", "lifecycle", "id", "sent", "done", "result")

    def __init__(self, data: bytes, raw: bool, key: Optional[str], service: Optional[str],
                 lifecycle: Optional[_Lifecycle] = None) -> None:
        self.data = data
        self.raw = raw
        self.key = key
        self.service = service
        self.lifecycle = lifecycle  # the job's own options (None: the request's)
        self.id = 0  # the manager's id, once accepted in this session
        self.sent = False  # pushed in the current session
        self.done = False
        self.result: Optional[Result] = None


class _Request:
    __slots__ = (
        "req",
        "kind",
        "priority",
        "run_timeout_ms",
        "assign_timeout_ms",
        "timeout",
        "deadline",
        "jobs",
        "remaining",
        "future",
        "stream",
        "progress",
        "lifecycle",
        "cursor",
    )

    def __init__(self, req: int, kind: str, jobs: List[_ClientJob]) -> None:
        self.req = req
        self.kind = kind  # "group", "single" or "individual"
        self.priority = 0.0
        self.run_timeout_ms: Optional[int] = None
        self.assign_timeout_ms: Optional[int] = None
        self.timeout: Optional[float] = None
        self.deadline: Optional[float] = None
        self.jobs = jobs
        self.remaining = len(jobs)
        self.future: Optional[RequestFuture] = None
        self.stream: Optional[ResultStream] = None
        self.progress: Optional[ProgressCallback] = None
        self.lifecycle = _NO_LIFECYCLE
        self.cursor = 0  # jobs before this index are done or sent in this session


JobLike = Any
RequestRef = Union[int, RequestFuture, ResultStream]
#: ``progress(index, data)`` of :meth:`Client.work_individual`.
ProgressCallback = Callable[[int, Any], Any]
RetryLike = Union[Retry, int, Mapping[str, Any], None]
# set_group_limits: a limit not given keeps the group's current value (absent on the wire).
_UNCHANGED: Any = type("_Unchanged", (), {"__repr__": lambda self: "unchanged"})()


class Client(PeerBase):
    """A peer that pushes jobs and waits for their results.

    Args:
        endpoint: the manager's command endpoint.
        keep_state: when the manager is lost, push unfinished jobs again on the next
            session (otherwise they fail with ``ECONNLOST``).
        con_retry_time: seconds to wait before registering again after the manager
            was lost (CON_RETRYTIME).
        name: shown in the manager's status.
        system_messages: False tells the manager that this client never takes system
            messages (HELLO ``"sysmsg": false``): it opens no system-message socket,
            broadcasts of other peers do not wait for it or count it, and a message
            addressed to it gets ``ENOPEER``. It may still send them, and ask for
            status.
        identity: the client's stable identity, sent in every HELLO (1 to 128 bytes
            of UTF-8). By default a fresh one, ``"python-"`` and 32 random hex
            digits, made once per Client. A manager with a journal (PROTOCOL §12) uses
            it to give a reconnecting client back its unfinished jobs; give the same
            identity to the Client of a restarted process only if it should receive
            results of the old one's jobs (it drops them: it does not know their ids).
        curve: connect with CURVE (PROTOCOL §13): a :class:`CurveOptions` (the
            manager's public key and this client's key pair), or a mapping of its
            fields; None (the default) connects without. Both sockets use it. The
            manager must list the public key under ``clients/``; a push by a key
            that is not a client's fails its jobs with ``EDENIED``, and a key it
            does not list at all never registers (the refusal is logged).

    Re-attachment: when the session is lost and the last WELCOME named a journal,
    accepted jobs keep waiting for their results; if the next WELCOME names the same
    journal they arrive from there (each delivered once), otherwise those jobs are
    handled as a lost session's (``keep_state``: pushed again; else ``ECONNLOST``).
    Pushes not yet accepted are pushed again. A push the manager refuses with
    ``EDRAINING`` (it is stopping) is pushed again after the next registration.

    Durations in this API are seconds (floats); the wire carries milliseconds.

    Example::

        with Client("tcp://127.0.0.1:1917") as client:
            results = client.work([{"n": 1}, {"n": 2}], timeout=10)
            print([r.value() for r in results])
    """

    _role = "client"

    def __init__(
        self,
        endpoint: str = DEFAULT_ENDPOINT,
        keep_state: bool = False,
        con_retry_time: float = proto.DEFAULT_CON_RETRY_TIME_S,
        name: str = "",
        *,
        system_messages: bool = True,
        identity: Optional[str] = None,
        curve: Optional[Union[CurveOptions, Mapping[str, Any]]] = None,
    ) -> None:
        super().__init__(endpoint, name, con_retry_time, system_messages, curve)
        self._identity = new_identity() if identity is None else _check_identity(identity)
        self._keep_state = bool(keep_state)
        self._pending_lock = threading.Lock()
        self._pending_jobs = 0
        # I/O thread state.
        self._requests: Dict[int, _Request] = {}  # unfinished requests, oldest first
        # (req, indices of its jobs) of each push awaiting ACCEPTED, oldest first.
        self._awaiting_accept: Deque[Tuple[int, List[int]]] = collections.deque()
        self._by_id: Dict[int, Tuple[int, int]] = {}  # job id -> (req, index)
        self._deadlines: List[Tuple[float, int]] = []  # heap of (deadline, req)
        self._to_push: Dict[int, None] = {}  # reqs with unsent jobs, oldest first
        # The journal of the last WELCOME ("" for none): whether accepted jobs survive
        # a lost session, and whether the next manager is the one that holds them.
        self._journal = ""
        # Jobs kept across a lost session (the accepted jobs then; their ids stay in
        # _by_id), settled by the next WELCOME.
        self._kept = False
        # Ids aborted while no session was up, to abort on the next session of the
        # same journal (the manager still runs them).
        self._abort_later: List[int] = []
        # The manager refused a push with EDRAINING: push nothing more this session.
        self._manager_draining = False
        # An EDENIED push was logged in this session (the next ones are logged quietly).
        self._denied_logged = False
        self._start_io()

    # --- public -------------------------------------------------------------------

    @property
    def identity(self) -> str:
        """The identity this client sends in every HELLO."""
        assert self._identity is not None
        return self._identity

    @property
    def pending(self) -> int:
        """Jobs submitted whose result has not been delivered yet."""
        with self._pending_lock:
            return self._pending_jobs

    def work(
        self,
        jobs: Union[JobLike, Sequence[JobLike]],
        *,
        timeout: Optional[float] = None,
        run_timeout: Optional[float] = None,
        assign_timeout: Optional[float] = None,
        priority: float = 0,
        delay: Union[float, datetime.timedelta, None] = None,
        at: Union[float, datetime.datetime, None] = None,
        group: Optional[str] = None,
        retry: RetryLike = None,
    ) -> Union[List[Result], Result]:
        """Pushes jobs and waits for all their results.

        Args:
            jobs: a list (or tuple) of jobs gives a list of results in the same order;
                any other value is one job and gives one Result. A job is any JSON
                value, bytes (sent raw), or a :class:`Job` (to set key or service, or
                to send a JSON array as a single job).
            timeout: seconds from now until every unfinished job fails with ``ECSTO``
                (and is aborted on the manager). None: no limit.
            run_timeout: seconds a job may run on its worker before it fails with
                ``ETO``.
            assign_timeout: seconds the manager waits for a worker to take a job
                before it fails with ``EATO``.
            priority: a number >= 0; higher runs first.
            delay: seconds (or a timedelta) the manager holds each job before it
                queues (PROTOCOL §14.3); ``timeout`` still counts from now.
            at: when the jobs queue instead: a datetime, or seconds since the epoch
                (as ``time.time()``); one in the past queues at once. Not with `delay`.
            group: the jobs' group (a tenant, a quota) for the manager's per-group
                limits (PROTOCOL §14.5): a non-empty string of at most 256 bytes.
            retry: how the manager retries a job whose worker answered an error: a
                :class:`Retry`, an int (the retries, with the manager's defaults) or
                a mapping of Retry's fields (PROTOCOL §14.1). The result then has
                ``attempts``.

            A :class:`Job` may set delay, at, group and retry for itself. A job that
            uses any of the four fails with ``ENOTSUPPORTED``, and is not pushed, when
            the manager did not announce the job lifecycle in its WELCOME.

        Returns:
            ``Result`` objects, whose ``err`` is None or a :class:`JobError` and whose
            ``value()`` returns the data or raises the error.

        Raises:
            ProletariatError: ``EBADFIELD`` for bad options or a job that is not JSON
                serializable (nothing is pushed then); ``ECONNLOST`` if the client is closed.
        """
        future = self.submit(
            jobs, timeout=timeout, run_timeout=run_timeout, assign_timeout=assign_timeout, priority=priority,
            delay=delay, at=at, group=group, retry=retry,
        )
        try:
            results: Union[List[Result], Result] = future.result()
            return results
        except BaseException:
            if not future.done():  # interrupted (KeyboardInterrupt): do not leave work behind
                self._abort_quietly(future.request_id)
            raise

    def call(
        self,
        job: JobLike,
        *,
        timeout: Optional[float] = None,
        run_timeout: Optional[float] = None,
        assign_timeout: Optional[float] = None,
        priority: float = 0,
        delay: Union[float, datetime.timedelta, None] = None,
        at: Union[float, datetime.datetime, None] = None,
        group: Optional[str] = None,
        retry: RetryLike = None,
    ) -> Any:
        """Runs one job and returns its data, or raises its :class:`JobError`.

        ``client.call(x)`` is ``client.work(x).value()`` (and `x` is always one job,
        even a list).
        """
        if isinstance(job, (list, tuple)):
            job = Job(list(job))
        result = self.work(
            job, timeout=timeout, run_timeout=run_timeout, assign_timeout=assign_timeout, priority=priority,
            delay=delay, at=at, group=group, retry=retry,
        )
        assert isinstance(result, Result)
        return result.value()

    def submit(
        self,
        jobs: Union[JobLike, Sequence[JobLike]],
        *,
        timeout: Optional[float] = None,
        run_timeout: Optional[float] = None,
        assign_timeout: Optional[float] = None,
        priority: float = 0,
        delay: Union[float, datetime.timedelta, None] = None,
        at: Union[float, datetime.datetime, None] = None,
        group: Optional[str] = None,
        retry: RetryLike = None,
    ) -> RequestFuture:
        """Like :meth:`work`, without waiting: returns a :class:`RequestFuture` of the
        list of results (or the single Result)."""
        request, single = self._build("single", jobs, timeout, run_timeout, assign_timeout, priority,
                                      _Lifecycle(delay, at, group, retry))
        if not single:
            request.kind = "group"
        request.future = RequestFuture(self, request.req)
        self._enqueue(request)
        return request.future

    def work_individual(
        self,
        jobs: Union[JobLike, Sequence[JobLike]],
        *,
        timeout: Optional[float] = None,
        run_timeout: Optional[float] = None,
        assign_timeout: Optional[float] = None,
        priority: float = 0,
        delay: Union[float, datetime.timedelta, None] = None,
        at: Union[float, datetime.datetime, None] = None,
        group: Optional[str] = None,
        retry: RetryLike = None,
        progress: Optional[ProgressCallback] = None,
    ) -> ResultStream:
        """Pushes jobs and returns an iterator of ``(index, Result)`` in finishing order.

        The jobs are pushed at once (not on the first iteration). ``index`` is the
        job's position in `jobs` (0 for a single job). Options as for :meth:`work`.

        `progress`, if given, is called as ``progress(index, data)`` for each progress
        report a job's worker sends (PROTOCOL §14.4: any JSON value, or bytes), in the
        order sent, on the client's events thread. Every report of a job is handed
        over before the stream yields that job's result; reports that would come
        after it are dropped.
        """
        if progress is not None and not callable(progress):
            raise ProletariatError(EBADFIELD, f"progress must be callable, not {progress!r}")
        request, _single = self._build("individual", jobs, timeout, run_timeout, assign_timeout, priority,
                                       _Lifecycle(delay, at, group, retry))
        request.progress = progress
        request.stream = ResultStream(self, request.req, len(request.jobs))
        self._enqueue(request)
        return request.stream

    def abort(self, request: RequestRef, indices: Optional[Iterable[int]] = None) -> None:
        """Aborts a request's unfinished jobs, or only those at `indices`.

        `request` is what :meth:`submit` or :meth:`work_individual` returned, or its
        ``request_id``. Queued jobs are dropped and running ones aborted on their
        workers; each aborted job's result is ``EABORTED``. Finished or unknown
        requests are ignored.
        """
        req = request if isinstance(request, int) else getattr(request, "request_id", None)
        if not isinstance(req, int):
            raise ProletariatError(EBADFIELD, f"not a request: {request!r}")
        picked = None if indices is None else [int(i) for i in indices]
        self._post(("abort", req, picked))

    # --- administration: dead letters and group limits (PROTOCOL §14.2, §14.5) --------
    # Blocking like status(); each request has its req, and the reply, an ERROR naming
    # that req (e.g. EDENIED without an admin key, EBADFIELD) or a lost session
    # (ECONNLOST) ends it. To a manager that did not announce the job lifecycle they
    # raise ENOTSUPPORTED without being sent.

    def dead_letters(self, limit: Optional[int] = None, *,
                     timeout: Optional[float] = DEFAULT_CONTROL_TIMEOUT_S) -> Dict[str, Any]:
        """The newest dead letters, newest first: at most `limit` (the manager's default
        100, at most 1,000). Returns the DEADLETTERS reply as a dict: ``total`` (the
        letters kept) and ``letters``, each ``{"id", "job", "service"?, "key"?,
        "group"?, "priority", "client"?, "err", "attempts", "since", "raw", "bytes"}``
        (``bytes`` is the payload's size; :meth:`show_dead_letters` has the payloads).

        Raises ProletariatError (``ENOTSUPPORTED``, ``EDENIED``, ``ECONNLOST``, ...) or
        TimeoutError."""
        header: Dict[str, Any] = {"op": "list"}
        if limit is not None:
            header["limit"] = proto.check_uint(limit, "limit")
        return self._admin("DEAD", header, timeout)

    def show_dead_letters(self, ids: Iterable[int], *,
                          timeout: Optional[float] = DEFAULT_CONTROL_TIMEOUT_S) -> Dict[str, Any]:
        """The dead letters of these letter ids (unknown ones are left out), each with
        ``payload``: the job's arguments (bytes when raw). Returns the DEADLETTERS reply."""
        return self._admin("DEAD", {"op": "show", "ids": _letter_ids(ids)}, timeout)

    def requeue_dead_letters(self, ids: Optional[Iterable[int]] = None, *, all: bool = False,
                             timeout: Optional[float] = DEFAULT_CONTROL_TIMEOUT_S) -> Dict[str, Any]:
        """Pushes these letters' jobs (or every letter's, with ``all=True``) again, as
        new jobs of no client, and removes the letters. Returns the DEADLETTERS reply,
        whose ``requeued`` lists ``{"letter", "job"}`` (the new job ids)."""
        return self._admin("DEAD", _letter_selection("requeue", ids, all), timeout)

    def purge_dead_letters(self, ids: Optional[Iterable[int]] = None, *, all: bool = False,
                           timeout: Optional[float] = DEFAULT_CONTROL_TIMEOUT_S) -> Dict[str, Any]:
        """Removes these letters (or every letter, with ``all=True``). Returns the
        DEADLETTERS reply, whose ``purged`` counts the letters removed."""
        return self._admin("DEAD", _letter_selection("purge", ids, all), timeout)

    def group_limits(self, *, timeout: Optional[float] = DEFAULT_CONTROL_TIMEOUT_S) -> Dict[str, Any]:
        """The manager's group limits: the GROUPLIMITS reply, ``{"defaults":
        {"maxRunning", "rate"}, "groups": [{"group", "maxRunning", "rate", "running",
        "waiting", "started", "custom"}, ...]}`` (a limit of None is no limit)."""
        return self._admin("GROUPLIMITS", {"op": "list"}, timeout)

    def set_group_limits(self, group: str, max_running: Any = _UNCHANGED, rate: Any = _UNCHANGED, *,
                         timeout: Optional[float] = DEFAULT_CONTROL_TIMEOUT_S) -> Dict[str, Any]:
        """Sets one group's own limits, in place of the manager's defaults, until the
        manager restarts: `max_running` (jobs of the group running at once, an int >= 0)
        and `rate` (starts a second, a number >= 0). A limit not given keeps the group's
        current value, None removes it, 0 pauses the group. Returns the GROUPLIMITS reply."""
        header: Dict[str, Any] = {"op": "set", "group": _admin_group(group)}
        if max_running is not _UNCHANGED:
            header["maxRunning"] = None if max_running is None else proto.check_uint(max_running, "max_running")
        if rate is not _UNCHANGED:
            header["rate"] = None if rate is None else proto.check_number(rate, "rate", 0)
        return self._admin("GROUPLIMITS", header, timeout)

    def clear_group_limits(self, group: str, *,
                           timeout: Optional[float] = DEFAULT_CONTROL_TIMEOUT_S) -> Dict[str, Any]:
        """Gives the group back the manager's default limits. Returns the GROUPLIMITS reply."""
        return self._admin("GROUPLIMITS", {"op": "clear", "group": _admin_group(group)}, timeout)

    def _admin(self, command: str, header: Dict[str, Any], timeout: Optional[float]) -> Dict[str, Any]:
        decode = _decode_letters if command == "DEAD" else None
        reply: Dict[str, Any] = self._wait(self._control(command, header, [], decode=decode, lifecycle=True),
                                           timeout, f"{command} {header['op']}")
        return reply

    # --- any thread ---------------------------------------------------------------

    def _abort_quietly(self, req: int) -> None:
        try:
            self._post(("abort", req, None))
        except ProletariatError:
            pass  # closed: everything was aborted anyway

    def _build(
        self,
        kind: str,
        jobs: Any,
        timeout: Optional[float],
        run_timeout: Optional[float],
        assign_timeout: Optional[float],
        priority: float,
        lifecycle: _Lifecycle,
    ) -> Tuple[_Request, bool]:
        single = not isinstance(jobs, (list, tuple))
        items = [jobs] if single else list(jobs)
        specs: List[_ClientJob] = []
        for index, item in enumerate(items):
            job = item if isinstance(item, Job) else Job(item)
            try:
                data, raw = proto.dump_payload(job.args)
            except (TypeError, ValueError) as exc:
                raise ProletariatError(EBADFIELD, f"job {index} is not JSON serializable: {exc}") from None
            specs.append(_ClientJob(data, raw, job.key, job.service, getattr(job, "_lifecycle", None)))
        request = _Request(next(self._reqs), kind, specs)
        request.lifecycle = lifecycle
        request.priority = proto.check_priority(priority)
        request.run_timeout_ms = proto.seconds_to_ms(run_timeout, "run_timeout")
        request.assign_timeout_ms = proto.seconds_to_ms(assign_timeout, "assign_timeout")
        if timeout is not None:
            proto.seconds_to_ms(timeout, "timeout")
            request.timeout = float(timeout)
        return request, single

    def _enqueue(self, request: _Request) -> None:
        if request.timeout is not None:
            request.deadline = time.monotonic() + request.timeout
        with self._pending_lock:
            self._pending_jobs += len(request.jobs)
        try:
            self._post(("submit", request))
        except ProletariatError:
            with self._pending_lock:
                self._pending_jobs -= len(request.jobs)
            raise

    # --- I/O thread ---------------------------------------------------------------

    def _io_deadline(self) -> float:
        if (self._to_push and self._registered and not self._manager_draining
                and len(self._awaiting_accept) < MAX_PUSHES_IN_FLIGHT):
            return 0.0  # more to push and room for it: do not sleep (an ACCEPTED wakes a full window)
        return self._deadlines[0][0] if self._deadlines else math.inf

    def _io_command(self, command: Tuple[Any, ...]) -> None:
        kind = command[0]
        if kind == "submit":
            self._on_submit(command[1])
        elif kind == "abort":
            self._on_abort(command[1], command[2])
        else:
            super()._io_command(command)

    def _io_command_unserved(self, command: Tuple[Any, ...]) -> None:
        if command[0] == "submit":
            request: _Request = command[1]
            if not request.jobs:
                self._complete(request)
            for index in range(len(request.jobs)):
                self._finish(request, index, Result(JobError(EABORTED, "the client was closed")))

    def _on_submit(self, request: _Request) -> None:
        if not request.jobs:
            self._complete(request)
            return
        if request.deadline is not None:
            heapq.heappush(self._deadlines, (request.deadline, request.req))
        self._requests[request.req] = request
        self._to_push[request.req] = None

    def _io_registered(self) -> None:
        self._manager_draining = False
        self._denied_logged = False
        welcome = self._session.welcome if self._session else {}
        journal = welcome.get("journal")
        journal = journal if isinstance(journal, str) else ""
        if self._kept:
            self._kept = False
            if journal and journal == self._journal:
                log.info("client: re-attached to journal %s; %d accepted jobs wait for their results",
                         journal, len(self._by_id))
                self._send_abort(self._abort_later)
            else:
                log.warning("client: the manager's journal is %s, not %s: its accepted jobs are lost",
                            journal or "none", self._journal)
                self._lose_accepted()
        self._abort_later = []
        self._journal = journal
        for request in self._requests.values():
            request.cursor = 0
            self._to_push[request.req] = None
        self._pump()

    def _io_lost(self) -> None:
        self._awaiting_accept.clear()
        self._manager_draining = False
        if self._journal:
            # The accepted jobs live on in the journal: keep waiting for them. A push
            # not accepted may or may not be there: push it again (it may run twice;
            # only the result of the id we were told is delivered).
            resent = 0
            for request in self._requests.values():
                for job in request.jobs:
                    if job.sent and not job.done and not job.id:
                        job.sent = False
                        resent += 1
            self._kept = self._kept or bool(self._by_id)
            if self._by_id or resent:
                log.warning("client: session lost; %d accepted jobs wait for journal %s, %d will be pushed again",
                            len(self._by_id), self._journal, resent)
            return
        self._lose_accepted()

    def _lose_accepted(self) -> None:
        """Every sent or accepted job is lost with its manager: pushed again
        (keep_state) or failed with ECONNLOST."""
        self._by_id.clear()
        self._abort_later = []
        lost = 0
        for req in list(self._requests):
            request = self._requests.get(req)
            if request is None:
                continue
            for index, job in enumerate(request.jobs):
                if job.done or not job.sent:
                    continue  # never given to the lost manager: stays queued
                lost += 1
                if self._keep_state:
                    job.sent = False
                    job.id = 0
                else:
                    self._finish(request, index, Result(JobError(ECONNLOST, "the connection to the manager was lost")))
        if lost:
            log.warning(
                "client: %d unfinished jobs %s",
                lost,
                "will be pushed again" if self._keep_state else "failed with ECONNLOST",
            )

    def _pump(self) -> None:
        """Sends up to PUSHES_PER_STEP pushes of the requests waiting to be pushed,
        while fewer than MAX_PUSHES_IN_FLIGHT await their ACCEPTED."""
        if not self._registered or self._manager_draining:
            return
        for _ in range(PUSHES_PER_STEP):
            if not self._to_push or len(self._awaiting_accept) >= MAX_PUSHES_IN_FLIGHT:
                return
            req = next(iter(self._to_push))
            request = self._requests.get(req)
            if request is None or not self._push_chunk(request):
                self._to_push.pop(req, None)

    def _push_chunk(self, request: _Request) -> bool:
        """Pushes the next slice of the request's unsent jobs in one PUSH, within the
        manager's limits (PROTOCOL §10). A job too big to travel alone fails here with
        ETOOBIG: the manager's ETOOBIG would name no req. True if jobs remain unsent."""
        max_frames, max_bytes = self._limits()
        max_jobs = min(max_frames - proto.FIXED_FRAMES, MAX_JOBS_PER_PUSH)
        header: Dict[str, Any] = {"req": request.req, "priority": proto.wire_number(request.priority)}
        if request.assign_timeout_ms is not None:
            header["assigntimeout"] = request.assign_timeout_ms
        if request.run_timeout_ms is not None:
            header["runTimeout"] = request.run_timeout_ms
        # A manager that did not announce the lifecycle would ignore these fields and
        # run the job at once, unretried, ungrouped: such jobs fail here instead.
        lifecycle = self._lifecycle_announced()
        if request.lifecycle.any():
            if not lifecycle:
                self._fail_unsent(request, ENOTSUPPORTED, _NOT_ANNOUNCED)
                return False
            header.update(request.lifecycle.fields())
        base_bytes = proto.message_overhead("PUSH", header, "jobs")

        chunk: List[int] = []
        entries: List[Dict[str, Any]] = []
        payloads: List[bytes] = []
        too_big: List[Tuple[int, int]] = []
        unsupported: List[int] = []
        size = base_bytes
        index = request.cursor
        while index < len(request.jobs) and len(chunk) < max_jobs:
            job = request.jobs[index]
            if job.done or job.sent:
                index += 1
                continue
            entry: Dict[str, Any] = {}
            if job.key:
                entry["key"] = job.key
            if job.service:
                entry["service"] = job.service
            if job.raw:
                entry["raw"] = True
            if job.lifecycle is not None:
                if not lifecycle:
                    unsupported.append(index)
                    index += 1
                    continue
                entry.update(_entry_lifecycle(request.lifecycle, job.lifecycle))
            job_bytes = len(job.data) + proto.entry_bytes(entry)
            if base_bytes + job_bytes > max_bytes:
                too_big.append((index, job_bytes))
                index += 1
                continue
            if chunk and size + job_bytes > max_bytes:
                break
            chunk.append(index)
            entries.append(entry)
            payloads.append(job.data)
            size += job_bytes
            index += 1
        request.cursor = index
        if chunk:
            for i in chunk:
                request.jobs[i].sent = True
            self._awaiting_accept.append((request.req, chunk))
            self._send(proto.encode("PUSH", dict(header, jobs=entries), payloads))
        for i in unsupported:
            if self._requests.get(request.req) is not request:
                return False
            self._finish(request, i, Result(JobError(ENOTSUPPORTED, _NOT_ANNOUNCED)))
        for i, job_bytes in too_big:
            if self._requests.get(request.req) is not request:
                return False  # finished by an earlier one
            self._finish(
                request,
                i,
                Result(JobError(ETOOBIG, f"the job needs {base_bytes + job_bytes} bytes, more than the manager's "
                                         f"max_message_bytes of {max_bytes}")),
            )
        return self._requests.get(request.req) is request and request.cursor < len(request.jobs)

    def _lifecycle_announced(self) -> bool:
        return bool(self._session and self._session.welcome.get("lifecycle") is True)

    def _fail_unsent(self, request: _Request, code: str, message: str) -> None:
        """Fails every job of the request that is neither done nor sent."""
        for index in range(request.cursor, len(request.jobs)):
            if self._requests.get(request.req) is not request:
                return
            job = request.jobs[index]
            if not job.done and not job.sent:
                self._finish(request, index, Result(JobError(code, message)))

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

    def _io_message(self, msg: proto.Message) -> None:
        if msg.command == "ACCEPTED":
            self._on_accepted(msg)
        elif msg.command == "RESULT":
            self._on_results(msg)
        elif msg.command == "PROGRESS":
            self._on_progress(msg)
        else:
            super()._io_message(msg)

    def _on_accepted(self, msg: proto.Message) -> None:
        req = msg.header.get("req")
        ids = msg.header.get("ids")
        if not isinstance(req, int) or not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
            log.warning("client: malformed ACCEPTED %r dropped", msg.header)
            return
        indices = self._take_push(req)
        if indices is None:
            log.warning("client: ACCEPTED for unknown push %d; aborting its %d jobs", req, len(ids))
            self._send_abort(ids)
            return
        request = self._requests.get(req)
        to_abort: List[int] = []
        matched = min(len(indices), len(ids))
        for k in range(matched):
            if request is None or request.jobs[indices[k]].done:
                to_abort.append(ids[k])  # finished here meanwhile (timeout, abort)
                continue
            request.jobs[indices[k]].id = ids[k]
            self._by_id[ids[k]] = (req, indices[k])
        to_abort.extend(ids[matched:])
        if len(indices) != len(ids):
            log.error("client: manager accepted %d ids for a push of %d jobs (req %d)", len(ids), len(indices), req)
            for index in indices[matched:]:
                request = self._requests.get(req)
                if request is not None:
                    self._finish(request, index, Result(JobError(EINTERNAL, "the manager did not accept this job")))
        self._send_abort(to_abort)

    def _on_results(self, msg: proto.Message) -> None:
        try:
            items = proto.entries(msg, "results")
        except ValueError as exc:
            log.warning("client: dropping RESULT: %s", exc)
            return
        received: List[int] = []
        for entry, frame in zip(items, msg.payloads):
            job_id = entry.get("id")
            if isinstance(job_id, int) and not isinstance(job_id, bool):
                received.append(job_id)
            where = self._by_id.get(job_id) if isinstance(job_id, int) and not isinstance(job_id, bool) else None
            if where is None or not isinstance(job_id, int):
                # Already delivered (a manager restarted on its journal sends again what
                # it had not heard RECEIVED for), aborted, or never ours.
                log.debug("client: result for job %r that is not waiting; dropped", job_id)
                continue
            request = self._requests.get(where[0])
            if request is None:  # cannot happen: _by_id entries die with their job
                del self._by_id[job_id]
                continue
            self._finish(request, where[1], _result_of(entry, frame))
        # A manager with a journal holds each result until told (PROTOCOL §4 RECEIVED);
        # one without forgets it once sent, and must not hear a command it does not know.
        journal = self._session.welcome.get("journal") if self._session else None
        if received and isinstance(journal, str) and journal:
            self._send(proto.encode("RECEIVED", {"ids": received}))

    def _on_progress(self, msg: proto.Message) -> None:
        """Hands each report to its request's progress callback. A report for a job
        that is not waiting (finished: the manager sends progress before the result,
        so it raced an abort or a timeout here; or never ours) is dropped, as is one for
        a request without a callback."""
        try:
            items = proto.entries(msg, "progress")
        except ValueError as exc:
            log.warning("client: dropping PROGRESS: %s", exc)
            return
        for entry, frame in zip(items, msg.payloads):
            job_id = entry.get("id")
            where = self._by_id.get(job_id)
            if where is None:
                log.debug("client: progress for job %r, which is not waiting; dropped", job_id)
                continue
            request = self._requests.get(where[0])
            if request is None or request.progress is None or request.jobs[where[1]].done:
                continue
            try:
                value = proto.load_payload(frame, entry.get("raw") is True)
            except ValueError:
                log.warning("client: progress of job %d is not valid JSON; dropped", job_id)
                continue
            self._call_soon(request.progress, where[1], value)

    def _take_push(self, req: Optional[int]) -> Optional[List[int]]:
        """Removes and returns the oldest push awaiting its answer with this req (the
        manager answers a peer's pushes in order, so it is normally the first), or
        the oldest of all for None. None when no such push waits."""
        for position, (pushed_req, indices) in enumerate(self._awaiting_accept):
            if req is None or pushed_req == req:
                del self._awaiting_accept[position]
                return indices
        return None

    def _io_error(self, code: str, message: str, command: Any, req: Any, header: Dict[str, Any]) -> bool:
        if command not in (None, "PUSH"):
            return False
        if isinstance(req, int) and not isinstance(req, bool):
            indices = self._take_push(req)
        elif req is None and command == "PUSH":
            # Refused before its header was read (ETOOBIG): no req, but the manager
            # answers pushes in order, so it is the oldest waiting one (PROTOCOL §10).
            if not self._awaiting_accept:
                log.error("client: manager answered %s to a PUSH, but none is waiting: %s", code, message)
                return True
            req = self._awaiting_accept[0][0]
            indices = self._take_push(None)
        else:
            return False
        if indices is None:
            log.error("client: manager answered %s for push %d, which is not waiting: %s", code, req, message)
            return True
        if code == EDRAINING:
            # The manager is stopping: nothing of this push was queued. Push it again
            # once registered anew (the draining manager says BYE when it stops), and
            # push nothing more to this one.
            if not self._manager_draining:
                log.warning("client: the manager is draining; pushes wait for the next session")
            self._manager_draining = True
            request = self._requests.get(req)
            if request is not None:
                for index in indices:
                    job = request.jobs[index]
                    if not job.done:
                        job.sent = False
                        job.id = 0
            return True
        if code == EDENIED:
            # Every push of this session will be refused alike: say why once.
            log.log(logging.DEBUG if self._denied_logged else logging.ERROR,
                    "client: manager refused push %d (%d jobs) with EDENIED: this client's CURVE key is not listed "
                    "as a client's (PROTOCOL §13): %s", req, len(indices), message)
            self._denied_logged = True
        else:
            log.warning("client: manager refused push %d (%d jobs): %s %s", req, len(indices), code, message)
        for index in indices:
            request = self._requests.get(req)
            if request is None:
                break
            if not request.jobs[index].done:
                self._finish(request, index, Result(JobError(code, message)))
        return True

    def _on_abort(self, req: int, indices: Optional[List[int]]) -> None:
        request = self._requests.get(req)
        if request is None:
            return  # finished or unknown: nothing to abort
        if indices is None:
            picked = list(range(len(request.jobs)))
        else:
            picked = [i for i in indices if 0 <= i < len(request.jobs)]
            if len(picked) != len(indices):
                log.warning("client: abort of request %d names indices beyond its %d jobs", req, len(request.jobs))
        self._end_jobs(req, picked, EABORTED, "aborted by the application")

    def _io_timers(self, now: float) -> None:
        self._pump()
        while self._deadlines and self._deadlines[0][0] <= now:
            deadline, req = heapq.heappop(self._deadlines)
            request = self._requests.get(req)
            if request is None or request.deadline != deadline:
                continue
            self._end_jobs(
                req,
                list(range(len(request.jobs))),
                ECSTO,
                f"the request did not finish within its timeout of {request.timeout:g} s",
            )

    def _end_jobs(self, req: int, indices: List[int], code: str, message: str) -> None:
        """Finishes the given unfinished jobs with an error, and tells the manager to
        abort the accepted ones. Jobs pushed but not yet accepted are aborted when
        their ACCEPTED arrives."""
        request = self._requests.get(req)
        if request is None:
            return
        self._send_abort([request.jobs[i].id for i in indices if not request.jobs[i].done and request.jobs[i].id])
        for index in indices:
            request = self._requests.get(req)
            if request is None:
                break
            self._finish(request, index, Result(JobError(code, message)))

    def _send_abort(self, ids: List[int]) -> None:
        if not ids:
            return
        if self._registered:
            self._send(proto.encode("ABORT", {"ids": ids}))
        elif self._kept:
            self._abort_later.extend(ids)  # the journal's manager still runs them

    def _finish(self, request: _Request, index: int, result: Result) -> None:
        """Marks one job done and delivers its result; completes the request when it
        was the last (and then removes it from _requests)."""
        job = request.jobs[index]
        if job.done:
            return
        job.done = True
        if job.id:
            self._by_id.pop(job.id, None)
        request.remaining -= 1
        with self._pending_lock:
            self._pending_jobs -= 1
        if request.stream is not None:
            if request.progress is not None:
                # Behind the progress callbacks already queued on the events thread,
                # so that the application sees a job's progress before its result.
                self._call_soon(request.stream._queue.put, (index, result))
            else:
                request.stream._queue.put((index, result))
        else:
            job.result = result
        if request.remaining == 0:
            self._requests.pop(request.req, None)
            self._complete(request)

    def _complete(self, request: _Request) -> None:
        if request.future is None:
            return
        if request.kind == "single":
            self._resolve(request.future, request.jobs[0].result if request.jobs else Result(None, None))
        else:
            self._resolve(request.future, [job.result for job in request.jobs])

    def _io_shutdown(self) -> None:
        """Closing: abort everything on the manager, fail it here."""
        self._send_abort(list(self._by_id))
        for req in list(self._requests):
            request = self._requests.get(req)
            if request is None:
                continue
            for index in range(len(request.jobs)):
                self._finish(request, index, Result(JobError(EABORTED, "the client was closed")))


def _letter_ids(ids: Any) -> List[int]:
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
        raise ProletariatError(EBADFIELD, f"ids must be a list of letter ids, not {ids!r}")
    return [proto.check_uint(i, "a letter id") for i in ids]


def _letter_selection(op: str, ids: Any, everything: Any) -> Dict[str, Any]:
    if not isinstance(everything, bool):
        raise ProletariatError(EBADFIELD, f"all must be True or False, not {everything!r}")
    if everything == (ids is not None):
        raise ProletariatError(EBADFIELD, f"{op} needs either ids or all=True")
    return {"op": op, "all": True} if everything else {"op": op, "ids": _letter_ids(ids)}


def _admin_group(group: Any) -> str:
    checked = proto.check_group(group)
    if checked is None:
        raise ProletariatError(EBADFIELD, "a group is needed")
    return checked


def _decode_letters(msg: proto.Message) -> Dict[str, Any]:
    """The DEADLETTERS header, with each letter of a show given its ``payload``."""
    reply = dict(msg.header)
    if reply.get("op") == "show":
        letters = []
        for letter, frame in zip(reply.get("letters") or [], msg.payloads):
            letter = dict(letter)
            try:
                letter["payload"] = proto.load_payload(frame, letter.get("raw") is True)
            except ValueError:
                log.warning("client: the payload of dead letter %s is not valid JSON; given as bytes", letter.get("id"))
                letter["payload"] = bytes(frame)
            letters.append(letter)
        reply["letters"] = letters
    return reply


_NOT_ANNOUNCED = ("the job asks for delay, at, group or retry, and the manager did not announce the job "
                  "lifecycle in its WELCOME (PROTOCOL §14)")


def _entry_lifecycle(request: _Lifecycle, job: _Lifecycle) -> Dict[str, Any]:
    """The PUSH entry fields of a job's own lifecycle options: those that differ from
    the request's (the header's). An entry's delay or at replaces both of the
    header's (PROTOCOL §4), so the job's time is written whenever it is not the
    header's."""
    fields: Dict[str, Any] = {}
    if (job.delay, job.at) != (None, None) and (job.delay, job.at) != (request.delay, request.at):
        if job.delay is not None:
            fields["delay"] = job.delay
        else:
            fields["at"] = job.at
    if job.group is not None and job.group != request.group:
        fields["group"] = job.group
    if job.retry is not None and job.retry != request.retry:
        fields["retry"] = job.retry
    return fields


def _result_of(entry: Dict[str, Any], frame: bytes) -> Result:
    """A Result from a RESULT entry and its payload frame."""
    err = entry.get("err")
    raw = entry.get("raw") is True
    error: Optional[JobError] = None
    if isinstance(err, dict):
        code = err.get("code")
        message = err.get("message")
        error = JobError(code if isinstance(code, str) and code else EHANDLER, message if isinstance(message, str) else "")
    elif err is not None:
        error = JobError(EHANDLER, f"malformed error {err!r}")
    try:
        data = proto.load_payload(frame, raw)
    except ValueError:
        if error is None:
            error = JobError(EHANDLER, "the worker's result is not valid JSON")
        data = bytes(frame)
    attempts = entry.get("attempts")
    return Result(error, data, attempts if isinstance(attempts, int) and not isinstance(attempts, bool) else None)


__all__ = ["Client", "Job", "Retry", "Result", "RequestFuture", "ResultStream", "DEFAULT_ENDPOINT", "ECONNLOST"]
