"""Command-line interface: thin Typer commands over the ``kb`` and ``psl`` libraries."""
