"""``scanflow datasets``: list the bundled data and corruptions, corrupt image files.

    scanflow datasets list [--json]
    scanflow datasets corrupt --corruption fog --input mnist:test --output fog.npy [--seed 0]
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from .common import fail

app = typer.Typer(help="Datasets and MNIST-C corruptions.", no_args_is_help=True)

_DESCRIPTIONS = {
    "shot_noise": "Poisson noise (3 photons per unit)",
    "impulse_noise": "salt & pepper on 17 % of pixels",
    "glass_blur": "blur + local pixel swaps",
    "motion_blur": "motion blur, radius 10, sigma 3, random angle",
    "shear": "shear 0.4 rad, random sign",
    "scale": "zoom out to 70 %",
    "rotate": "rotation 0.4 rad, random sign",
    "brightness": "+0.5 brightness",
    "translate": "shift 3 px in x and y",
    "stripe": "invert the 7 outer columns on each side",
    "fog": "plasma-fractal fog",
    "spatter": "mud spatter",
    "dotted_line": "dashed line across the digit",
    "zigzag": "zig-zag line across the digit",
    "canny_edges": "Canny edge map",
}


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the corruptions and the bundled datasets."""
    # lazy: scanflow.datasets loads SciPy, which the other commands skip
    from scanflow.datasets import CORRUPTIONS, PACKAGED_DATA

    datasets = [{"name": name, "what": what} for name, what in PACKAGED_DATA.items()]
    if as_json:
        typer.echo(json.dumps({"corruptions": list(CORRUPTIONS), "datasets": datasets}))
        return

    console = Console()
    corruptions_table = Table(title="MNIST-C corruptions (scanflow datasets corrupt --corruption NAME)")
    corruptions_table.add_column("name")
    corruptions_table.add_column("what")
    for name in CORRUPTIONS:
        corruptions_table.add_row(name, _DESCRIPTIONS.get(name, ""))
    console.print(corruptions_table)
    datasets_table = Table(title="Packaged data (any command's DATA: --data, --input, ...)")
    for col in ("name", "what"):
        datasets_table.add_column(col)
    for row in datasets:
        datasets_table.add_row(row["name"], row["what"])
    console.print(datasets_table)


@app.command()
def corrupt(
    corruption: str = typer.Option(..., "--corruption", "-c", help="Corruption name."),
    input: str = typer.Option(..., "--input", "-i", metavar="DATA",
                              help="uint8 images (n, 28, 28): .npy, .npz (X, optional y), IDX, "
                                   "or packaged data (mnist:train, mnist:test)."),
    output: Path = typer.Option(..., "--output", "-o", metavar="FILE", help=".npy (images) or .npz (X, y)."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same output)."),
    limit: int | None = typer.Option(None, "--limit", help="Use the first N images only."),
) -> None:
    """Apply one MNIST-C corruption to a file of images."""
    # lazy: scanflow.datasets loads SciPy, which the other commands skip
    from scanflow.datasets import (
        CORRUPTIONS,
        CorruptionError,
        DatasetError,
        load_any,
        save_array,
    )

    # lazy: scanflow.datasets loads SciPy, which the other commands skip
    from scanflow.datasets import corrupt as corrupt_images

    if corruption not in CORRUPTIONS:
        fail(f"unknown corruption {corruption!r}; choose one of {', '.join(CORRUPTIONS)}")
    try:
        X, y = load_any(input)
        if limit is not None:
            X, y = X[:limit], None if y is None else y[:limit]
        out = corrupt_images(X, corruption, seed=seed)
        if output.suffix == ".npz":
            save_array(output, out, y, corruption=corruption, seed=seed)
        else:
            save_array(output, out)
    except (DatasetError, CorruptionError) as exc:
        fail(exc)
    Console(stderr=True).print(f"{len(out)} images corrupted with {corruption} (seed {seed}) "
                               f"-> {output}")
