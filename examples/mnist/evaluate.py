"""Evaluate the trained model on the held-out test digits (t10k[5000:])."""

import json
import os
from pathlib import Path

import mnist_model  # noqa: F401 - registers (trusts) the example's own network class
import numpy as np
import torch

from scanflow.models import load_torch_folder
from scanflow.track import log_dict, log_metrics

torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
out = Path(os.environ["SCANFLOW_OUTPUT_DIR"])
model = load_torch_folder(out / "model")  # weights_only=True: never unpickles
with np.load(out / "prepared.npz", allow_pickle=False) as data:
    x = torch.from_numpy(data["x_test"].astype(np.float32))
    y = data["y_test"].astype(np.int64)

with torch.no_grad():
    predicted = torch.cat([model(x[i:i + 1000]).argmax(1) for i in range(0, len(x), 1000)]).numpy()
accuracy = float((predicted == y).mean())
confusion = np.zeros((10, 10), dtype=int)
np.add.at(confusion, (y, predicted), 1)
per_class = (confusion.diagonal() / confusion.sum(1)).round(4).tolist()

metrics = {"test_accuracy": accuracy, "test_size": int(len(y)), "per_class_accuracy": per_class}
(out / "metrics.json").write_text(json.dumps(metrics, indent=2))
log_metrics({"test_accuracy": accuracy, **{f"test_accuracy_{d}": a for d, a in enumerate(per_class)}})
log_dict({"confusion": confusion.tolist(), **metrics}, "evaluation.json")
print(f"test accuracy: {accuracy * 100:.2f} % on {len(y)} held-out images")
