"""``scanflow label``: label samples in the terminal or the browser, fill the queue, see progress.

    scanflow label add data.npy --batch b1            queue samples (.npy/.npz/CSV/IDX)
    scanflow label add wine.csv --class-names a,b,c   queue table rows (every column kept)
    scanflow label add mnist:test --limit 20          queue packaged MNIST test images
    scanflow label --labeler ana                      label in the terminal (class keys, s u q)
    scanflow label serve                              the web UI on http://127.0.0.1:8765
    scanflow label status                             progress per batch
    scanflow label export labeled.npz                 the labeled samples as X, y, ids
    scanflow label export labeled.csv                 labeled table rows, with label and class

Class keys: classes named 0..9 keep their digit; other classes get 1-9 then 0, in order.

Every command works on one label store: ``--labels-url`` (a SQLite file or a SQLAlchemy URL),
else that of the application ``--app APP`` or of the application in the current folder (the
store ``scanflow serve`` and the agents use: ``<state>/labels.db``), else
``$SCANFLOW_HOME/labels.db`` or ``.scanflow/labels.db`` here.
"""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console, Group
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from ..app import find_app_file
from ..improve.labels import (
    Item,
    LabelError,
    LabelStore,
    class_keys,
    class_names,
    default_store_path,
    format_value,
)
from .common import AppOpt, load_application

app = typer.Typer(
    help="Label samples in the terminal or the browser; fill the queue; see progress.",
    invoke_without_command=True,
    no_args_is_help=False,
)

LabelsUrlOpt = Annotated[str | None, typer.Option(
    "--labels-url", metavar="URL",
    help="Label store: a SQLite file or a SQLAlchemy URL [default: the application's "
         "<state>/labels.db, else $SCANFLOW_HOME/labels.db or .scanflow/labels.db here]")]
DbOpt = Annotated[str | None, typer.Option("--db", hidden=True, help="deprecated: --labels-url")]


def _default_url(app: str | None) -> str:
    """The label store of ``app`` or of the application here (the one ``scanflow serve`` and
    the agents use), else the store of the current folder."""
    if app is None:
        try:
            find_app_file(".")
        except FileNotFoundError:
            return str(default_store_path())
    return str(load_application(app or ".").state_path / "labels.db")


def _store(labels_url: str | None, app: str | None = None, db: str | None = None,
           n_classes: int = 10) -> LabelStore:
    try:
        return LabelStore(labels_url or db or _default_url(app), n_classes=n_classes)
    except LabelError as exc:
        raise typer.BadParameter(str(exc)) from exc


def _default_labeler() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in some containers
        return "human"


# ----------------------------------------------------------------------------- rendering
def block_art(image: np.ndarray, zoom: int = 2) -> Text:
    """A (H, W) or (H, W, 3) image as Unicode half blocks: two pixel rows per text line.

    >>> block_art(np.array([[0, 255], [255, 0]], np.uint8), zoom=1).plain
    '▀▀'
    """
    pixels = np.asarray(image)
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    if pixels.dtype != np.uint8:
        values = pixels.astype(np.float64)
        lo, hi = float(values.min()), float(values.max())
        pixels = (
            np.zeros(values.shape, np.uint8)
            if hi <= lo
            else ((values - lo) / (hi - lo) * 255).astype(np.uint8)
        )
    if zoom > 1:
        pixels = np.repeat(np.repeat(pixels, zoom, axis=0), zoom, axis=1)
    if pixels.shape[0] % 2:
        pixels = np.concatenate([pixels, np.zeros_like(pixels[:1])], axis=0)

    def rgb(px) -> str:
        r, g, b = (int(px), int(px), int(px)) if np.ndim(px) == 0 else (int(v) for v in px[:3])
        return f"rgb({r},{g},{b})"

    text = Text()
    for r in range(0, pixels.shape[0], 2):
        for c in range(pixels.shape[1]):
            text.append("▀", style=f"{rgb(pixels[r, c])} on {rgb(pixels[r + 1, c])}")
        if r + 2 < pixels.shape[0]:
            text.append("\n")
    return text


def _names(item: Item, store: LabelStore) -> list[str]:
    """The class names of a sample: its recorded classes, else the digits."""
    return class_names(item.classes or range(store.n_classes))


