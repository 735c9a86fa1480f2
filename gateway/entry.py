"""The ``gbagw`` console script: imports the CLI inside the guard.

Importing the CLI takes a moment (pydantic models, schemas); a Ctrl-C in that moment must end
the command quietly like any other, not with a traceback from the middle of an import.
"""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from gateway.cli import main as cli_main
    except KeyboardInterrupt:
        sys.exit(130)
    cli_main()
