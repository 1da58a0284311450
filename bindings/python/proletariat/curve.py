"""CURVE keys (docs/PROTOCOL.md §13): how a Worker or Client authenticates itself to a
manager that runs CURVE, and knows that it talks to the right manager.

Every key is a CURVE key in libzmq's Z85 text form: 40 characters of the Z85 alphabet
(RFC 32) that decode to 32 bytes. The key files are those of the C++ library and of
``proletariat-ctl keygen NAME``:

- a *public key file* (``NAME.pub``) holds the key on its first line that is neither
  blank nor a ``#`` comment;
- a *secret key file* (``NAME.key``, mode 0600) holds the lines ``public = <z85>``
  and ``secret = <z85>`` (blank and ``#`` lines are ignored, so are other names).

A peer needs the manager's public key (given out of band, e.g. its ``.pub`` file) and
a key pair of its own, whose public key the manager lists in its key directory under
``workers/``, ``clients/`` or ``admins/``::

    curve = CurveOptions.from_files("keys/manager.pub", "keys/worker-7.key")
    worker = Worker("tcp://jobs.example.org:1917", curve=curve)

Every malformed key or file raises ``ProletariatError("EBADFIELD")`` naming what is
wrong (never showing a secret key).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple, Optional, Tuple, Union

import zmq

from .errors import EBADFIELD, EINTERNAL, ESTATE, ProletariatError

#: The 85 characters of Z85 (ZeroMQ RFC 32), in the order of their values.
Z85_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
_Z85_VALUES = {c: i for i, c in enumerate(Z85_ALPHABET)}
#: Characters of a CURVE key in Z85 (32 bytes).
KEY_LENGTH = 40

PathLike = Union[str, "os.PathLike[str]"]
KeyText = Union[str, bytes]


def is_z85_key(text: Any) -> bool:
    """True for 40 characters of the Z85 alphabet that decode to 32 bytes (each group
    of five a value below 2**32), as libzmq's zmq_z85_decode takes them."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("ascii")
        except UnicodeDecodeError:
            return False
    if not isinstance(text, str) or len(text) != KEY_LENGTH:
        return False
    for start in range(0, KEY_LENGTH, 5):
        value = 0
        for char in text[start:start + 5]:
            digit = _Z85_VALUES.get(char)
            if digit is None:
                return False
            value = value * 85 + digit
        if value >= 1 << 32:
            return False
    return True


def _key(value: Any, what: str, secret: bool = False) -> str:
    """A Z85 key given as str or ASCII bytes, as str; EBADFIELD otherwise. A secret
    key is never shown in the message."""
    if isinstance(value, (bytes, bytearray)):
        try:
            value = bytes(value).decode("ascii")
        except UnicodeDecodeError:
            pass
    if is_z85_key(value):
        return str(value)
    if secret:
        shown = f"a {type(value).__name__}" if not isinstance(value, str) else f"{len(value)} characters"
    else:
        shown = repr(value) if not isinstance(value, str) or len(value) <= 60 else repr(value[:60] + "...")
    raise ProletariatError(
        EBADFIELD, f"{what} must be a CURVE key in Z85 text ({KEY_LENGTH} characters of the Z85 alphabet), not {shown}"
    )


def _curve_public(secret_key: str) -> str:
    """The public key of a secret key (zmq_curve_public)."""
    if not zmq.has("curve"):
        raise ProletariatError(EINTERNAL, f"this libzmq ({zmq.zmq_version()}) has no CURVE support")
    return zmq.curve_public(secret_key.encode("ascii")).decode("ascii")


class CurveKeyPair(NamedTuple):
    """A CURVE key pair in Z85: ``public, secret = generate_curve_key_pair()``.

    Its repr does not show the secret key."""

    public_key: str
    secret_key: str

    def __repr__(self) -> str:
        return f"CurveKeyPair(public_key={self.public_key!r}, secret_key=<hidden>)"


@dataclass(frozen=True, repr=False)
class CurveOptions:
    """What a Worker or Client needs to connect to a manager that runs CURVE
    (PROTOCOL §13); give it as ``curve=`` to either.

    Args:
        server_public_key: the manager's public key (Z85, from its ``.pub`` file or
            the ``public`` line of its secret key file).
        public_key: this peer's public key, the one the manager lists.
        secret_key: this peer's secret key; it must belong to `public_key`.

    Keys may be str or ASCII bytes; they are kept as str. Raises
    ``ProletariatError("EBADFIELD")`` for a malformed key or a pair that does not
    belong together (and ``EINTERNAL`` when libzmq has no CURVE support).

    ``CurveOptions.from_files(server_public_key_file, secret_key_file)`` reads them
    from key files; ``CurveOptions(server_key, *generate_curve_key_pair())`` takes a
    fresh pair. The repr does not show the secret key.
    """

    server_public_key: str
    public_key: str
    secret_key: str

    def __post_init__(self) -> None:
        server = _key(self.server_public_key, "server_public_key")
        public = _key(self.public_key, "public_key")
        secret = _key(self.secret_key, "secret_key", secret=True)
        if _curve_public(secret) != public:
            raise ProletariatError(EBADFIELD, f"public_key {public} is not the public key of the secret_key given")
        object.__setattr__(self, "server_public_key", server)
        object.__setattr__(self, "public_key", public)
        object.__setattr__(self, "secret_key", secret)

    @classmethod
    def from_files(cls, server_public_key_file: PathLike, secret_key_file: PathLike) -> "CurveOptions":
        """The manager's public key file and this peer's secret key file (PROTOCOL §13)."""
        server = read_public_key_file(server_public_key_file)
        keys = read_secret_key_file(secret_key_file)
        return cls(server, keys.public_key, keys.secret_key)

    @property
    def keys(self) -> CurveKeyPair:
        """This peer's key pair."""
        return CurveKeyPair(self.public_key, self.secret_key)

    def __repr__(self) -> str:
        return (f"CurveOptions(server_public_key={self.server_public_key!r}, public_key={self.public_key!r}, "
                f"secret_key=<hidden>)")


