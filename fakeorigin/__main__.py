"""``python -m fakeorigin``: the same as the ``fakeorigin`` command."""

from fakeorigin.cli import run

run()
