"""Scale pixels to [0, 1] and standardise them with the training set's mean and deviation."""

import json
import os
from pathlib import Path

import numpy as np

out = Path(os.environ["SCANFLOW_OUTPUT_DIR"])
with np.load(out / "mnist.npz", allow_pickle=False) as data:
    x_train, y_train, x_test, y_test = (data[k] for k in ("x_train", "y_train", "x_test", "y_test"))

mean = float(x_train.mean() / 255.0)
std = float(x_train.std() / 255.0)


def prepare(images: np.ndarray) -> np.ndarray:
    return ((images.astype(np.float32) / 255.0 - mean) / std)[:, None].astype(np.float16)


np.savez(out / "prepared.npz", x_train=prepare(x_train), y_train=y_train, x_test=prepare(x_test), y_test=y_test)
(out / "normalization.json").write_text(json.dumps({"mean": mean, "std": std}))
print(f"standardised with mean={mean:.4f} std={std:.4f}; shapes {x_train.shape} {x_test.shape}")
