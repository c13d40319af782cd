"""The application's own retrain step, run by the improver agent when people have labeled rows.

It gets the labeled rows (a CSV with the model's columns and a `target` column) and the
champion's version as parameters, refits the pipeline on the training rows plus the labeled
rows (weighted), and registers the result: that version is the candidate the planner gates.
"""

import argparse
import os
from pathlib import Path

import pandas as pd
from sklearn.base import clone

from scanflow.models import InputSchema, as_model, load_model, log_model
from scanflow.track import log_metrics, log_params

parser = argparse.ArgumentParser()
parser.add_argument("--labeled_data", required=True)
parser.add_argument("--champion_version", required=True)
parser.add_argument("--model_name", default="segment")
parser.add_argument("--weight", type=int, default=5, help="copies of each labeled row")
args = parser.parse_args()

champion = load_model(args.model_name, version=args.champion_version)
train = pd.read_csv(Path(os.environ["SCANFLOW_STATE_DIR"]) / "data" / "train.csv")
labeled = pd.read_csv(args.labeled_data)
rows = pd.concat([train] + [labeled] * args.weight, ignore_index=True)
X, y = rows.drop(columns=["target"]), rows["target"].to_numpy()
pipeline = clone(champion.native).fit(X, y)
log_params({"champion_version": args.champion_version, "labeled_rows": len(labeled),
            "weight": args.weight})
log_metrics({"train_accuracy": float(pipeline.score(X, y))})
info = log_model(as_model(pipeline, schema=InputSchema.from_data(X)), "model",
                 registered_model_name=args.model_name)
print(f"{args.model_name} v{info.version} from {len(train)} training rows + {len(labeled)} labeled rows")
