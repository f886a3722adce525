"""twisted.web's own HTTP/2 answering "hello", over TLS (twisted.web offers HTTP/2 only through
ALPN): the HTTP/2 peer of part 7. A certificate from a throwaway CA (trustme), as fakeorigin's
``--tls`` makes one. Prints ``{"url": "https://127.0.0.1:PORT"}`` once listening."""

from __future__ import annotations

import argparse
from typing import Any

import benchlib
import trustme
from OpenSSL import crypto
from twisted.internet import reactor
from twisted.internet.ssl import CertificateOptions
from twisted.web.resource import Resource
from twisted.web.server import Request, Site


class Hello(Resource):
    isLeaf = True  # noqa: N815 (Twisted API)

    def render_GET(self, request: Request) -> bytes:  # noqa: N802 (Twisted API)
        request.setHeader(b"content-type", b"text/plain")  # type: ignore[no-untyped-call]
        return b"hello"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backlog", type=int, default=1024)
    args = parser.parse_args()
    benchlib.raise_file_limit()
    ca = trustme.CA()
    issued = ca.issue_cert("localhost", "127.0.0.1")
    key = crypto.load_privatekey(crypto.FILETYPE_PEM, issued.private_key_pem.bytes())
    cert = crypto.load_certificate(crypto.FILETYPE_PEM, issued.cert_chain_pems[0].bytes())
    options = CertificateOptions(
        privateKey=key, certificate=cert, acceptableProtocols=[b"h2", b"http/1.1"]
    )
    site: Any = Site(Hello())  # type: ignore[no-untyped-call]
    listening: Any = reactor
    port = listening.listenSSL(0, site, options, backlog=args.backlog, interface="127.0.0.1")
    benchlib.ready({"url": f"https://127.0.0.1:{port.getHost().port}"})
    listening.run()


if __name__ == "__main__":
    main()
