"""A bare twisted.web ``Site`` answering "hello": the peer fakeorigin is measured against.

``/hang`` never answers (``NOT_DONE_YET``): the held-connection memory peer of the ``hang``
profile. By default this is Twisted's default ``Site``, which formats an access-log line per
request; ``--no-access-log`` switches that off (fakeorigin has none). Prints one JSON line,
``{"url": "http://127.0.0.1:PORT"}``, once listening; stops on SIGTERM.
"""

from __future__ import annotations

import argparse

import twisted_listen
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request, Site


class Hello(Resource):
    isLeaf = True  # noqa: N815 (Twisted API)

    def render_GET(self, request: Request) -> bytes | int:  # noqa: N802 (Twisted API)
        if request.path == b"/hang":
            return NOT_DONE_YET
        request.setHeader(b"content-type", b"text/plain")  # type: ignore[no-untyped-call]
        return b"hello"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backlog", type=int, default=1024)
    parser.add_argument("--no-access-log", action="store_true")
    args = parser.parse_args()
    site = Site(Hello())  # type: ignore[no-untyped-call]
    if args.no_access_log:
        site.log = lambda request: None  # type: ignore[method-assign]
    twisted_listen.serve(site, args.backlog)


if __name__ == "__main__":
    main()
