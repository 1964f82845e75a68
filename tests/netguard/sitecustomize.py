"""A socket guard for the offline test: every non-loopback connection or name lookup is logged and refused.

Python imports `sitecustomize` at start-up when this folder is on PYTHONPATH, so the guard covers the whole
`dayone` process (and any Python child it starts) before any library is imported.
"""

import ipaddress
import os
import socket

_LOG = os.environ.get("DAYONE_NETGUARD_LOG", "")


def _local(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if host is None or host in ("", "localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _refuse(what: str, target: object) -> None:
    with open(_LOG, "a", encoding="utf-8") as log:
        log.write(f"{os.getpid()} {what} {target!r}\n")
    raise OSError(101, f"outbound network blocked by the dayone test guard: {what} {target!r}")


if _LOG:
    _connect, _connect_ex, _sendto = socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto
    _getaddrinfo = socket.getaddrinfo

    def connect(self, address):  # noqa: ANN001, ANN201
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(address[0]):
            _refuse("connect", address)
        return _connect(self, address)

    def connect_ex(self, address):  # noqa: ANN001, ANN201
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(address[0]):
            _refuse("connect", address)
        return _connect_ex(self, address)

    def sendto(self, data, *args):  # noqa: ANN001, ANN201, ANN002
        address = args[-1]
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(address[0]):
            _refuse("sendto", address)
        return _sendto(self, data, *args)

    def getaddrinfo(host, *args, **kwargs):  # noqa: ANN001, ANN201, ANN002, ANN003
        if not _local(host):
            _refuse("getaddrinfo", host)
        return _getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.socket.sendto = sendto
    socket.getaddrinfo = getaddrinfo
