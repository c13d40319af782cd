"""Split the image-segment table (shipped with Scanflow) into training rows and held-out rows.

Writes train.csv and holdout.csv (a `target` column holds the class) to the run's outputs and
to `<state>/data/`, where the improver agent reads them (train_data, eval_data).
"""

import argparse
import os
from pathlib import Path

from scanflow.datasets import split_segment
from scanflow.track import log_metrics

parser = argparse.ArgumentParser()
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

X_train, y_train, X_hold, y_hold, _, _ = split_segment(seed=args.seed)
out = Path(os.environ["SCANFLOW_OUTPUT_DIR"])
data = Path(os.environ["SCANFLOW_STATE_DIR"]) / "data"
data.mkdir(parents=True, exist_ok=True)
for name, X, y in (("train", X_train, y_train), ("holdout", X_hold, y_hold)):
    frame = X.assign(target=y)
    frame.to_csv(out / f"{name}.csv", index=False)
    frame.to_csv(data / f"{name}.csv", index=False)
log_metrics({"train_rows": len(X_train), "holdout_rows": len(X_hold)})
print(f"{len(X_train)} training rows, {len(X_hold)} held-out rows, {X_train.shape[1]} columns")
