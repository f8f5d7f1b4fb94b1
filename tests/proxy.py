"""A TCP proxy a test can cut, make deaf, blackhole or shut, to break a socket the way a network does."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter

from tests.support import free_port


class CuttableProxy:
    """Forwards to ``target_port``; given more ports, it balances new connections over them in turn,
    skipping a target that refuses (a process restarting), as a load balancer would."""

    def __init__(self, target_port: int, *more_ports: int) -> None:
        self.target_ports = [target_port, *more_ports]
        self._turn = 0
        self.port = free_port()
        # While set, what the server sends is swallowed: requests arrive, answers are lost.
        self.deaf = False
        # Seconds each chunk the client sends waits before it goes on (a slow uplink, a loaded
        # client): its frames reach the server that much later, the server's come back at once.
        self.upstream_delay_s = 0.0
        # While set, new connections are closed at once, as by a host whose service is down.
        self.refusing = False
        # Cleared while blackholed: nothing moves either way and new connections hang, yet no
        # socket closes. Connections open across a blackhole stay dead after it, as when the host
        # behind rebooted or a firewall forgot the flow: only a peer that notices the silence and
        # reconnects gets through again.
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._generation = 0
        self._stopped = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        # Connections open through the proxy, by the target port each was sent to.
        self._open: Counter[int] = Counter()

    def open_to(self, port: int) -> int:
        """How many connections through the proxy are open to the target ``port`` now."""
        return self._open[port]

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    async def start(self) -> None:
        # A balancer's accept queue (nginx: 511, here the kernel's somaxconn), not asyncio's 100:
        # a crowd reconnecting at once would otherwise wait on SYN retries at the test proxy.
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, backlog=4096)

    async def stop(self) -> None:
        self._stopped.set()
        self.restore()
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def cut(self) -> None:
        """Drop every open connection at once, as a lost network would, and hear again."""
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        self.deaf = False

    def blackhole(self) -> None:
        """Go silent both ways without closing anything (a dead switch, a dropped route)."""
        self._generation += 1
        self._flowing.clear()

    def restore(self) -> None:
        self._flowing.set()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        await self._flowing.wait()
        if self.refusing or writer.transport.is_closing():
            writer.transport.abort()
            return
        try:
            port, up_reader, up_writer = await self._connect_upstream()
        except OSError:
            writer.transport.abort()  # the service behind is down: so is the connection
            return
        self._writers.add(up_writer)
        generation = self._generation
        self._open[port] += 1
        try:
            await asyncio.gather(
                self._pump(reader, up_writer, generation, downstream=False),
                self._pump(up_reader, writer, generation, downstream=True),
                return_exceptions=True,
            )
        finally:
            self._open[port] -= 1

    async def _connect_upstream(self) -> tuple[int, asyncio.StreamReader, asyncio.StreamWriter]:
        # Each connection's own order, from its turn on: with a turn shared across the awaits,
        # connections accepted together took each other's next target and could try the refusing
        # one twice ("no target accepts": about 1,000 failed handshakes per 2,000-client restart).
        first = self._turn
        self._turn += 1
        for step in range(len(self.target_ports)):
            port = self.target_ports[(first + step) % len(self.target_ports)]
            try:
                return port, *await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                continue
        raise ConnectionRefusedError(f"no target accepts: {self.target_ports}")

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, generation: int, *, downstream: bool
    ) -> None:
        try:
            while data := await reader.read(65536):
                await self._flowing.wait()
                if generation != self._generation:
                    await self._stopped.wait()  # a flow from before the blackhole: dead for good
                    return
                if downstream and self.deaf:
                    continue
                if not downstream and self.upstream_delay_s:
                    await asyncio.sleep(self.upstream_delay_s)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.transport.abort()
