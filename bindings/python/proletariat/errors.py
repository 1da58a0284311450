"""Errors of the proletariat wire protocol, as Python exceptions.

Every error carries the stable wire code (``"ECSTO"``, ``"ETO"``, ``"EATO"``, ...)
listed in docs/PROTOCOL.md §6, a human message, and the code's class, which tells
a caller what to do about it: ``"retry"`` (transient: try again later),
``"request"`` (fix the request) or ``"fault"`` (something broke: report it).
Application codes (any other ``E...`` string a handler raises) are ``"fault"``.
"""

from __future__ import annotations

from typing import Dict, Optional

__all__ = [
    "ProletariatError",
    "JobError",
    "ERROR_CLASSES",
    "error_class",
    "ECSTO",
    "ETO",
    "EATO",
    "EWORKERLOST",
    "EABORTED",
    "ECONNLOST",
    "EHANDLER",
    "ENOHELLO",
    "EVERSION",
    "EBADFRAME",
    "EBADJSON",
    "EBADFIELD",
    "EUNKNOWNCMD",
    "ESTATE",
    "EBADOFFER",
    "ETOOBIG",
    "ELIMIT",
    "EINTERNAL",
    "ENOPEER",
]

# Job errors.
ECSTO = "ECSTO"  #: the request's client-side ``timeout`` expired
ETO = "ETO"  #: the job ran longer than its ``run_timeout`` on the worker
EATO = "EATO"  #: no worker took the job within its ``assign_timeout``
EWORKERLOST = "EWORKERLOST"  #: the job's worker died ``max_attempts`` times
EABORTED = "EABORTED"  #: the application aborted the job (or closed the client)
ECONNLOST = "ECONNLOST"  #: the manager was lost and the client does not keep state
EHANDLER = "EHANDLER"  #: the worker's handler failed without giving a code
# Protocol errors (ERROR messages from the manager).
ENOHELLO = "ENOHELLO"
EVERSION = "EVERSION"
EBADFRAME = "EBADFRAME"
EBADJSON = "EBADJSON"
EBADFIELD = "EBADFIELD"
EUNKNOWNCMD = "EUNKNOWNCMD"
ESTATE = "ESTATE"
EBADOFFER = "EBADOFFER"
ETOOBIG = "ETOOBIG"
ELIMIT = "ELIMIT"
EINTERNAL = "EINTERNAL"
ENOPEER = "ENOPEER"

#: Code -> class, the table of docs/PROTOCOL.md §6.
ERROR_CLASSES: Dict[str, str] = {
    ECSTO: "retry",
    ETO: "retry",
    EATO: "retry",
    EWORKERLOST: "fault",
    EABORTED: "request",
    ECONNLOST: "retry",
    EHANDLER: "fault",
    ENOHELLO: "request",
    EVERSION: "request",
    EBADFRAME: "request",
    EBADJSON: "request",
    EBADFIELD: "request",
    EUNKNOWNCMD: "request",
    ESTATE: "request",
    EBADOFFER: "request",
    ETOOBIG: "request",
    ELIMIT: "retry",
    EINTERNAL: "fault",
    ENOPEER: "request",
}


def error_class(code: str) -> str:
    """The class of a wire code: ``"retry"``, ``"request"`` or ``"fault"``.

    Codes this protocol does not define (application errors) are ``"fault"``.
    """
    return ERROR_CLASSES.get(code, "fault")


class ProletariatError(Exception):
    """An error with a wire code.

    Raised by the library for protocol errors, bad arguments (``EBADFIELD``, a bad
    offer ``EBADOFFER``) and lost connections (``ECONNLOST``). A worker's handler may
    raise it to fail a job with a code of its choice::

        raise ProletariatError("ENOTFOUND", "no such image")

    Attributes:
        code: the stable wire code, e.g. ``"EBADFIELD"``.
        message: a human message (may be empty).
        error_class: ``"retry"``, ``"request"`` or ``"fault"``.
    """

    def __init__(self, code: str, message: str = "", error_class_: Optional[str] = None) -> None:
        self.code: str = str(code) if code else EHANDLER
        self.message: str = "" if message is None else str(message)
        self.error_class: str = error_class_ or error_class(self.code)
        super().__init__(self.code, self.message)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.message else self.code

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ProletariatError):
            return NotImplemented
        return (self.code, self.message) == (other.code, other.message)

    def __hash__(self) -> int:
        return hash((self.code, self.message))

    def to_wire(self) -> Dict[str, str]:
        """The ``err`` object of a RESULT entry."""
        return {"code": self.code, "message": self.message}


class JobError(ProletariatError):
    """The error of one job's result (``Result.err``), e.g. ``JobError("ETO", ...)``.

    A subclass of :class:`ProletariatError`, so ``Result.value()`` raises it as is and
    ``except ProletariatError`` catches it.
    """
