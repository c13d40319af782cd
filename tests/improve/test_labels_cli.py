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
        app, ["add", "--mnist", "test", "--limit", "4", "--batch", "m", "--db", db]
    )
    assert result.exit_code == 0, result.output
    assert "queued 4 samples" in result.output
    # 3 labels #1; 5 labels #2; u takes #2 back; 7 relabels it; s skips #3; q quits.
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
    assert runner.invoke(app, ["add", str(data), "--batch", "t", "--db", db]).exit_code == 0
    store = LabelStore(db)
    store.submit(1, 4, "ana")
    result = runner.invoke(app, ["status", "--db", db])
    assert result.exit_code == 0 and "ana:1" in result.output
    out = tmp_path / "out.npz"
    assert runner.invoke(app, ["export", str(out), "--db", db]).exit_code == 0
    with np.load(out, allow_pickle=False) as z:
        assert z["y"].tolist() == [4] and z["X"].tolist() == [[0.0, 1.0]]


def test_serve_refuses_a_public_address_without_a_token(tmp_path, monkeypatch):
    monkeypatch.delenv("SCANFLOW_TOKEN", raising=False)
    result = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--db", str(tmp_path / "l.db")])
    assert result.exit_code != 0
    assert "SCANFLOW_TOKEN" in result.output


def test_block_art_uses_two_pixel_rows_per_line():
    art = block_art(np.zeros((28, 28), np.uint8), zoom=1)
    assert art.plain.count("\n") == 13 and len(art.plain.split("\n")[0]) == 28
