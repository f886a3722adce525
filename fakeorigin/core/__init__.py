"""The pure core: wire values, the profile model and its loader, the engine, the violation
catalogue, the journal and the origin's state. Nothing here imports Twisted or does I/O
beyond reading profile files: (profile, request) -> message-level actions, tested in memory
with exact bytes (docs/architecture.md)."""
