"""A load generator for fakeorigin: N connections mixing the bundled profiles for S seconds.

Run as ``python -m tests.reliability.loadgen --port P --connections N --seconds S`` from the
repository root; it prints one JSON line: the requests sent per scenario, how many got
exactly what their profile sends, and the first unexpected results. Loopback only; bounded:
no request starts after ``--seconds``, each waits ``--request-timeout`` at most, and the run
is cancelled ``--request-timeout`` seconds after the last start.

Each worker holds one connection at a time and sends requests on it one after another, each
picking a scenario at random (weighted; seeded). A scenario whose profile ends the connection
(close, reset, lingering close, hang, WebSocket) ends it; the worker then opens a new one. The
server closes first in every scenario, so the client side leaves no TIME_WAIT behind.

Clients: h11 (client role) for HTTP, ``websockets`` for the WebSocket scenario, raw reads
where the profile breaks the response on purpose.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import socket
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import h11
from websockets.asyncio.client import connect as websocket_connect

HOST = "127.0.0.1"


class UnexpectedError(Exception):
    """What came back is not what the scenario's profile sends."""


@dataclass
class Connection:
    """One client connection: a non-blocking socket (asyncio's streams would drop the bytes
    that came before a reset) and h11's client state."""

    sock: socket.socket
    h11: h11.Connection = field(default_factory=lambda: h11.Connection(h11.CLIENT))

    async def send(self, data: bytes) -> None:
        await asyncio.get_running_loop().sock_sendall(self.sock, data)

    async def recv(self) -> bytes:
        return await asyncio.get_running_loop().sock_recv(self.sock, 65536)

    def close(self) -> None:
        self.sock.close()


@dataclass
class Reply:
    """A response as h11 parsed it."""

    interim: list[int]
    status: int
    body: bytes
    reusable: bool


@dataclass
class Run:
    """The shared state of one run."""

    port: int
    timeout: float
    max_duration: float
    rng: random.Random
    sent: Counter[str] = field(default_factory=Counter)
    ok: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    open_now: int = 0
    open_peak: int = 0
    opened: int = 0

    async def open(self) -> Connection:
        sock = socket.socket()
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, (HOST, self.port))
        except BaseException:
            sock.close()
            raise
        self.counted(1)
        return Connection(sock)

    def counted(self, change: int) -> None:
        if change > 0:
            self.opened += change
        self.open_now += change
        self.open_peak = max(self.open_peak, self.open_now)

    def closed(self, connection: Connection | None) -> None:
        if connection is not None:
            connection.close()
            self.counted(-1)


async def send(connection: Connection, *events: h11.Event) -> None:
    data = b"".join(connection.h11.send(event) or b"" for event in events)
    if data:
        await connection.send(data)


async def next_event(connection: Connection) -> h11.Event:
    while True:
        event = connection.h11.next_event()
        if event is h11.NEED_DATA:
            connection.h11.receive_data(await connection.recv())
            continue
        assert isinstance(event, h11.Event), event
        return event


def head(profile: str, *extra: tuple[str, str]) -> list[tuple[str, str]]:
    return [("Host", HOST), ("Fakeorigin-Profile", profile), *extra]


async def request(
    run: Run,
    connection: Connection,
    scenario: str,
    *,
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes = b"",
    wait_for_continue: bool = False,
) -> Reply:
    """One request with h11; the body after the 100 when ``wait_for_continue``."""
    if body:
        headers = [*headers, ("Content-Length", str(len(body)))]
    await send(connection, h11.Request(method=method, target=target, headers=headers))
    run.sent[scenario] += 1
    if not wait_for_continue:
        await send(connection, *([h11.Data(data=body)] if body else []), h11.EndOfMessage())
    interim: list[int] = []
    status, content = 0, bytearray()
    while True:
        event = await next_event(connection)
        if isinstance(event, h11.InformationalResponse):
            interim.append(event.status_code)
            if event.status_code == 100 and wait_for_continue:
                await send(connection, h11.Data(data=body), h11.EndOfMessage())
        elif isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            content += event.data
        elif isinstance(event, h11.EndOfMessage):
            break
    conn = connection.h11
    reusable = conn.our_state is h11.DONE and conn.their_state is h11.DONE
    if reusable:
        conn.start_next_cycle()
    return Reply(interim, status, bytes(content), reusable)


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise UnexpectedError(what)


# -- scenarios: each returns whether the connection can carry another request ---------------


async def echo_get(run: Run, connection: Connection, target: str) -> bool:
    reply = await request(
        run, connection, "echo-get", method="GET", target=target, headers=head("default")
    )
    expect(reply.status == 200 and reply.reusable, f"status {reply.status}")
    expect(json.loads(reply.body)["target"] == target, "echo of another request")
    return True