def curve_options(value: Any) -> Optional[CurveOptions]:
    """The ``curve=`` argument of a Worker or Client: None (no CURVE), a CurveOptions,
    or a mapping with its three fields (e.g. read from a configuration file)."""
    if value is None or isinstance(value, CurveOptions):
        return value
    if isinstance(value, Mapping):
        fields = {"server_public_key", "public_key", "secret_key"}
        unknown = sorted(str(k) for k in value if k not in fields)
        missing = sorted(fields - set(value))
        if unknown or missing:
            raise ProletariatError(EBADFIELD, f"curve needs exactly the keys {sorted(fields)}"
                                              f"{'; unknown: ' + ', '.join(unknown) if unknown else ''}"
                                              f"{'; missing: ' + ', '.join(missing) if missing else ''}")
        return CurveOptions(value["server_public_key"], value["public_key"], value["secret_key"])
    raise ProletariatError(EBADFIELD, f"curve must be None, a CurveOptions or a mapping of its fields, "
                                      f"not a {type(value).__name__}")


def generate_curve_key_pair() -> CurveKeyPair:
    """A fresh key pair (zmq_curve_keypair)."""
    if not zmq.has("curve"):
        raise ProletariatError(EINTERNAL, f"this libzmq ({zmq.zmq_version()}) has no CURVE support")
    public, secret = zmq.curve_keypair()
    return CurveKeyPair(public.decode("ascii"), secret.decode("ascii"))


def _bad_file(path: PathLike, what: str) -> ProletariatError:
    return ProletariatError(EBADFIELD, f"key file {os.fspath(path)}: {what}")


def _lines(path: PathLike) -> Tuple[str, ...]:
    """The file's lines, stripped, without blank and # lines."""
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as stream:
            text = stream.read()
    except OSError as exc:
        raise _bad_file(path, f"cannot be read ({exc.strerror or exc})") from None
    return tuple(s for s in (line.strip() for line in text.splitlines()) if s and not s.startswith("#"))


def read_public_key_file(path: PathLike) -> str:
    """The key of a public key file: its first line that is neither blank nor a
    ``#`` comment. EBADFIELD when it cannot be read or that line is no Z85 key."""
    lines = _lines(path)
    if not lines:
        raise _bad_file(path, "holds no key")
    if not is_z85_key(lines[0]):
        raise _bad_file(path, f"its first line is not a Z85 CURVE public key ({KEY_LENGTH} characters)")
    return lines[0]


def read_secret_key_file(path: PathLike) -> CurveKeyPair:
    """The key pair of a secret key file (``public = <z85>`` and ``secret = <z85>``
    lines). EBADFIELD when it cannot be read, a line has no ``=``, either key is
    missing or malformed, or the public key is not the secret key's."""
    public = secret = ""
    for line in _lines(path):
        name, eq, value = line.partition("=")
        if not eq:
            raise _bad_file(path, "expected 'public = <z85>' and 'secret = <z85>' lines")
        name, value = name.strip(), value.strip()
        if name == "public":
            public = value
        elif name == "secret":
            secret = value
    if not is_z85_key(public) or not is_z85_key(secret):
        raise _bad_file(path, f"needs a 'public = <z85>' and a 'secret = <z85>' line, each a {KEY_LENGTH}-character "
                              f"Z85 key")
    if _curve_public(secret) != public:
        raise _bad_file(path, "its public key is not the public key of its secret key")
    return CurveKeyPair(public, secret)


def write_key_files(path_without_extension: PathLike, keys: CurveKeyPair) -> Tuple[str, str]:
    """Writes ``PATH.pub`` (the public key) and ``PATH.key`` (both keys, mode 0600),
    as ``proletariat-ctl keygen`` does; returns their paths. Refuses (``ESTATE``) to
    overwrite either; EBADFIELD for a malformed pair, EINTERNAL when writing fails."""
    base = os.fspath(path_without_extension)
    public = _key(keys[0], "public_key")
    secret = _key(keys[1], "secret_key", secret=True)
    pub_path, key_path = base + ".pub", base + ".key"
    if os.path.lexists(pub_path) or os.path.lexists(key_path):
        raise ProletariatError(ESTATE, f"{pub_path} or {key_path} exists already: not overwritten")
    try:
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(f"# proletariat CURVE secret key: keep it private\npublic = {public}\nsecret = {secret}\n")
        fd = os.open(pub_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(public + "\n")
    except OSError as exc:
        raise ProletariatError(EINTERNAL, f"cannot write {exc.filename or base}: {exc.strerror or exc}") from None
    return pub_path, key_path


__all__ = [
    "CurveOptions",
    "CurveKeyPair",
    "generate_curve_key_pair",
    "read_public_key_file",
    "read_secret_key_file",
    "write_key_files",
    "is_z85_key",
]
