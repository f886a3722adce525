"""The libraries ``fakeorigin serve`` stands on, loaded as it loads them, and no fakeorigin.

The floor of fakeorigin's start-up with the control API: Twisted's reactor and endpoints,
h11, PyYAML (one document read with its C loader), pydantic (one model defined and one
document validated, so its validator is built), Klein on twisted.web answering
``GET /health`` with JSON, and a bare Twisted ``Protocol`` answering every request head with
a canned 200 on a second port. As ``python -m fakeorigin`` does, the collector is off while
they load, pydantic's plugins are not looked for and twisted.web's HTTP/2 is not loaded.
Prints fakeorigin's announce line (``{"origin": [URL], "control": URL}``); stops on SIGTERM.
Bench part 2 times it as it times fakeorigin: the difference is fakeorigin's own start-up.
"""

import gc
import os
import sys

gc.disable()
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
sys.modules.setdefault("twisted.web._http2", None)  # type: ignore[arg-type]

import benchlib  # noqa: E402
import h11  # noqa: E402, F401 (loaded, as fakeorigin's HTTP/1.1 edge loads it)
import yaml  # noqa: E402
from hello_protocol import Canned  # noqa: E402 (the bare Protocol peer's canned 200)
from klein import Klein  # noqa: E402
from pydantic import BaseModel, Field  # noqa: E402
from twisted.internet import reactor  # noqa: E402
from twisted.internet.address import IPv4Address  # noqa: E402
from twisted.internet.protocol import Factory  # noqa: E402
from twisted.web.server import Request, Site  # noqa: E402


class Health(BaseModel):
    status: str
    uptime_seconds: float = Field(ge=0)


app = Klein()


@app.route("/health", methods=["GET"])
def health(request: Request) -> bytes:
    request.setHeader(b"content-type", b"application/json")
    return Health(status="ok", uptime_seconds=0.0).model_dump_json().encode("utf-8")


def main() -> None:
    document = yaml.load("name: plain\nsteps:\n  - respond: {status: 200}\n", yaml.CSafeLoader)
    Health.model_validate({"status": document["name"], "uptime_seconds": 1.0})
    urls = []
    for factory in (Factory.forProtocol(Canned), Site(app.resource())):
        factory.noisy = False
        address = reactor.listenTCP(0, factory, interface="127.0.0.1").getHost()
        assert isinstance(address, IPv4Address)
        urls.append(f"http://127.0.0.1:{address.port}")
    benchlib.ready({"origin": [urls[0]], "control": urls[1]})
    reactor.run()


if __name__ == "__main__":
    main()