async def echo_post(run: Run, connection: Connection, target: str) -> bool:
    body = run.rng.randbytes(run.rng.randint(1, 8192))
    reply = await request(
        run,
        connection,
        "echo-post",
        method="POST",
        target=target,
        headers=head("default"),
        body=body,
    )
    expect(reply.status == 200, f"status {reply.status}")
    echoed = json.loads(reply.body)["body"]
    expect(echoed["length"] == len(body), "body length")
    expect(echoed["sha256"] == hashlib.sha256(body).hexdigest(), "body sha256")
    return reply.reusable


async def expect_continue(run: Run, connection: Connection, target: str) -> bool:
    headers = head("expect-continue", ("Expect", "100-continue"))
    body = run.rng.randbytes(4096)
    reply = await request(
        run,
        connection,
        "expect-continue",
        method="POST",
        target=target,
        headers=headers,
        body=body,
        wait_for_continue=True,
    )
    expect((reply.interim, reply.status) == ([100], 200), f"{reply.interim} {reply.status}")
    return reply.reusable


async def early_hints(run: Run, connection: Connection, target: str) -> bool:
    reply = await request(
        run, connection, "early-hints", method="GET", target=target, headers=head("early-hints")
    )
    expect((reply.interim, reply.status, reply.body) == ([103, 103], 200, b"hello\n"), "reply")
    return reply.reusable


async def slow_body(run: Run, connection: Connection, target: str) -> bool:
    reply = await request(
        run, connection, "slow-body", method="GET", target=target, headers=head("slow-body")
    )
    expect((reply.status, reply.body) == (200, b"0123456789abcdef" * 4), "reply")
    return reply.reusable


async def trickle(run: Run, connection: Connection, target: str) -> bool:
    headers = head("processing-trickle")
    reply = await request(run, connection, "trickle", method="GET", target=target, headers=headers)
    expect((reply.interim, reply.status, reply.body) == ([102] * 5, 200, b"done\n"), "reply")
    return reply.reusable


async def read_to_end(connection: Connection) -> tuple[bytes, str]:
    """Everything until the server ends the connection, and how: ``eof`` or ``reset``."""
    data = bytearray()
    try:
        while chunk := await connection.recv():
            data += chunk
    except ConnectionResetError:
        return bytes(data), "reset"
    return bytes(data), "eof"


async def raw(run: Run, connection: Connection, scenario: str, data: bytes) -> tuple[bytes, str]:
    await connection.send(data)
    run.sent[scenario] += 1
    return await read_to_end(connection)


def raw_get(target: str, profile: str) -> bytes:
    return (
        f"GET {target} HTTP/1.1\r\nHost: {HOST}\r\nFakeorigin-Profile: {profile}\r\n\r\n"
    ).encode()


async def expect_reject(run: Run, connection: Connection, target: str) -> bool:
    data = (
        f"POST {target} HTTP/1.1\r\nHost: {HOST}\r\nFakeorigin-Profile: expect-reject\r\n"
        "Expect: 100-continue\r\nContent-Length: 1000\r\n\r\n"
    ).encode()
    received, _ = await raw(run, connection, "expect-reject", data)  # lingering close: FIN
    expect(received.startswith(b"HTTP/1.1 417 Expectation Failed\r\n"), repr(received[:40]))
    expect(received.endswith(b"expectation failed\n"), "body")
    return False


async def final_early(run: Run, connection: Connection, target: str) -> bool:
    data = (
        f"POST {target} HTTP/1.1\r\nHost: {HOST}\r\nFakeorigin-Profile: expect-final-early\r\n"
        "Content-Length: 2000\r\n\r\n"
    ).encode() + b"u" * 500  # answered before the body is complete: a lingering close
    received, _ = await raw(run, connection, "final-early", data)
    expect(received.startswith(b"HTTP/1.1 413 Content Too Large\r\n"), repr(received[:40]))
    return False


async def close_mid_body(run: Run, connection: Connection, target: str) -> bool:
    received, how = await raw(run, connection, "close-mid-body", raw_get(target, "close-mid-body"))
    head_part, _, content = received.partition(b"\r\n\r\n")
    expect(b"Content-Length: 100" in head_part, "head")
    expect((len(content), how) == (50, "eof"), f"{len(content)} bytes, {how}")
    return False


async def reset_after_headers(run: Run, connection: Connection, target: str) -> bool:
    data = raw_get(target, "reset-after-headers")
    received, how = await raw(run, connection, "reset-after-headers", data)
    expect(received.startswith(b"HTTP/1.1 200 OK\r\n"), repr(received[:40]))
    expect(received.endswith(b"\r\n\r\n") and how == "reset", f"{how} after {len(received)}")
    return False


async def hang(run: Run, connection: Connection, target: str) -> bool:
    started = time.monotonic()
    received, how = await raw(run, connection, "hang", raw_get(target, "hang"))
    took = time.monotonic() - started
    expect((received, how) == (b"", "eof"), f"{received[:40]!r} {how}")
    expect(run.max_duration - 0.1 <= took <= run.max_duration + 2, f"closed after {took:.2f} s")
    return False


