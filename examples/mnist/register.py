"""Register the trained model; make it the champion if it is good enough, else a challenger."""

import argparse
import json
import os
from pathlib import Path

from scanflow.track import get_alias_version, promote, register_model, set_alias

parser = argparse.ArgumentParser()
parser.add_argument("--model-name", default="mnist-cnn")
parser.add_argument("--min-accuracy", type=float, default=0.95)
args = parser.parse_args()

out = Path(os.environ["SCANFLOW_OUTPUT_DIR"])
train = json.loads((out / "train.json").read_text())
accuracy = json.loads((out / "metrics.json").read_text())["test_accuracy"]
version = register_model(train["model_uri"], args.model_name,
                         tags={"test_accuracy": f"{accuracy:.4f}", "scanflow.run_id": os.environ["SCANFLOW_RUN_ID"]})
if accuracy >= args.min_accuracy:
    previous = promote(args.model_name, version, alias="champion")
    print(f"{args.model_name} v{version} ({accuracy:.2%}) is the champion (previous: {previous})")
else:
    set_alias(args.model_name, "challenger", version)
    champion = get_alias_version(args.model_name, "champion")
    print(f"{args.model_name} v{version} ({accuracy:.2%}) is below {args.min_accuracy:.0%}: "
          f"challenger; champion stays v{champion}")
