"""The protocols an exchange can run over, by their ALPN ids (RFC 7301; RFC 9113 section 3.2).

Every step and every violation catalogue entry declares which of them can carry it: a step
made of messages (an interim response, a head, data, the end of a body) runs over any of
them, while bytes that only make sense in one protocol (a ``raw`` step, most catalogue
entries, a broken WebSocket handshake) run only over theirs. A profile runs over the
protocols that all of its steps can run over; a request that selects it over another one is
refused (:func:`fakeorigin.core.engine.run_exchange`).
"""

from __future__ import annotations

#: HTTP/1.1 (RFC 9112), over cleartext TCP or TLS.
HTTP1 = "http/1.1"
#: HTTP/2 (RFC 9113), over TLS (ALPN) or cleartext with prior knowledge.
H2 = "h2"
#: Every protocol, in the order ``fakeorigin check --protocols`` lists them.
PROTOCOLS = (HTTP1, H2)
ANY = frozenset(PROTOCOLS)
ONLY_HTTP1 = frozenset({HTTP1})
ONLY_H2 = frozenset({H2})
