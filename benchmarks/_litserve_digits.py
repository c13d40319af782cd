"""The LitServe side of ``serve_throughput.py``: the same torch digits network and the same inline
check (the autoencoder detector's per-image scores and threshold), batched by LitServe.

Not a benchmark itself; ``serve_throughput.py`` starts it in its own process::

    python benchmarks/_litserve_digits.py WEIGHTS.pt DETECTOR.npz PORT THREADS MAX_BATCH WAIT_S
"""

from __future__ import annotations

import base64
import sys

import litserve as ls
import numpy as np
import torch

from scanflow.check import AutoencoderDetector
from scanflow.improve.classifier import MnistCNN


class Digits(ls.LitAPI):
    def __init__(self, weights: str, detector: str, threads: int, **kwargs):
        super().__init__(**kwargs)
        self.weights, self.detector_path, self.threads = weights, detector, threads

    def setup(self, device):
        torch.set_num_threads(self.threads)
        self.net = MnistCNN()
        self.net.load_state_dict(torch.load(self.weights))
        self.net.eval()
        self.detector = AutoencoderDetector.load(self.detector_path)

    def decode_request(self, request):
        return np.frombuffer(base64.b64decode(request["image_b64"]), dtype=np.uint8).reshape(28, 28)

    def predict(self, x):
        x = np.asarray(x)
        with torch.inference_mode():
            logits = self.net(torch.from_numpy(x.astype(np.float32) / 255.0)[:, None])
            proba = torch.softmax(logits, dim=1).numpy()
        scores = self.detector.score(x)
        flags = scores > self.detector.threshold_
        if self.detector.lower_threshold_ is not None:
            flags |= scores < self.detector.lower_threshold_
        return [{"class_index": int(p.argmax()), "confidence": float(p.max()),
                 "outlier": {"is_outlier": bool(f), "score": float(s)}}
                for p, f, s in zip(proba, flags, scores, strict=True)]

    def encode_response(self, output):
        return output


def main() -> None:
    weights, detector, port, threads, max_batch, wait = sys.argv[1:7]
    api = Digits(weights, detector, int(threads), max_batch_size=int(max_batch), batch_timeout=float(wait))
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=1)
    server.run(host="127.0.0.1", port=int(port), num_api_servers=1, generate_client_file=False,
               log_level="warning")


if __name__ == "__main__":
    main()
