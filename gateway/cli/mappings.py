"""``gbagw mappings …``: what integration engineers run after editing a mapping file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gateway.catalogue.loader import Catalogue, CatalogueError
from gateway.cli.common import CatalogueOpt, err, out
from gateway.mappings.engine import check_directory

mappings_app = typer.Typer(no_args_is_help=True, help="Mapping files (mappings/*.yaml).")


@mappings_app.command("validate")
def mappings_validate(
    directory: Annotated[
        Path | None, typer.Argument(help="Mapping directory (default: the bundled mappings).")
    ] = None,
    catalogue: CatalogueOpt = None,
) -> None:
    """Check every mapping against its schema, its item versions and its agency format."""
    from gateway.registry import installed_formats

    try:
        cat = Catalogue.load(catalogue)
    except CatalogueError as exc:
        err.print(f"[red]catalogue:[/red] {exc}")
        raise typer.Exit(3) from None
    mappings, problems = check_directory(cat, installed_formats(), directory)
    for p in problems:
        err.print(f"[red]error[/red] {p}", highlight=False)
    for m in mappings:
        out.print(
            f"[green]ok[/green] {m.mapping}.yaml (v{m.version}, {m.agency}, {m.service.code})"
        )
    if problems:
        raise typer.Exit(1)
