"""``python -m fakeorigin`` and the ``fakeorigin`` command.

The collector is off while the modules and the profiles load (tens of thousands of objects
that live as long as the process; collecting them is a tenth of start-up); ``serve`` turns
it back on, with those objects frozen, once it listens.
"""

import gc


def main() -> None:
    """Console-script entry point."""
    gc.disable()
    from fakeorigin.cli import run  # noqa: PLC0415 (after gc.disable)

    run()


if __name__ == "__main__":
    main()
