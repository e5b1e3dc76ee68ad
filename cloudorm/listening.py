"""The listening socket of a server cloudorm runs (the local cloud's): ``listen(host, port)`` checks the address and
binds at once, before anything slow is imported, and says in one line why it cannot (a port in use, a name that does
not resolve, an address that is not this machine's)."""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import socket

from cloudorm.errors import InvalidInput

BACKLOG = 128
"""Connections the kernel queues before the server accepts them."""


def check_port(port: object) -> int:
    """``port`` if it is a TCP port number (0: a free one); InvalidInput otherwise."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise InvalidInput("port", f"must be a TCP port, 0 to 65535 (0 picks a free one), not {port!r}")
    return port


def plain_host(host: str) -> str:
    """``host`` without the brackets of an IPv6 address written as in a URL (``[::1]`` -> ``::1``)."""
    host = host.strip()
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def server_url(host: str, port: int) -> str:
    """The ``http://`` URL a client of this machine uses to reach a server listening on ``host:port``: a wildcard
    address is not one to connect to, so its family's loopback address stands for it (``0.0.0.0`` and ``""`` ->
    ``127.0.0.1``, ``::`` -> ``::1``); an IPv6 address is in brackets."""
    host = plain_host(host)
    try:
        address = ipaddress.ip_address(host) if host else ipaddress.IPv4Address(0)
    except ValueError:
        return f"http://{host}:{port}"  # a name
    if address.is_unspecified:
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    return f"http://{f'[{address}]' if address.version == 6 else address}:{port}"


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port`` (port 0: a free one). ``InvalidInput`` for a port out of range, an
    ``OSError`` whose ``strerror`` is one line for an address that cannot be used (its ``errno`` says which)."""
    check_port(port)
    host = plain_host(host)
    family, address = _resolve(host, port)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if os.name not in ("nt", "cygwin"):
            # a restart may bind while the last run's connections linger in TIME_WAIT (as every server does)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            sock.bind(address)
        except OSError as e:
            raise _why(e, host, port) from None
        if port and _answered(family, address):
            # BSD and macOS let SO_REUSEADDR bind a specific address over another program's wildcard listener
            # (LocalStack's Docker port is one): that port is in use all the same
            raise OSError(errno.EADDRINUSE, _in_use(host, port))
        sock.listen(BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


def _resolve(host: str, port: int) -> tuple[socket.AddressFamily, tuple[object, ...]]:
    """The family and socket address ``host`` names (IPv6 when it has a colon, as werkzeug decides)."""
    family = socket.AF_INET6 if ":" in host and socket.has_ipv6 else socket.AF_INET
    try:
        found = socket.getaddrinfo(host or None, port, family, socket.SOCK_STREAM, socket.IPPROTO_TCP,
                                   socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise OSError(errno.EADDRNOTAVAIL, f"{host!r} is not an address or a host name this machine resolves "
                                           f"({e.strerror})") from None
    return found[0][0], found[0][4]


def _answered(family: socket.AddressFamily, address: tuple[object, ...]) -> bool:
    """Whether another program accepts connections at ``address`` (ours is bound but not listening yet)."""
    host = str(address[0])
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1" if family == socket.AF_INET else "::1"
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        with contextlib.suppress(OSError):
            probe.connect((host, *address[1:]))
            return True
    return False


def _in_use(host: str, port: int) -> str:
    return f"port {port} of {host or 'every address'} is already in use (another local cloud, or LocalStack?)"


def _why(error: OSError, host: str, port: int) -> OSError:
    """A one-line ``OSError`` for a failed bind."""
    if error.errno == errno.EADDRINUSE:
        message = _in_use(host, port)
    elif error.errno == errno.EADDRNOTAVAIL:
        message = f"{host} is not an address of this machine"
    elif error.errno == errno.EACCES:
        message = f"not allowed to listen on port {port} (ports below 1024 need privileges on most systems)"
    else:
        message = f"cannot listen on {host}:{port}: {error.strerror or error}"
    return OSError(error.errno, message)
