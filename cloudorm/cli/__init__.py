"""The ``cloudorm`` command: ``serve`` runs the local cloud; ``health``, ``reset``, ``ls``, ``invoke`` and ``logs``
talk to a running one. Each command is a module of this package with an ``add(commands)`` function registering its
parser (and, with ``set_defaults(run=...)``, what runs it); ``COMMANDS`` lists them."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from cloudorm.about import version
from cloudorm.cli import admin, invoke, logs, ls, serve
from cloudorm.errors import CloudError

COMMANDS: tuple[Callable[[Any], None], ...] = (serve.add, admin.add_health, admin.add_reset, ls.add, invoke.add,
                                                 logs.add)
"""What registers each command's parser, in the order ``cloudorm --help`` lists them."""


class Parser(argparse.ArgumentParser):
    """argparse's parser with usage errors in one line (exit code 2)."""

    def error(self, message: str) -> NoReturn:
        """Print ``message`` in one line on stderr and exit with code 2."""
        self.exit(2, f"{self.prog}: {message} (see '{self.prog} --help')\n")


def one_line(error: BaseException) -> str:
    """An error's message on one line."""
    return " ".join(str(error).split()) or type(error).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cloudorm`` console script (and of ``python -m cloudorm``): the command's exit code."""
    parser = Parser(prog="cloudorm", description="cloudorm command line: run the local cloud and look into it")
    parser.add_argument("--version", action="version", version=f"cloudorm {version()}",
                        help="print cloudorm's version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS:
        add(commands)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        code: int = args.run(args)
    except CloudError as e:
        print(f"cloudorm {args.command}: {one_line(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code
