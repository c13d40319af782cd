"""Load the real MNIST digits shipped with Scanflow and write them to the run's output folder.

Split: `scanflow.datasets.load_mnist` (6,000 training digits, 5,000 held-out test digits, no overlap).
"""

import argparse
import os
from pathlib import Path

import numpy as np

from scanflow.datasets import load_mnist

parser = argparse.ArgumentParser()
parser.add_argument("--limit", type=int, default=None, help="keep at most this many training images")
args = parser.parse_args()

x_train, y_train = load_mnist("train", limit=args.limit)
x_test, y_test = load_mnist("test")
out = Path(os.environ["SCANFLOW_OUTPUT_DIR"])
np.savez_compressed(out / "mnist.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
print(f"loaded {len(x_train)} training and {len(x_test)} test images -> {out / 'mnist.npz'}")
