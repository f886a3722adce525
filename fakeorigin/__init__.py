"""fakeorigin: a programmable HTTP/1.1 origin server for testing proxies, CDNs and clients.

The folders are the layers (``docs/architecture.md``): :mod:`fakeorigin.core` (the wire
values, the profile model, the engine, the catalogue, the journal, the state: no Twisted, no
I/O); one package per protocol edge (:mod:`fakeorigin.http1`, :mod:`fakeorigin.websocket`)
with what they share of Twisted's transports (:mod:`fakeorigin.transport`);
:mod:`fakeorigin.control` (the control API, its models, document and client);
:mod:`fakeorigin.server` (wiring: listening, TLS, ``serve``); :mod:`fakeorigin.testing` (the
pytest plugin and its helpers); :mod:`fakeorigin.docgen` (the generated documents); and
:mod:`fakeorigin.cli`, the command.
"""

__version__ = "0.1.0"
