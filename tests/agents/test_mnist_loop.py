"""Integration: the tracker and checker agents with the real autoencoder detector on MNIST.

The detector (the dense variant: digits as 784-pixel rows in [0, 1], which trains in seconds on
2 cores) is trained briefly on 1,000 MNIST training digits, saved to a file, and found by
the checker through ``config.detector_path``; the drift opens an episode and the improver files
its first round of labels, chosen from the episode's pool by k-center on the detector's latent
features, in the real label store (no model is registered: the selection goes by the data).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from scanflow.agents import AgentRuntime  # noqa: E402
from scanflow.app import Agent, Application  # noqa: E402
from scanflow.check import AutoencoderDetector  # noqa: E402
from scanflow.datasets import load_mnist  # noqa: E402
from scanflow.datasets.corruptions import corrupt  # noqa: E402
from scanflow.improve.labels import LabelStore  # noqa: E402


def rows(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1).astype(np.float32) / 255.0


def test_corrupted_digits_open_an_episode_whose_first_labels_are_spread_over_the_pool(tmp_path):
    torch.set_num_threads(2)
    X_ref, _ = load_mnist("train", limit=1000)
    detector = AutoencoderDetector(epochs=5, batch_size=64, n_threads=2).fit(rows(X_ref))
    detector.save(tmp_path / "detector.npz")
    np.savez(tmp_path / "train.npz", X=rows(X_ref), y=np.arange(len(X_ref)) % 10)

    app = Application(name="mnist-agents", state_dir="state", agents=[
        Agent(name="tracker", kind="tracker", talks_to=["checker"], config={"batch_size": 100}),
        Agent(name="checker", kind="checker", talks_to=["improver"],
              config={"detector_path": "detector.npz"}),
        Agent(name="improver", kind="improver", config={
            "first_round": 10, "train_data": "train.npz", "detector": "detector.npz",
            "zero_label": "off"}),
    ])
    app.root = tmp_path
    rt = AgentRuntime(app)
    X_test, y_test = load_mnist("test", limit=200)
    rt.store.record_predictions("api", rows(X_test[:100]), y_test[:100].tolist())
    rt.store.record_predictions("api", rows(corrupt(X_test[100:], "stripe", seed=0)), y_test[100:].tolist())
    rt.run_once()

    checks = rt.history("checker")
    assert [h["decision"] for h in checks] == ["normal", "alert"]
    assert checks[0]["reason"].startswith("no drift")
    assert checks[1]["reason"].startswith("drift (ae)") and "p=" in checks[1]["reason"]
    assert checks[1]["inputs"]["n_flagged"] > 50
    labels = LabelStore(app.state_path / "labels.db")
    items = labels.items_of("episode-1-r1")
    assert len(items) == 10
    ids = [it.meta["prediction_id"] for it in items]
    assert all(101 <= i <= 200 for i in ids) and len(set(ids)) == 10
    assert items[0].x.shape == (784,)
    assert [h["decision"] for h in rt.history("improver")] == ["normal", "respond"]
