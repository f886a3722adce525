"""``python -m fakeorigin`` and the ``fakeorigin`` command.

The collector is off while the modules and the profiles load (tens of thousands of objects
that live as long as the process; collecting them is a tenth of start-up); ``serve`` runs it
on its own schedule, with those objects frozen, once it listens
(:mod:`fakeorigin.server.collector`).

pydantic's plugins are not loaded in this process unless ``PYDANTIC_DISABLE_PLUGINS`` says
otherwise: looking for them reads the entry points of every installed distribution, 25-30 ms
of start-up in a development environment, for plugins fakeorigin does not use.
"""

import gc
import os


def main() -> None:
    """Console-script entry point."""
    gc.disable()
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    from fakeorigin.cli import run  # noqa: PLC0415 (after gc.disable)

    run()


if __name__ == "__main__":
    main()
