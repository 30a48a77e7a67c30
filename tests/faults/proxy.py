"""A TCP proxy between syncd and PostgreSQL that breaks the network on demand.

    proxy = Proxy("127.0.0.1", 5432)        # listens on 127.0.0.1:proxy.port (or `listen`)
    proxy.freeze(client_port)               # one connection stops forwarding, stays open
    proxy.cut(refuse=True)                  # every connection reset, new ones refused
    proxy.cut(refuse=False)                 # ... or accepted and reset at once
    proxy.lose_reply(job_id.bytes)          # the next answer holding it is lost: reset
    proxy.restore()

A frozen connection is the half-open case: neither side learns anything from TCP
(both kernels still acknowledge), bytes simply stop arriving. Connections are named
by the port of their upstream side, which PostgreSQL reports as
`pg_stat_activity.client_port`, so a test can pick out syncd's listener.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from tests.faults.background import Background

# The protocol's ReadyForQuery message ('Z', length 5): the server is done with the
# statement, its implicit transaction committed.
READY_FOR_QUERY = b"Z\x00\x00\x00\x05"


@dataclass(eq=False)
class Link:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    upstream_port: int
    flowing: asyncio.Event = field(default_factory=asyncio.Event)

    def close(self) -> None:
        for writer in (self.client, self.upstream):
            writer.transport.abort()


class Proxy:
    def __init__(self, host: str, port: int, listen: str = "127.0.0.1") -> None:
        self.target = (host, port)
        self.host = listen
        self.port = 0
        self.links: list[Link] = []
        self._dropping = False
        self._losing: bytes | None = None
        self._server: asyncio.Server | None = None
        self._background = Background("proxy")
        self._background.run(self._listen())

    def url(self, url: str) -> str:
        """`url` with its host and port replaced by the proxy's."""
        parts = urlsplit(url)
        user = parts.netloc.rpartition("@")[0]
        address = f"{self.host}:{self.port}"
        netloc = f"{user}@{address}" if user else address
        return urlunsplit(parts._replace(netloc=netloc))

    # -- faults ----------------------------------------------------------------

    def freeze(self, upstream_port: int) -> None:
        """Stop forwarding on one connection, in both directions, without closing it."""

        def freeze() -> None:
            matching = [link for link in self.links if link.upstream_port == upstream_port]
            assert matching, f"no proxied connection has upstream port {upstream_port}"
            for link in matching:
                link.flowing.clear()

        self._background.call(freeze)

    def lose_reply(self, containing: bytes) -> None:
        """The next answer from the server that holds `containing` is never delivered:
        its connection is reset instead, once the answer's ReadyForQuery shows that
        the server finished (committed) the statement. The lost reply of a commit."""

        def arm() -> None:
            self._losing = containing

        self._background.call(arm)

    def cut(self, *, refuse: bool) -> None:
        """Reset every connection; refuse new ones (`refuse`) or reset them on accept."""
        self._background.run(self._cut(refuse))

    def restore(self) -> None:
        self._background.run(self._restore())

    def close(self) -> None:
        self._background.run(self._cut(refuse=True))
        self._background.close()

    # -- inside the proxy's loop ---------------------------------------------------

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, self.host, self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _cut(self, refuse: bool) -> None:
        self._dropping = True
        if refuse and self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        elif not refuse and self._server is None:
            await self._listen()
        for link in self.links:
            link.close()
            link.flowing.set()  # a frozen pump wakes up to find its sockets gone
        self.links.clear()

    async def _restore(self) -> None:
        self._dropping = False
        if self._server is None:
            await self._listen()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._dropping:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        link = Link(writer, up_writer, up_writer.get_extra_info("sockname")[1])
        link.flowing.set()
        self.links.append(link)
        await asyncio.gather(
            self._pump(link, reader, up_writer),
            self._pump(link, up_reader, writer, replies=True),
        )

    async def _pump(
        self,
        link: Link,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        replies: bool = False,
    ) -> None:
        withheld = b""
        try:
            while data := await reader.read(65536):
                await link.flowing.wait()  # frozen: hold the bytes, keep the socket
                if replies and self._losing is not None and (withheld or self._losing in data):
                    withheld += data
                    if READY_FOR_QUERY in withheld[withheld.index(self._losing) :]:
                        self._losing = None
                        break  # the answer is lost with its connection
                    continue
                writer.write(data)
                await writer.drain()
        except (OSError, ConnectionError):
            pass
        if link.flowing.is_set():
            link.close()
            with contextlib.suppress(ValueError):
                self.links.remove(link)
