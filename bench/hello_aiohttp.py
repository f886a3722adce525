"""An aiohttp "hello" server (no access log): the faster peer in the throughput table.

``/hang`` never answers: the held-connection memory peer of the ``hang`` profile. Prints one
JSON line, ``{"url": "http://127.0.0.1:PORT"}``, once listening; stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import benchlib
from aiohttp import web


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="hello")


async def hang(request: web.Request) -> web.Response:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


async def serve(backlog: int) -> None:
    app = web.Application()
    app.router.add_get("/", hello)
    app.router.add_get("/hang", hang)
    # shutdown_timeout: on SIGTERM, held /hang requests are dropped, not waited for (60 s).
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=backlog)
    await site.start()
    server = site._server  # the bound port is only there
    assert isinstance(server, asyncio.Server)
    port = server.sockets[0].getsockname()[1]
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    benchlib.ready({"url": f"http://127.0.0.1:{port}"})
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backlog", type=int, default=1024)
    args = parser.parse_args()
    benchlib.raise_file_limit()
    asyncio.run(serve(args.backlog))


if __name__ == "__main__":
    main()
