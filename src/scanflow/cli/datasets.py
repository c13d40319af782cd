"""``scanflow datasets``: list the bundled data and corruptions, corrupt image files.

    scanflow datasets list [--json]
    scanflow datasets corrupt --corruption fog --input digits.npy --output fog.npy [--seed 0]

The lead mounts ``app`` on the root CLI with ``app.add_typer(datasets.app, name="datasets")``.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

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
    from scanflow.datasets import CORRUPTIONS

    datasets = [
        {"name": "mnist:train", "images": 6000, "note": "training sample + half of t10k"},
        {"name": "mnist:test", "images": 5000, "note": "the other half of t10k"},
    ]
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
    datasets_table = Table(title="Bundled datasets (scanflow.datasets.load_mnist)")
    for col in ("name", "images", "note"):
        datasets_table.add_column(col)
    for row in datasets:
        datasets_table.add_row(row["name"], str(row["images"]), row["note"])
    console.print(datasets_table)


@app.command()
def corrupt(
    corruption: str = typer.Option(..., "--corruption", "-c", help="Corruption name."),
    input: Path = typer.Option(..., "--input", "-i", help="uint8 images (n, 28, 28): .npy, "
                               ".npz (X, optional y) or IDX; 'mnist:train'/'mnist:test' for "
                               "the bundled digits."),
    output: Path = typer.Option(..., "--output", "-o", help=".npy (images) or .npz (X, y)."),
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
        load_mnist,
        save_array,
    )

    # lazy: scanflow.datasets loads SciPy, which the other commands skip
    from scanflow.datasets import corrupt as corrupt_images

    err = Console(stderr=True)
    if corruption not in CORRUPTIONS:
        err.print(f"[bold red]error:[/] unknown corruption {corruption!r}; choose one of "
                  f"{', '.join(CORRUPTIONS)}")
        raise typer.Exit(2)
    try:
        if str(input).startswith("mnist:"):
            X, y = load_mnist(str(input).split(":", 1)[1], limit=limit)
        else:
            X, y = load_any(input)
            if limit is not None:
                X = X[:limit]
                y = None if y is None else y[:limit]
        out = corrupt_images(X, corruption, seed=seed)
        if output.suffix == ".npz":
            save_array(output, out, y, corruption=corruption, seed=seed)
        else:
            save_array(output, out)
    except (DatasetError, CorruptionError) as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None
    Console(stderr=True).print(f"{len(out)} images corrupted with {corruption} (seed {seed}) "
                               f"-> {output}")
