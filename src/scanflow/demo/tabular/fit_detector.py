"""Fit the default detector (an autoencoder on the table + a latent-space test) on the training
rows and save it to `<state>/detector.npz` for the prediction service and the checker agent."""

import argparse
import os
from pathlib import Path

import pandas as pd

from scanflow.check import default_detector
from scanflow.track import log_artifact, log_metrics

parser = argparse.ArgumentParser()
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

out = Path(os.environ["SCANFLOW_OUTPUT_DIR"])
X = pd.read_csv(out / "train.csv").drop(columns=["target"])
detector = default_detector(random_state=args.seed, epochs=20).fit(X)
path = detector.save(Path(os.environ["SCANFLOW_STATE_DIR"]) / "detector.npz")
log_metrics({"instance_threshold": float(detector.threshold_)})
log_artifact(path)
print(f"detector fitted on {len(X)} rows -> {path}")
