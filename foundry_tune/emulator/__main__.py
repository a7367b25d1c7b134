"""``python -m foundry_tune.emulator``: the same as ``foundry-tune emulator``."""

from __future__ import annotations

import argparse
import sys

from foundry_tune.emulator._options import add_arguments, check


def main(argv: list[str] | None = None) -> int:
    """Parse the options and serve until stopped."""
    parser = argparse.ArgumentParser(
        prog="python -m foundry_tune.emulator", description="Local Foundry fine-tuning emulator."
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    check(parser, args)
    from foundry_tune.emulator._server import run

    return run(args)


if __name__ == "__main__":
    sys.exit(main())
