"""SSH key pairs (ed25519): generated, loaded from and saved to OpenSSH files; the private half never shown."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudorm.errors import InvalidInput

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes


class KeyPair:
    """An SSH key pair: ``KeyPair.generate()`` (ed25519) or ``KeyPair.load("~/.ssh/id_ed25519")`` (any type
    OpenSSH writes). Its repr shows the fingerprint and path only; the private key is read with
    ``private_openssh()``."""

    __slots__ = ("_blob", "_comment", "_key", "_type", "path")

    def __init__(self, key: PrivateKeyTypes, comment: str = "cloudorm", path: Path | None = None) -> None:
        from cryptography.hazmat.primitives import serialization

        try:
            line = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                 serialization.PublicFormat.OpenSSH).decode()
        except (ValueError, TypeError, AttributeError):
            raise InvalidInput("key", f"{type(key).__name__} is not a key type SSH uses") from None
        key_type, blob = line.split()[:2]
        self._key = key
        self._type = key_type
        self._blob = base64.b64decode(blob)
        self._comment = " ".join(comment.split())  # one line, whatever was given
        self.path: Path | None = path
        """Where the private key was loaded from or saved to (None for a key only in memory)."""

    # ------------------------------------------------------------------------------------------- making

    @classmethod
    def generate(cls, comment: str = "cloudorm") -> KeyPair:
        """A new ed25519 key pair, in memory until ``save()``."""
        require_package("cryptography")
        from cryptography.hazmat.primitives.asymmetric import ed25519

        return cls(ed25519.Ed25519PrivateKey.generate(), comment)

    @classmethod
    def from_private(cls, text: str | bytes, password: str | bytes | None = None) -> KeyPair:
        """The key pair of a private key in OpenSSH or PEM form (``InvalidInput`` if it cannot be read; the
        message never quotes the key)."""
        require_package("cryptography")
        from cryptography.hazmat.primitives import serialization

        data = text.encode() if isinstance(text, str) else bytes(text)
        secret = password.encode() if isinstance(password, str) else password
        loaders: list[Callable[[bytes, bytes | None], Any]] = [serialization.load_ssh_private_key,
                                                               serialization.load_pem_private_key]
        if b"BEGIN OPENSSH PRIVATE KEY" not in data:
            loaders.reverse()
        reason = "is not a private key in OpenSSH or PEM form"
        for loader in loaders:
            try:
                return cls(loader(data, secret))
            except TypeError:
                reason = "needs a password" if secret is None else "is not encrypted: no password is needed"
            except ValueError as e:
                words = str(e).lower()
                if secret is not None and any(w in words for w in ("password", "decrypt", "checksum")):
                    reason = "could not be decrypted with this password"
            except Exception:  # an unsupported key type or cipher; the text itself is never shown
                reason = "is of a key type or cipher that cannot be read"
        raise InvalidInput("key", reason)

    @classmethod
    def load(cls, path: str | os.PathLike[str], password: str | bytes | None = None) -> KeyPair:
        """Read a private key file (its comment from ``path.pub`` when there is one)."""
        file = Path(path).expanduser()
        try:
            data = file.read_bytes()
        except FileNotFoundError:
            raise InvalidInput("path", f"no key file at {file}") from None
        except OSError as e:
            raise InvalidInput("path", f"cannot read {file}: {e.strerror}") from None
        try:
            pair = cls.from_private(data, password)
        except InvalidInput as e:
            raise InvalidInput("path", f"{file} {e.reason}") from None
        pub = file.with_name(file.name + ".pub")
        try:
            fields = pub.read_text().split(None, 2)
        except (OSError, UnicodeDecodeError):
            fields = []
        if len(fields) == 3 and fields[1] == base64.b64encode(pair._blob).decode():
            pair._comment = " ".join(fields[2].split())
        pair.path = file
        return pair

    # ------------------------------------------------------------------------------------------- public half

    @property
    def key_type(self) -> str:
        """The OpenSSH key type: ``ssh-ed25519``, ``ssh-rsa``, ``ecdsa-sha2-nistp256`` ..."""
        return self._type

    @property
    def comment(self) -> str:
        """The comment after the public key (``cloudorm`` unless given)."""
        return self._comment

    @property
    def public_key(self) -> str:
        """The public key as one OpenSSH line: ``ssh-ed25519 AAAA… comment``."""
        line = f"{self._type} {base64.b64encode(self._blob).decode()}"
        return f"{line} {self._comment}" if self._comment else line

    @property
    def fingerprint(self) -> str:
        """``SHA256:…``, as ``ssh-keygen -l`` shows it."""
        return sha256_fingerprint(self._blob)

    @property
    def md5_fingerprint(self) -> str:
        """``aa:bb:…``, the form DigitalOcean and EC2 show for an imported key."""
        return md5_fingerprint(self._blob)

    # ------------------------------------------------------------------------------------------- private half

    def private_openssh(self) -> str:
        """The private key in OpenSSH form, unencrypted: the one way to read it."""
        from cryptography.hazmat.primitives import serialization

        return self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                       serialization.NoEncryption()).decode()

    def save(self, path: str | os.PathLike[str]) -> KeyPair:
        """Write the private key to ``path`` (mode 0600 from its creation) and the public key to ``path.pub``;
        parent directories are created (0700). Returns self, whose ``path`` is now ``path``."""
        file = Path(path).expanduser()
        file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private(file, self.private_openssh().encode())
        pub = file.with_name(file.name + ".pub")
        fd = os.open(pub, os.O_CREAT | os.O_WRONLY | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o644)
        with os.fdopen(fd, "w") as f:
            f.write(self.public_key + "\n")
        self.path = file
        return self

    # ------------------------------------------------------------------------------------------- object

    def __repr__(self) -> str:
        return f"KeyPair({self.fingerprint}, path={str(self.path) if self.path else None!r})"

    def __reduce__(self) -> Any:
        raise TypeError("a KeyPair is not picklable (it holds a private key)")

    def __copy__(self) -> KeyPair:
        """The key itself: a key pair never changes, and copying must not go through pickling."""
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> KeyPair:
        """The key itself (a saved Cluster's record keeps the ``ssh_key`` it was given)."""
        return self

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KeyPair) and (self._type, self._blob) == (other._type, other._blob)

    def __hash__(self) -> int:
        return hash((self._type, self._blob))


