"""The HTTP/1.1 edge: a Twisted protocol that parses requests with h11, runs the engine's
actions with an injected clock, and frames its messages into HTTP/1.1 bytes."""
