"""``gbagw``: the gateway's command line, one module per command group.

Help is plain text (no rich boxes): it reads the same in a terminal, a pipe and a log, and
flags show as flags. :func:`main` is the console entry point: whatever goes wrong, a user sees
one line and an exit code, never a traceback.
"""

from __future__ import annotations

import sys

import typer

from gateway.cli import applications, clients, devkit, inbound, service, supplements
from gateway.cli.agencies import agencies_app
from gateway.cli.calendars import calendars_app
from gateway.cli.common import CONFIG, INTERNAL, err
from gateway.cli.demo import demo
from gateway.cli.mappings import mappings_app
from gateway.cli.operators import cases_app, outbox_app
from gateway.cli.text import text_app
from gateway.cli.verify import verify
from gateway.config import SettingsInvalid, settings
from gateway.privacy.keyring import key_error_in
from gateway.privacy.masking import configure_logging
from signing.cli import keys_app

app = typer.Typer(
    no_args_is_help=True,
    help="Guangdong–HK–Macao cross-boundary case gateway.",
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
applications.register(app)
app.command()(verify)
app.command()(demo)
devkit.register(app)
service.register(app)
supplements.register(app)
inbound.register(app)
clients.register(app)
for group in (
    mappings_app,
    keys_app,
    agencies_app,
    cases_app,
    outbox_app,
    text_app,
    calendars_app,
    service.db_app,
):
    group.rich_markup_mode = None
    group.pretty_exceptions_enable = False
app.add_typer(mappings_app, name="mappings")
app.add_typer(agencies_app, name="agencies")
app.add_typer(cases_app, name="cases")
app.add_typer(outbox_app, name="outbox")
app.add_typer(text_app, name="text")
app.add_typer(calendars_app, name="calendars")
app.add_typer(keys_app, name="keys", help="Development keys, agency certificates, rotation.")


def main() -> None:
    """Run ``gbagw``; an unexpected error is one line on stderr and exit code 4."""
    try:
        configure_logging(settings().log_level)  # personal data masked in every log
        app()
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.exit(130)
    except SettingsInvalid as exc:  # a GBAGW_* variable: configuration, named, value unsaid
        err.print(f"error {exc}", markup=False)
        sys.exit(CONFIG)
    except Exception as exc:  # noqa: BLE001 - the last line of defence before a user's terminal
        key_problem = key_error_in(exc)
        if key_problem is not None:  # missing or wrong data keys: configuration, not a bug
            err.print(f"error {key_problem}", markup=False)
            sys.exit(CONFIG)
        err.print(f"internal error: {type(exc).__name__}: {exc}", markup=False)
        sys.exit(INTERNAL)
