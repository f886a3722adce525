"""``python -m fakeorigin`` and the ``fakeorigin`` command.

The collector is off while the modules and the profiles load (tens of thousands of objects
that live as long as the process; collecting them is a tenth of start-up); ``serve`` runs it
on its own schedule, with those objects frozen, once it listens
(:mod:`fakeorigin.server.collector`).

pydantic's plugins are not loaded in this process unless ``PYDANTIC_DISABLE_PLUGINS`` says
otherwise: looking for them reads the entry points of every installed distribution, 25-30 ms
of start-up in a development environment, for plugins fakeorigin does not use.

twisted.web's own HTTP/2 (``twisted.web._http2``, which ``twisted.web.http`` imports when h2
is installed) is not loaded in this process: the control API is the only twisted.web server
here and speaks HTTP/1.1 (over TLS it offers ``http/1.1`` alone in ALPN), and fakeorigin's
own HTTP/2 (:mod:`fakeorigin.http2`) imports h2 at its first HTTP/2 connection. Loading it
cost about 8 ms of start-up with the control API (h2, hpack and hyperframe with it). A
``None`` in ``sys.modules`` is Python's way to make an import fail (ImportError), which
twisted.web.http expects when h2 is absent.
"""

import gc
import os
import sys


def main() -> None:
    """Console-script entry point."""
    gc.disable()
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    sys.modules.setdefault("twisted.web._http2", None)  # type: ignore[arg-type]
    from fakeorigin.cli import run  # noqa: PLC0415 (after gc.disable)

    run()


if __name__ == "__main__":
    main()
