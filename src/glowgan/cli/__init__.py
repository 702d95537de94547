"""The ``glowgan`` command line: the only code that reads argv.

Each submodule that defines ``register(commands)`` adds its commands to the shared parser (they are
found by name, so a new command is a new module) and stays a thin adapter over importable functions. Errors that come from bad input (``ValueError``, ``OSError``, including
``glowgan.hdrio.ImageIOError``) are printed as one line and exit with status 2; set
``GLOWGAN_DEBUG=1`` to see the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
from collections.abc import Sequence

from glowgan import __version__

# Options whose value may start with '-' (e.g. "--stops -4,-2,0"), which argparse would take for a flag.
_DASHED_VALUE_OPTIONS = ("--stops",)

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="glowgan",
        description=(
            "Learn HDR image generators from collections of ordinary LDR photos (GlowGAN), "
            "generate HDR images, and inspect HDR files."
        ),
    )
    parser.add_argument("--version", action="version", version=f"glowgan {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="print debug-level log messages")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _command_modules():
        module.register(commands)
    return parser


def _command_modules() -> list:
    """Every ``glowgan.cli.<name>`` module with a ``register`` function, in alphabetical order."""
    modules = [importlib.import_module(f"{__name__}.{info.name}") for info in pkgutil.iter_modules(__path__)]
    return [module for module in modules if hasattr(module, "register")]


def _join_dashed_values(argv: list[str]) -> list[str]:
    """Turn ``--stops -4,-2`` into ``--stops=-4,-2`` so argparse accepts a value that starts with '-'."""
    joined: list[str] = []
    index = 0
    while index < len(argv):
        token = argv[index]
        if token in _DASHED_VALUE_OPTIONS and index + 1 < len(argv) and argv[index + 1].startswith("-"):
            joined.append(f"{token}={argv[index + 1]}")
            index += 2
            continue
        joined.append(token)
        index += 1
    return joined


def main(argv: Sequence[str] | None = None) -> int:
    argv = _join_dashed_values(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError) as error:
        if os.environ.get("GLOWGAN_DEBUG"):
            raise
        print(f"glowgan {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"glowgan {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
