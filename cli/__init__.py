"""The ``rsdet`` command-line interface (a thin typer layer over ``rsdet.pipelines``)."""
