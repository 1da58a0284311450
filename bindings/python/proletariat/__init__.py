"""proletariat: Python workers and clients for the proletariat job broker.

Pure Python over pyzmq (Debian's python3-zmq); speaks the wire protocol of
docs/PROTOCOL.md (PRO1) directly, so no compiler is needed.

- :class:`Client` pushes jobs: ``work()`` returns the results, ``work_individual()``
  yields them as they finish, ``submit()`` returns a ``concurrent.futures.Future``.
- :class:`Worker` offers slots and runs a handler function on a thread pool.
- Both send and receive system messages and ask the manager for its status.
- The job lifecycle (PROTOCOL §14): a push's ``delay``, ``at``, ``group`` and
  ``retry`` (:class:`Retry`); ``WorkerJob.progress()`` and work_individual's
  ``progress`` callback; the client's dead-letter and group-limit calls.
- Both connect with CURVE when given ``curve=CurveOptions(...)`` (PROTOCOL §13);
  :mod:`proletariat.curve` reads and writes key files and makes key pairs.

Errors carry the stable wire code: :class:`ProletariatError` (``.code``,
``.message``), and :class:`JobError` for a job's result.

The library logs through the ``"proletariat"`` logger (silent unless the application
configures logging).
"""

import logging as _logging

from . import _spec
from .client import DEFAULT_ENDPOINT, Client, Job, RequestFuture, Result, ResultStream, Retry
from . import curve as _curve
from .curve import *  # noqa: F403 - CurveOptions, CurveKeyPair and the key-file helpers, listed in curve.__all__
from . import errors as _errors
from .errors import *  # noqa: F403 - the error codes and types, listed once in errors.__all__
from .worker import Worker, WorkerJob

__version__ = "0.1.0"
#: The wire protocol this package speaks.
PROTOCOL_VERSION = _spec.PROTOCOL_VERSION

_logging.getLogger("proletariat").addHandler(_logging.NullHandler())

__all__ = [
    "Client",
    "Worker",
    "Job",
    "Retry",
    "WorkerJob",
    "Result",
    "RequestFuture",
    "ResultStream",
    "DEFAULT_ENDPOINT",
    "PROTOCOL_VERSION",
] + _curve.__all__ + _errors.__all__