async def websocket(run: Run, connection: Connection | None, target: str) -> bool:
    """A WebSocket session on its own connection (``websockets`` opens it): three echoes."""
    run.sent["websocket-echo"] += 1
    url = f"ws://{HOST}:{run.port}{target}"
    headers = {"Fakeorigin-Profile": "websocket-echo"}
    run.counted(1)
    try:
        async with websocket_connect(
            url, additional_headers=headers, open_timeout=run.timeout
        ) as ws:
            for index in range(3):
                message = f"message {index} " + "x" * run.rng.randint(0, 2000)
                await ws.send(message)
                expect(await ws.recv() == message, "echo")
    finally:
        run.counted(-1)
    return False


Scenario = Callable[[Run, Any, str], Awaitable[bool]]

#: Every scenario, its weight in the mix, and the journal outcome of its exchange.
SCENARIOS: dict[str, tuple[Scenario, int, str]] = {
    "echo-get": (echo_get, 20, "keep-alive"),
    "echo-post": (echo_post, 10, "keep-alive"),
    "expect-continue": (expect_continue, 6, "keep-alive"),
    "early-hints": (early_hints, 10, "keep-alive"),
    "slow-body": (slow_body, 8, "keep-alive"),
    "trickle": (trickle, 2, "keep-alive"),
    "expect-reject": (expect_reject, 4, "closed"),
    "final-early": (final_early, 3, "closed"),
    "close-mid-body": (close_mid_body, 4, "closed"),
    "reset-after-headers": (reset_after_headers, 4, "reset"),
    "hang": (hang, 1, "max-duration"),
    "websocket-echo": (websocket, 4, "upgraded"),
}


@dataclass
class Start:
    """All workers connect first, then start together: the peak is every connection open."""

    total: int
    ready: int = 0
    event: asyncio.Event = field(default_factory=asyncio.Event)
    until: float = 0.0
    seconds: float = 0.0

    async def connected(self) -> None:
        self.ready += 1
        if self.ready == self.total:
            self.until = time.monotonic() + self.seconds
            self.event.set()
        await self.event.wait()


async def worker(run: Run, number: int, names: list[str], weights: list[int], start: Start) -> None:
    connection: Connection | None = None
    sequence = 0
    try:
        try:
            connection = await asyncio.wait_for(run.open(), run.timeout)
        except Exception as err:  # every failure is counted and shown
            run.unexpected.append(f"worker {number}: connect: {type(err).__name__}: {err}")
        await start.connected()
        while time.monotonic() < start.until:
            name = run.rng.choices(names, weights)[0]
            function = SCENARIOS[name][0]
            target = f"/load/{name}/{number}-{sequence}"
            sequence += 1
            try:
                if name == "websocket-echo":
                    run.closed(connection)
                    connection = None
                    reusable = await asyncio.wait_for(function(run, None, target), run.timeout)
                else:
                    connection = connection or await run.open()
                    reusable = await asyncio.wait_for(
                        function(run, connection, target), run.timeout
                    )
                run.ok[name] += 1
            except Exception as err:  # every failure is counted and shown
                run.unexpected.append(f"{target}: {type(err).__name__}: {err}"[:300])
                reusable = False
            if not reusable:
                run.closed(connection)
                connection = None
    finally:
        run.closed(connection)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    names = (
        [n for n in SCENARIOS if n in args.scenarios.split(",")]
        if args.scenarios
        else list(SCENARIOS)
    )
    weights = [SCENARIOS[n][1] for n in names]
    run = Run(args.port, args.request_timeout, args.max_duration, random.Random(args.seed))
    start = Start(args.connections, seconds=args.seconds)
    started = time.monotonic()
    workers = [worker(run, n, names, weights, start) for n in range(args.connections)]
    bound = args.seconds + 2 * args.request_timeout + 5
    try:
        await asyncio.wait_for(asyncio.gather(*workers), bound)
    except TimeoutError:
        run.unexpected.append("the run did not end in time")
    return {
        "connections": args.connections,
        "seconds": round(time.monotonic() - started, 3),
        "connect_seconds": round(start.until - args.seconds - started, 3),
        "sent": sum(run.sent.values()),
        "ok": sum(run.ok.values()),
        "by_scenario": {n: {"sent": run.sent[n], "ok": run.ok[n]} for n in names},
        "unexpected_count": len(run.unexpected),
        "unexpected": run.unexpected[:20],
        "connections_opened": run.opened,
        "open_peak": run.open_peak,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--max-duration", type=float, required=True, help="the server's")
    parser.add_argument("--request-timeout", type=float, default=15.0)
    parser.add_argument("--scenarios", default="", help="comma-separated; default all")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    summary = asyncio.run(main_async(args))
    sys.stdout.write(json.dumps(summary) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
