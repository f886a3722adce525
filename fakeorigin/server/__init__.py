"""Wiring: listening endpoints, ``--tls``, the process's descriptor limit, the collector's
schedule, logging, and ``fakeorigin serve`` itself."""
