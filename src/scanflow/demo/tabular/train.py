"""Fit the classifier — a scikit-learn pipeline (scaling + a small neural network) — log it to
MLflow with its signature (named, typed columns) in the skops format, and register it."""

import argparse
import json
import os
from pathlib import Path

import pandas as pd
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from scanflow.models import InputSchema, as_model, log_model
from scanflow.track import log_metrics, log_params

parser = argparse.ArgumentParser()
parser.add_argument("--model-name", default="segment")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

out = Path(os.environ["SCANFLOW_OUTPUT_DIR"])
train = pd.read_csv(out / "train.csv")
X, y = train.drop(columns=["target"]), train["target"].to_numpy()
pipeline = make_pipeline(StandardScaler(), MLPClassifier((64,), max_iter=600, random_state=args.seed))
pipeline.fit(X, y)
log_params({"model": "StandardScaler + MLPClassifier(64)", "rows": len(X)})
log_metrics({"train_accuracy": float(pipeline.score(X, y))})
info = log_model(as_model(pipeline, schema=InputSchema.from_data(X)), "model",
                 registered_model_name=args.model_name)
(out / "model.json").write_text(json.dumps({"model": args.model_name, "version": info.version}))
print(f"{args.model_name} v{info.version}: train accuracy {pipeline.score(X, y):.3f}")
