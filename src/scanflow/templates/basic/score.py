"""Score the model on the 20 % of rows it did not see; fail if R² is too low."""

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("--min-r2", type=float, default=0.9)
args = parser.parse_args()

out = Path(os.environ["SCANFLOW_OUTPUT_DIR"])
data = np.load(out / "data.npz")
w = np.load(out / "weights.npy")
n = int(0.8 * len(data["y"]))
x, y = data["x"][n:], data["y"][n:]
r2 = 1 - np.sum((x @ w - y) ** 2) / np.sum((y - y.mean()) ** 2)
(out / "score.json").write_text(json.dumps({"r2": float(r2)}))
print(f"test R² = {r2:.4f}")
if r2 < args.min_r2:
    sys.exit(f"R² {r2:.3f} is below --min-r2 {args.min_r2}")
