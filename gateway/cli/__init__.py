"""``gbagw``: the gateway's command line, one module per command group."""

from __future__ import annotations

import typer

from gateway.cli import applications, devkit
from gateway.cli.demo import demo
from gateway.cli.mappings import mappings_app
from gateway.cli.verify import verify
from signing.cli import keys_app

app = typer.Typer(no_args_is_help=True, help="Guangdong–HK–Macao cross-boundary case gateway.")
applications.register(app)
app.command()(verify)
app.command()(demo)
devkit.register(app)
app.add_typer(mappings_app, name="mappings")
app.add_typer(keys_app, name="keys", help="Development keys, agency certificates, rotation.")
