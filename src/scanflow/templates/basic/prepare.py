"""Make a synthetic regression data set: y = X @ w + noise."""

import argparse
import os
from pathlib import Path

import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("--rows", type=int, default=500)
parser.add_argument("--noise", type=float, default=0.1)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

rng = np.random.default_rng(args.seed)
x = rng.normal(size=(args.rows, 3))
y = x @ np.array([1.5, -2.0, 0.5]) + args.noise * rng.normal(size=args.rows)
out = Path(os.environ["SCANFLOW_OUTPUT_DIR"])
np.savez(out / "data.npz", x=x, y=y)
print(f"wrote {args.rows} rows to {out / 'data.npz'}")
