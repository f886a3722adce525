"""The HTTP/2 edge: a connection that speaks HTTP/2 (prior knowledge, or ALPN h2)."""
