"""fakeorigin: a programmable HTTP/1.1 origin server for testing proxies, CDNs and clients.

The package is split so that the wire, the profile model, the engine and the journal import no
Twisted (see ``docs/architecture.md``); Twisted lives in :mod:`fakeorigin.http1.protocol`,
:mod:`fakeorigin.server.listen` and the ``serve`` command of :mod:`fakeorigin.cli`.
"""

__version__ = "0.1.0"
