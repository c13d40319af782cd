"""Fit least squares on 80 % of the rows; log the training error to MLflow."""

import os
from pathlib import Path

import numpy as np

from scanflow.track import log_metrics

out = Path(os.environ["SCANFLOW_OUTPUT_DIR"])
data = np.load(out / "data.npz")
n = int(0.8 * len(data["y"]))
w, *_ = np.linalg.lstsq(data["x"][:n], data["y"][:n], rcond=None)
np.save(out / "weights.npy", w)
mse = float(np.mean((data["x"][:n] @ w - data["y"][:n]) ** 2))
log_metrics({"train_mse": mse})  # goes to this node's nested MLflow run
print(f"weights {np.round(w, 3).tolist()}, train mse {mse:.4f}")
