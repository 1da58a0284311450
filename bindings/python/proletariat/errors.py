"""Errors of the proletariat wire protocol, as Python exceptions.

Every error carries the stable wire code (``"ECSTO"``, ``"ETO"``, ``"EATO"``, ...)
listed in docs/PROTOCOL.md §6, a human message, and the code's class, which tells
a caller what to do about it: ``"retry"`` (transient: try again later),
``"request"`` (fix the request) or ``"fault"`` (something broke: report it).
Application codes (any other ``E...`` string a handler raises) are ``"fault"``.
"""

from __future__ import annotations

from typing import Dict, Optional

from . import _spec

# The codes and their classes are the table of protocol/protocol.json (docs/PROTOCOL.md
# §6), through the generated _spec.py, not a copy of it. Each code is also a module
# constant named as the code and equal to it (``errors.EBADFIELD == "EBADFIELD"``),
# exported here and by the package: ECSTO, ETO, EATO, EWORKERLOST, EABORTED, ...

#: Code -> class (``"retry"``, ``"request"`` or ``"fault"``).
ERROR_CLASSES: Dict[str, str] = {code: cls for code, (cls, _meaning) in _spec.ERRORS.items()}
#: Code -> what it means.
ERROR_MEANINGS: Dict[str, str] = {code: meaning for code, (_cls, meaning) in _spec.ERRORS.items()}
globals().update({code: code for code in _spec.ERRORS})
#: The code of a failure that names none (a code of the table: tests/test_spec.py).
_NO_CODE_GIVEN = "EHANDLER"

__all__ = [
    "ProletariatError",
    "JobError",
    "ERROR_CLASSES",
    "ERROR_MEANINGS",
    "error_class",
    *_spec.ERRORS,
]


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
        self.code: str = str(code) if code else _NO_CODE_GIVEN
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
