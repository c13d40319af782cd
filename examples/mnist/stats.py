"""Data statistics (a branch that runs in parallel with preprocessing): class balance, ink."""

import json
import os
from pathlib import Path

import numpy as np

from scanflow.track import log_dict, log_metrics

out = Path(os.environ["SCANFLOW_OUTPUT_DIR"])
with np.load(out / "mnist.npz", allow_pickle=False) as data:
    x_train, y_train, y_test = data["x_train"], data["y_train"], data["y_test"]

counts = np.bincount(y_train, minlength=10)
stats = {
    "train_size": int(len(y_train)),
    "test_size": int(len(y_test)),
    "class_counts": counts.tolist(),
    "class_balance": float(counts.min() / counts.max()),
    "mean_ink": float((x_train > 127).mean()),
}
(out / "stats.json").write_text(json.dumps(stats, indent=2))
log_metrics({"train_size": stats["train_size"], "test_size": stats["test_size"],
             "class_balance": stats["class_balance"], "mean_ink": stats["mean_ink"]})
log_dict(stats, "stats.json")
print(json.dumps(stats))
