"""``gbagw mappings …``: what integration engineers run after editing a mapping file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from gateway.catalogue.loader import Catalogue, CatalogueError
from gateway.cli.common import CONFIG, REJECTED, USAGE, CatalogueOpt, err, out
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

    if directory is not None and not directory.is_dir():  # missing input: 2, like any other
        why = "Not a directory" if directory.exists() else "No such file or directory"
        err.print(f"error cannot read {directory}: {why}", markup=False)
        raise typer.Exit(USAGE)
    try:
        cat = Catalogue.load(catalogue)
    except CatalogueError as exc:
        err.print(f"[red]catalogue:[/red] {escape(str(exc))}")
        raise typer.Exit(CONFIG) from None
    mappings, problems = check_directory(cat, installed_formats(), directory)
    for p in problems:
        err.print(f"[red]error[/red] {escape(str(p))}", highlight=False)
    for m in mappings:
        said = escape(f"{m.mapping}.yaml (v{m.version}, {m.agency}, {m.service.code})")
        out.print(f"[green]ok[/green] {said}")
    if problems:
        raise typer.Exit(REJECTED)
