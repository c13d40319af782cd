"""`scanflow label`: terminal labeling, queue filling, status, export and serve's bind check."""

from __future__ import annotations

import numpy as np
from typer.testing import CliRunner

from scanflow.cli.label import app, block_art
from scanflow.improve.labels import LabelStore

runner = CliRunner()


def test_terminal_labeling_with_keys_label_skip_undo_quit(tmp_path):
    db = str(tmp_path / "labels.db")
    result = runner.invoke(
        app, ["add", "mnist:test", "--limit", "4", "--batch", "m", "--labels-url", db]
    )
    assert result.exit_code == 0, result.output
    assert "queued 4 samples" in result.output
    # 3 labels #1; 5 labels #2; u takes #2 back; 7 relabels it; s skips #3; q quits.
    # --db is the old, hidden spelling of --labels-url
    result = runner.invoke(app, ["--db", db, "--labeler", "ana"], input="3\n5\nu\n7\ns\nq\n")
    assert result.exit_code == 0, result.output
    assert "model's guess" in result.output and "▀" in result.output
    store = LabelStore(db)
    assert [(it.label, it.status) for it in store.items_of("m")] == [
        (3, "labeled"),
        (7, "labeled"),
        (None, "skipped"),
        (None, "pending"),
    ]
    assert store.progress()["in_progress"] == 0  # quitting gives held samples back


def test_status_and_export(tmp_path):
    db = str(tmp_path / "labels.db")
    data = tmp_path / "rows.npy"
    np.save(data, np.arange(6, dtype=np.float64).reshape(3, 2))
    assert runner.invoke(app, ["add", str(data), "--batch", "t", "--labels-url", db]).exit_code == 0
    store = LabelStore(db)
    store.submit(1, 4, "ana")
    result = runner.invoke(app, ["status", "--labels-url", db])
    assert result.exit_code == 0 and "ana:1" in result.output
    out = tmp_path / "out.npz"
    assert runner.invoke(app, ["export", str(out), "--labels-url", db]).exit_code == 0
    with np.load(out, allow_pickle=False) as z:
        assert z["y"].tolist() == [4] and z["X"].tolist() == [[0.0, 1.0]]


def test_serve_refuses_a_public_address_without_a_token(tmp_path, monkeypatch):
    monkeypatch.delenv("SCANFLOW_TOKEN", raising=False)
    result = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--labels-url", str(tmp_path / "l.db")])
    assert result.exit_code != 0
    assert "SCANFLOW_TOKEN" in result.output


def test_block_art_uses_two_pixel_rows_per_line():
    art = block_art(np.zeros((28, 28), np.uint8), zoom=1)
    assert art.plain.count("\n") == 13 and len(art.plain.split("\n")[0]) == 28


def test_terminal_labeling_shows_a_table_row_as_named_fields_with_class_names(tmp_path):
    db = str(tmp_path / "labels.db")
    data = tmp_path / "wine.csv"
    data.write_text("alcohol,proline,cellar\n13.2,1065,north\n12.37,520,south\n")
    guesses = tmp_path / "guesses.npy"
    np.save(guesses, np.array(["class_2", "class_0"]))
    result = runner.invoke(
        app,
        ["add", str(data), "--batch", "wine", "--labels-url", db, "--guesses", str(guesses)]
        + ["--class-names", "class_0,class_1,class_2"],
    )
    assert result.exit_code == 0, result.output
    # Key 2 is the second class (class_1); 9 is no class's key; 3 is class_2; q quits.
    result = runner.invoke(app, ["--labels-url", db, "--labeler", "ana"], input="2\n9\n3\nq\n")
    assert result.exit_code == 0, result.output
    first_panel = result.output.split("╰")[0]
    for text in ("field", "value", "alcohol", "13.2", "proline", "1065", "cellar", "north"):
        assert text in first_panel
    assert "model's guess class_2" in first_panel and "1=class_0" in first_panel
    assert "labeled #1 as class_1" in result.output and "unknown key '9'" in result.output
    store = LabelStore(db)
    ids, X, y = store.labeled("wine")
    assert y.tolist() == [1, 2] and X["cellar"].tolist() == ["north", "south"]
    assert store.label_of(y, "wine").tolist() == ["class_1", "class_2"]
    out = tmp_path / "labeled.csv"
    assert runner.invoke(app, ["export", str(out), "--labels-url", db]).exit_code == 0
    assert out.read_text().splitlines() == [
        "id,alcohol,proline,cellar,label,class",
        "1,13.2,1065,north,1,class_1",
        "2,12.37,520,south,2,class_2",
    ]
    result = runner.invoke(app, ["export", str(tmp_path / "x.npz"), "--labels-url", db])
    assert result.exit_code != 0 and ".csv" in result.output


def test_terminal_shows_colour_images_of_any_layout_within_the_terminal(tmp_path):
    db = str(tmp_path / "labels.db")
    store = LabelStore(db)
    store.enqueue(np.zeros((1, 3, 32, 32), np.uint8), batch="chw")  # channels first
    store.enqueue(np.zeros((1, 60, 300, 3), np.uint8), batch="wide")  # wider than a terminal
    result = runner.invoke(app, ["--labels-url", db, "--labeler", "ana"], input="1\n2\nq\n")
    assert result.exit_code == 0, result.output
    assert "▀" in result.output
    assert max(len(line) for line in result.output.splitlines()) <= 100
    assert [it.label for it in store.items_of()] == [1, 2]


def test_a_terminal_reads_one_key_press_through_typer_getchar(monkeypatch):
    from scanflow.cli import label as label_cli

    monkeypatch.setattr(label_cli.sys.stdin, "isatty", lambda: True, raising=False)
    keys = iter(["7", "\x7f"])
    monkeypatch.setattr(label_cli.typer, "getchar", lambda: next(keys))
    assert label_cli._read_key() == "7"
    assert label_cli._read_key() == "u"  # Backspace undoes


def test_progress_is_richs_bar_beside_the_side_by_side_sample(tmp_path):
    from rich.console import Console

    from scanflow.cli.label import _render

    store = LabelStore(str(tmp_path / "labels.db"))
    store.enqueue(np.zeros((2, 8, 8), np.uint8), batch="b")
    item = store.claim("ana", 1)[0]
    store.submit(item.id, 3, "ana")
    console = Console(width=120, record=True, color_system=None)
    console.print(_render(store.claim("ana", 1)[0], store, "ana", None, 2, "", width=120))
    lines = console.export_text().splitlines()
    assert any("▀" in line and "model's guess" in line for line in lines)  # side by side
    bar = next(line for line in lines if "1/2 labeled" in line)
    assert "━" in bar and "█" not in bar