def _shrunk(image: np.ndarray, zoom: int, max_columns: int) -> np.ndarray:
    """Every k-th pixel, so that a large image fits ``max_columns`` of block art."""
    step = max(1, -(-image.shape[1] * zoom // max_columns))
    return image[::step, ::step]


def _record_table(item: Item) -> Table:
    """A table row as a Rich table of named fields and their values."""
    table = Table(show_header=True, header_style="dim", box=None, padding=(0, 2))
    table.add_column("field", style="dim", no_wrap=True)
    table.add_column("value")
    for col, v in zip(item.columns, item.values, strict=True):
        style = "dim" if v is None else "cyan" if isinstance(v, int | float) else "bold"
        table.add_row(col, Text(format_value(v), style=style))
    return table


def _info(item: Item, names: list[str]) -> Table:
    info = Table.grid(padding=(0, 1))
    guess = "-" if item.model_guess is None else names[item.model_guess]
    info.add_row("model's guess", Text(guess, style="bold cyan"))
    info.add_row("sample", f"#{item.id} · {item.batch}")
    if item.score is not None:
        info.add_row("score", f"{item.score:.4g}")
    for k, v in item.meta.items():
        if k not in ("columns", "classes"):
            info.add_row(k, str(v))
    keys = class_keys(names)
    shown = [f"{k}={n}" for k, n in zip(keys, names, strict=True) if k is not None and k != n]
    if shown:
        info.add_row("keys", Text(" ".join(shown), style="dim"))
    return info


def _render(
    item: Item,
    store: LabelStore,
    labeler: str,
    batch: str | None,
    zoom: int,
    note: str,
    width: int = 120,
) -> Group:
    names = _names(item, store)
    if item.is_image:
        image = _shrunk(item.image, zoom, max(16, min(96, width - 44)))
        sample, sample_width = block_art(image, zoom), image.shape[1] * zoom
    else:
        sample, sample_width = _record_table(item), 40
    info = _info(item, names)
    given = [k for k in class_keys(names) if k is not None]
    keys = Text(f"{given[0]}-{given[-1]} label · s skip · u undo · q quit", style="dim")
    if width >= sample_width + 40:  # side by side when the terminal is wide enough
        grid = Table.grid(padding=(0, 3))
        grid.add_column(no_wrap=True, min_width=sample_width)
        grid.add_column()
        grid.add_row(sample, info)
    else:
        grid = Group(sample, Text(""), info)
    return Group(
        Panel(grid, title=f"[b]labeling as {labeler}[/b]", subtitle=keys, expand=False),
        _progress(store.progress(batch)),
        Text(note, style="yellow") if note else Text(""),
    )


def _progress(p: dict) -> Table:
    """Rich's progress bar (answered of total) and the counts beside it, on one line."""
    row = Table.grid(padding=(0, 2))
    row.add_row(ProgressBar(total=max(p["total"], 1), completed=p["labeled"] + p["skipped"], width=30),
                f"{p['labeled']}/{p['total']} labeled, {p['skipped']} skipped")
    return row


def _read_key() -> str:
    """One key press from a terminal (no Enter needed); one line otherwise (scripts, tests)."""
    if sys.stdin.isatty():
        ch = typer.getchar()  # click's portable raw read: POSIX terminals and the Windows console
        return "u" if ch in ("\x7f", "\b") else ch
    line = sys.stdin.readline()
    return line.strip()[:1] if line else "q"


# ----------------------------------------------------------------------------- commands
@app.callback()
def label(
    ctx: typer.Context,
    labels_url: LabelsUrlOpt = None,
    app_path: AppOpt = None,
    db: DbOpt = None,
    labeler: str = typer.Option(None, "--labeler", "-l", help="Your name [default: login name]"),
    batch: str = typer.Option(None, "--batch", "-b", help="Only this batch"),
    n_classes: int = typer.Option(
        10, "--classes", help="Labels are 0..classes-1 (for samples queued without class names)"
    ),
    zoom: int = typer.Option(2, "--zoom", min=1, max=4, help="Pixel size of the block art"),
) -> None:
    """Label samples in the terminal: keys 0-9 label, s skips, u undoes, q quits."""
    if ctx.invoked_subcommand is not None:
        return
    store = _store(labels_url, app_path, db, n_classes)
    labeler = labeler or _default_labeler()
    console = Console()
    note = ""
    try:
        while True:
            items = store.claim(labeler, 1, batch=batch)
            if not items:
                console.print("[green]Nothing left to label.[/green]")
                break
            item = items[0]
            if console.is_terminal:
                console.clear()
            console.print(_render(item, store, labeler, batch, zoom, note, console.width))
            key = _read_key().lower()
            note = ""
            try:
                if key == "q":
                    break
                names = _names(item, store)
                if key.isdigit() and key in class_keys(names):
                    k = class_keys(names).index(key)
                    store.submit(item.id, k, labeler)
                    note = f"labeled #{item.id} as {names[k]}"
                elif key == "s":
                    store.skip(item.id, labeler)
                    note = f"skipped #{item.id}"
                elif key == "u":
                    back = store.undo(labeler)
                    note = f"took back #{back.id}" if back else "nothing to undo"
                else:
                    note = f"unknown key {key!r}"
            except LabelError as exc:
                note = str(exc)
    finally:
        store.release(labeler)  # what this labeler held goes back to the queue
        p = store.progress(batch)
        console.print(
            f"{p['labeled']}/{p['total']} labeled, {p['skipped']} skipped, {p['pending']} pending."
        )
        store.close()


def _load_samples(data: str, limit: int | None):
    """``(X, meta)`` from a data file or packaged data (tables stay DataFrames)."""
    # lazy: scanflow.datasets loads SciPy
    from ..datasets import is_packaged, load_any, load_packaged

    if is_packaged(data):
        X, _ = load_packaged(data, limit=limit)
        if not hasattr(X, "columns"):
            return X, [{"index": i, "source": data} for i in range(len(X))]
    else:
        X, _ = load_any(data)
    if hasattr(X, "columns"):  # a table: every column kept, text and categories too
        X = X.iloc[:limit].reset_index(drop=True) if limit is not None else X
        return X, [{"index": i} for i in range(len(X))]
    X = np.asarray(X)
    X = X[:, None] if X.ndim == 1 else X
    return (X[:limit] if limit is not None else X), None


def _parse_classes(text: str | None) -> list | None:
    """``a,b,c`` → ``["a", "b", "c"]``; a value that reads as JSON (``1``, ``2.5``) is that."""
    if text is None:
        return None
    out = []
    for token in (t.strip() for t in text.split(",")):
        try:
            value = json.loads(token)
        except ValueError:
            value = token
        out.append(value if isinstance(value, int | float | str) else token)
    return out


@app.command("add")
def add(
    path: str = typer.Argument(None, metavar="DATA", help="Samples: .npy, .npz (X), CSV/Parquet, IDX, or packaged data (mnist:test)"),
    batch: str = typer.Option("default", "--batch", "-b", help="Batch name"),
    mnist: str = typer.Option(None, "--mnist", hidden=True, help="deprecated: DATA mnist:SPLIT"),
    limit: int = typer.Option(None, "--limit", help="Only the first N samples"),
    guesses: Path = typer.Option(
        None, "--guesses", help=".npy of the model's guesses: class positions or class names"
    ),
    classes: str = typer.Option(
        None,
        "--class-names",
        help="The model's classes in order, comma-separated (e.g. class_0,class_1,class_2)",
    ),
    labels_url: LabelsUrlOpt = None,
    app_path: AppOpt = None,
    db: DbOpt = None,
) -> None:
    """Add samples to the labeling queue (table rows keep every column, text included)."""
    if (path is None) == (mnist is None):
        raise typer.BadParameter("give the data: a file or packaged data such as mnist:test",
                                 param_hint="DATA")
    X, meta = _load_samples(path or f"mnist:{mnist}", limit)
    guess = None
    if guesses is not None:
        loaded = np.load(guesses, allow_pickle=False)[: len(X)]
        guess = (loaded.astype(int) if loaded.dtype.kind in "iubf" else loaded).tolist()
    with _store(labels_url, app_path, db) as store:
        try:
            ids = store.enqueue(
                X, batch=batch, meta=meta, model_guess=guess, classes=_parse_classes(classes)
            )
        except LabelError as exc:
            raise typer.BadParameter(str(exc)) from exc
        p = store.progress(batch)
    Console().print(
        f"queued {len(ids)} samples in batch [b]{batch}[/b] "
        f"({p['pending']} pending, {p['labeled']} labeled)"
    )


_PROGRESS_COLUMNS = ("total", "labeled", "human", "oracle", "skipped", "pending", "in_progress")


def _progress_table(store: LabelStore, names: list[str]) -> Table:
    """One row of progress counts per batch, and an ``all`` row when there are several."""
    table = Table(caption=f"store: {store.url}")
    columns = ("batch", "total", "labeled", "human", "oracle", "skipped", "pending", "held")
    for col in (*columns, "labelers"):
        table.add_column(col, justify="left" if col in ("batch", "labelers") else "right")
    for name in names:
        p = store.progress(name)
        table.add_row(
            name,
            *(str(p[k]) for k in _PROGRESS_COLUMNS),
            ", ".join(f"{k}:{v}" for k, v in p["by_labeler"].items()),
        )
    if len(names) > 1:
        p = store.progress()
        table.add_row("[b]all[/b]", *(f"[b]{p[k]}[/b]" for k in _PROGRESS_COLUMNS), "")
    return table


@app.command("status")
def status(
    batch: str = typer.Option(None, "--batch", "-b", help="Only this batch"),
    labels_url: LabelsUrlOpt = None,
    app_path: AppOpt = None,
    db: DbOpt = None,
) -> None:
    """Progress of the queue, per batch: labeled (by humans / by the oracle), skipped, pending."""
    with _store(labels_url, app_path, db) as store:
        names = [batch] if batch else store.batches()
        table = _progress_table(store, names)
    console = Console()
    if not names:
        console.print("The queue is empty: add samples with `scanflow label add`.")
    else:
        console.print(table)


def _write_table(out: Path, ids: np.ndarray, X, y: np.ndarray, labels: np.ndarray | None) -> None:
    """Labeled records as CSV / Parquet: ``id``, the columns, ``label`` and ``class``."""
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise typer.BadParameter(
            "labeled table rows have named columns (text too), which an .npz cannot hold "
            "without pickle; name a .csv or .parquet file",
            param_hint="OUT",
        )
    extra = ["id", "label"] + (["class"] if labels is not None else [])
    clash = [c for c in extra if c in X.columns]
    if clash:
        raise typer.BadParameter(f"the rows already have columns {clash}; rename them first")
    table = X.copy()
    table.insert(0, "id", ids)
    table["label"] = y
    if labels is not None:
        table["class"] = labels
    if out.suffix.lower() == ".csv":
        table.to_csv(out, index=False)
    else:
        table.to_parquet(out, index=False)


def _class_array(classes: list) -> np.ndarray:
    """The classes as a plain array (text when their types are mixed): no pickle needed."""
    uniform = len({type(c) for c in classes}) == 1
    return np.asarray(classes if uniform else class_names(classes))


@app.command("export")
def export(
    out: Path = typer.Argument(..., help="Output: .npz (X, y, ids) or, for table rows, .csv"),
    batch: str = typer.Option(None, "--batch", "-b", help="Only this batch"),
    kind: str = typer.Option(None, "--kind", help="Only labels by 'human' or 'oracle'"),
    labels_url: LabelsUrlOpt = None,
    app_path: AppOpt = None,
    db: DbOpt = None,
) -> None:
    """Write the labeled samples: arrays to .npz (X, y, ids, classes; no pickle), table rows
    to .csv or .parquet (id, the columns, label, class). ``y``/``label`` are class positions."""
    with _store(labels_url, app_path, db) as store:
        try:
            ids, X, y = store.labeled(batch, kind=kind)
            classes = store.classes(batch)
            labels = store.label_of(y, batch) if classes is not None else None
        except LabelError as exc:
            raise typer.BadParameter(str(exc)) from exc
    out.parent.mkdir(parents=True, exist_ok=True)
    if hasattr(X, "columns"):
        _write_table(out, ids, X, y, labels)
    else:
        extra = {} if classes is None else {"classes": _class_array(classes)}
        np.savez_compressed(out, X=X, y=y, ids=ids, **extra)
    Console().print(f"wrote {len(ids)} labeled samples to {out}")


@app.command("serve")
def serve(
    labels_url: LabelsUrlOpt = None,
    app_path: AppOpt = None,
    db: DbOpt = None,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (others need a token)"),
    port: int = typer.Option(8765, "--port", help="Port to listen on"),
    token: str = typer.Option(
        None, "--token", envvar="SCANFLOW_TOKEN", help="Access token (required off 127.0.0.1)"
    ),
    title: str = typer.Option("Scanflow labeling", "--title", help="Title of the labeling page"),
    n_classes: int = typer.Option(
        10, "--classes", help="Labels are 0..classes-1 (for samples queued without class names)"
    ),
) -> None:
    """Serve the labeling web UI (open the printed address in a browser)."""
    # lazy: these load FastAPI, which only `label serve` needs
    from ..security import InsecureBindError, check_bind
    from ..security import serve as run_server  # lazy: as above
    from ..serve.labeling import create_labeling_app  # lazy: as above

    try:
        token = check_bind(host, token)
    except InsecureBindError as exc:
        raise typer.BadParameter(str(exc), param_hint="--host") from exc
    store = _store(labels_url, app_path, db, n_classes)
    web = create_labeling_app(store, title=title, token=token)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{shown}:{port}/" + ("?token=<token>" if token else "")
    Console().print(f"labeling UI on [link={url}]{url}[/link]  (store: {store.url}; Ctrl+C stops)")
    run_server(web, host=host, port=port, token=token, log_level="warning")
