"""A second host on this machine, behind a network that can fall silent.

    with Namespace.create() as host:        # a network namespace, joined by a veth pair
        proxy = Proxy(pg_host, pg_port, listen=host.gateway)
        Syncd(proxy.url(url), wrap=host.run)  # syncd runs "on the other host"
        host.silence()                      # every packet between the two is dropped
        host.restore()

The TCP proxy's `freeze` stops forwarding bytes but both kernels still acknowledge,
so only syncd's own checks can notice. Here the packets themselves vanish: each
side's neighbour entry for the other points at a hardware address nobody has, so
the peer's kernel discards every frame. Nothing is refused or reset; a connection
in flight waits for acknowledgements that never come, as when a cable is pulled
or a firewall starts dropping. Only TCP keepalives and TCP_USER_TIMEOUT on
syncd's sockets can tell, which is what this proves.

It needs root and iproute2 (CI runs as root on a machine that has both); tests
that use it are skipped elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from types import TracebackType

NOBODY = "02:00:00:5e:00:99"  # a locally administered address no interface has


def _ip(*args: str, namespace: str | None = None) -> str:
    prefix = ["ip", "netns", "exec", namespace, "ip"] if namespace else ["ip"]
    done = subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        raise OSError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def unavailable() -> str | None:
    """Why namespaces cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "network namespaces need iproute2's ip"
    try:
        with Namespace.create():
            pass
    except OSError as exc:
        return f"cannot make a network namespace: {exc}"
    return None


@dataclass
class Namespace:
    name: str
    outside: str  # our end of the veth pair, on this host
    inside: str  # its end, in the namespace
    gateway: str  # this host's address, as the namespace reaches it
    address: str  # the namespace's address

    @classmethod
    def create(cls) -> Namespace:
        tag = secrets.token_hex(3)
        # One of the 32,768 /30 subnets of 198.18.0.0/15, the range set aside for
        # benchmarking (RFC 2544): no real network uses it, and another run is
        # unlikely to pick the same one.
        offset = int(tag[:4], 16) % 32768 * 4
        prefix = f"198.{18 + offset // 65536}.{offset // 256 % 256}."
        host = offset % 256
        space = cls(
            f"syncd-{tag}", f"sy{tag}a", f"sy{tag}b", f"{prefix}{host + 1}", f"{prefix}{host + 2}"
        )
        _ip("netns", "add", space.name)
        try:
            _ip("link", "add", space.outside, "type", "veth", "peer", "name", space.inside)
            _ip("link", "set", space.inside, "netns", space.name)
            _ip("addr", "add", f"{space.gateway}/30", "dev", space.outside)
            _ip("link", "set", space.outside, "up")
            _ip("addr", "add", f"{space.address}/30", "dev", space.inside, namespace=space.name)
            _ip("link", "set", space.inside, "up", namespace=space.name)
            _ip("link", "set", "lo", "up", namespace=space.name)
        except OSError:
            space.close()
            raise
        return space

    @property
    def run(self) -> tuple[str, ...]:
        """The prefix that runs a command in the namespace."""
        return ("ip", "netns", "exec", self.name)

    def silence(self) -> None:
        """Drop every packet between this host and the namespace, both ways, silently."""
        for address, device, namespace in self._neighbours():
            lladdr = ("lladdr", NOBODY, "nud", "permanent")
            _ip("neigh", "replace", address, *lladdr, "dev", device, namespace=namespace)

    def restore(self) -> None:
        """Let packets through again: the neighbours are looked up afresh (ARP)."""
        for address, device, namespace in self._neighbours():
            _ip("neigh", "del", address, "dev", device, namespace=namespace)

    def _neighbours(self) -> list[tuple[str, str, str | None]]:
        """Each side's entry for the other: (address, device, namespace)."""
        return [(self.address, self.outside, None), (self.gateway, self.inside, self.name)]

    def restore_quietly(self) -> None:
        """`restore`, for a test's end, whether or not the link was silenced."""
        for address, device, namespace in self._neighbours():
            with contextlib.suppress(OSError):
                _ip("neigh", "del", address, "dev", device, namespace=namespace)

    def close(self) -> None:
        # Deleting one end of a veth pair deletes both; the namespace goes with its
        # last process.
        subprocess.run(["ip", "link", "del", self.outside], capture_output=True, timeout=10)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, timeout=10)

    def __enter__(self) -> Namespace:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