def require_package(name: str) -> None:
    """``ImportError`` saying how to install ``name`` (``cryptography``, ``paramiko``) when it is missing."""
    try:
        __import__(name)
    except ImportError:
        raise ImportError(f"SSH keys and connections need the {name} package: pip install 'cloudorm[ssh]'") from None


def write_private(file: Path, data: bytes) -> None:
    """Write secret bytes to ``file`` with mode 0600 from its creation (an existing file is truncated and
    narrowed to 0600 before anything is written)."""
    fd = os.open(file, os.O_CREAT | os.O_WRONLY | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        os.fchmod(fd, 0o600)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def public_key_blob(line: str) -> tuple[str, bytes]:
    """The type and key bytes of an OpenSSH public key line (``InvalidInput`` when it is not one)."""
    fields = line.split()
    if len(fields) < 2:
        raise InvalidInput("public_key", "is not an OpenSSH public key line ('type base64 [comment]')")
    try:
        blob = base64.b64decode(fields[1], validate=True)
    except ValueError:
        raise InvalidInput("public_key", "has a key part that is not base64") from None
    # the blob starts with its own type name: a length-prefixed string
    n = int.from_bytes(blob[:4], "big") if len(blob) >= 4 else -1
    if n <= 0 or blob[4:4 + n].decode(errors="replace") != fields[0]:
        raise InvalidInput("public_key", f"is not a {fields[0]!r} key")
    return fields[0], blob


def sha256_fingerprint(blob: bytes) -> str:
    """The ``SHA256:…`` fingerprint of a public key blob."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def md5_fingerprint(blob: bytes) -> str:
    """The ``aa:bb:…`` MD5 fingerprint of a public key blob."""
    return ":".join(f"{b:02x}" for b in hashlib.md5(blob, usedforsecurity=False).digest())  # a name, not a check
