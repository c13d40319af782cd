"""The application's own retrain step, run by the improver agent when people have labeled rows.

It gets the labeled rows (a CSV with the model's columns and a `target` column) and the
champion's version as parameters, refits the pipeline on the training rows plus the labeled
rows (weighted), and registers the result: that version is the candidate the planner gates.

The candidate is a soft-voting ensemble of ``--ensemble`` copies of the champion's pipeline,
each fitted from its own seed. One small network refitted on a thousand rows moves by several
held-out clean samples from one seed to the next (0 to 6 of 300 here), enough for the gate to
reject a candidate that gained 30 points on the shifted rows; averaging a few cancels that.
"""

import argparse
import os
from pathlib import Path

import pandas as pd
from sklearn.base import clone
from sklearn.ensemble import VotingClassifier

from scanflow.models import InputSchema, as_model, load_model, log_model
from scanflow.track import log_metrics, log_params

parser = argparse.ArgumentParser()
parser.add_argument("--labeled_data", required=True)
parser.add_argument("--champion_version", required=True)
parser.add_argument("--model_name", default="segment")
parser.add_argument("--weight", type=int, default=5, help="copies of each labeled row")
parser.add_argument("--ensemble", type=int, default=5, help="pipelines fitted from different seeds")
args = parser.parse_args()


def seeded(pipeline, seed):
    """A fresh copy of ``pipeline`` whose every ``random_state`` is ``seed``."""
    keys = [k for k in pipeline.get_params() if k.endswith("random_state")]
    return clone(pipeline).set_params(**dict.fromkeys(keys, seed))


champion = load_model(args.model_name, version=args.champion_version)
train = pd.read_csv(Path(os.environ["SCANFLOW_STATE_DIR"]) / "data" / "train.csv")
labeled = pd.read_csv(args.labeled_data)
rows = pd.concat([train] + [labeled] * args.weight, ignore_index=True)
X, y = rows.drop(columns=["target"]), rows["target"].to_numpy()
native = champion.native  # after a promotion, an ensemble: refit its first member's recipe
base = native.estimators[0][1] if isinstance(native, VotingClassifier) else native
members = [(f"seed{k}", seeded(base, k)) for k in range(args.ensemble)]
pipeline = VotingClassifier(members, voting="soft").fit(X, y)
log_params({"champion_version": args.champion_version, "labeled_rows": len(labeled),
            "weight": args.weight, "ensemble": args.ensemble})
log_metrics({"train_accuracy": float(pipeline.score(X, y))})
info = log_model(as_model(pipeline, schema=InputSchema.from_data(X)), "model",
                 registered_model_name=args.model_name)
print(f"{args.model_name} v{info.version} from {len(train)} training rows + {len(labeled)} labeled rows")
