"""Train the small CNN on the prepared training set; log the curve and the model (no pickle)."""

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from mnist_model import SmallCNN

from scanflow.models import log_torch_model, save_torch_model
from scanflow.track import current_run_id, log_metric_series, log_metrics

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument("--lr", type=float, default=2e-3)
parser.add_argument("--channels", type=int, default=16)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
torch.manual_seed(args.seed)
out = Path(os.environ["SCANFLOW_OUTPUT_DIR"])
with np.load(out / "prepared.npz", allow_pickle=False) as data:
    x = torch.from_numpy(data["x_train"].astype(np.float32))
    y = torch.from_numpy(data["y_train"].astype(np.int64))

model = SmallCNN(channels=args.channels)
optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
losses = []
started = time.time()
for epoch in range(args.epochs):
    model.train()
    order = torch.randperm(len(x))
    epoch_loss, correct = 0.0, 0
    for i in range(0, len(x), args.batch_size):
        idx = order[i:i + args.batch_size]
        optimizer.zero_grad()
        logits = model(x[idx])
        loss = torch.nn.functional.cross_entropy(logits, y[idx])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        epoch_loss += loss.item() * len(idx)
        correct += int((logits.argmax(1) == y[idx]).sum())
    log_metrics({"train_loss": epoch_loss / len(x), "train_accuracy": correct / len(x)}, step=epoch)
    print(f"epoch {epoch + 1}/{args.epochs}: loss {epoch_loss / len(x):.4f}, "
          f"train accuracy {correct / len(x):.4f} ({time.time() - started:.1f} s)")
log_metric_series("batch_loss", losses)  # one request for the whole curve

save_torch_model(model.eval(), out / "model")
model_uri = log_torch_model(model, "model")
(out / "train.json").write_text(json.dumps({"model_uri": model_uri, "run_id": current_run_id(),
                                            "seconds": time.time() - started}))
print(f"model logged at {model_uri}")
