"""Evaluate the new version on the held-out rows, then make it the champion."""

import argparse
import json
import os
from pathlib import Path

import pandas as pd

from scanflow.models import load_model
from scanflow.track import log_metrics, promote

parser = argparse.ArgumentParser()
parser.add_argument("--model-name", default="segment")
args = parser.parse_args()

out = Path(os.environ["SCANFLOW_OUTPUT_DIR"])
version = json.loads((out / "model.json").read_text())["version"]
holdout = pd.read_csv(out / "holdout.csv")
model = load_model(args.model_name, version=version)
accuracy = float((model.predict(holdout.drop(columns=["target"])) == holdout["target"]).mean())
log_metrics({"clean_accuracy": accuracy})
previous = promote(args.model_name, version)
result = {"model": args.model_name, "champion": version, "previous": previous, "clean_accuracy": accuracy}
(out / "deploy.json").write_text(json.dumps(result))
print(json.dumps(result))
