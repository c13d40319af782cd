"""Summarise the data (a parallel branch)."""

import json
import os
from pathlib import Path

import numpy as np

out = Path(os.environ["SCANFLOW_OUTPUT_DIR"])
data = np.load(out / "data.npz")
summary = {"rows": int(len(data["y"])), "y_mean": float(data["y"].mean()), "y_std": float(data["y"].std())}
(out / "summary.json").write_text(json.dumps(summary, indent=2))
print(json.dumps(summary))
