"""What a TLS connection negotiated, for the journal: the TLS version, the SNI name the
client sent and the ALPN protocol agreed (RFC 7301). Read from Twisted's memory-BIO TLS
transport once its handshake is done."""

from __future__ import annotations

from typing import Any

#: A record's TLS facts: (version, SNI name, ALPN protocol), e.g. ("TLSv1.3", "localhost",
#: "http/1.1"); the last two None when the client sent none.
TlsFacts = tuple[str, str | None, str | None]


def tls_facts(transport: Any) -> TlsFacts | None:
    """The TLS version, SNI name and ALPN protocol of a TLS transport whose handshake is done;
    None for any other transport."""
    get_handle = getattr(transport, "getHandle", None)
    handle: Any = get_handle() if get_handle is not None else None
    version = getattr(handle, "get_protocol_version_name", None)
    if version is None:
        return None
    name = handle.get_servername()
    alpn = handle.get_alpn_proto_negotiated()
    return (
        str(version()),
        name.decode("idna") if name else None,
        alpn.decode("ascii") if alpn else None,
    )
