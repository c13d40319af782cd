"""Serving throughput: 16 concurrent clients sending single images, inline checks on.

Side by side in one run, the same torch network and the same fitted autoencoder detector:

  scanflow, one by one    PredictionService(micro_batch=1, check="inline"): each request its own
                          forward passes, the check before the answer (the baseline of issue 13)
  scanflow, micro-batched PredictionService(micro_batch=32, micro_batch_wait=0.002, check=
                          "inline"): concurrent requests share one forward pass of the model and
                          one of the check, before the answer
  scanflow, batched+deferred  the same with check="deferred" (the default): the requests are
                          answered first; a worker checks what was answered meanwhile in one call
  litserve, batched       LitServe (max_batch_size=32, batch_timeout=0.002) with the same network
                          and the same per-image check; skipped when litserve is not installed

Every server runs on 127.0.0.1; the clients (raw HTTP/1.1 on asyncio, one keep-alive connection
each, a closed loop: each sends its next image when the previous one is answered) run in a
process of their own. The rounds alternate the servers; reported: the median over rounds of requests per second,
latency p50 / p99 (ms), mean batch size, the ratio to "scanflow, one by one", and the longest
wait after a round for the deferred checks to catch up ("drain", counted in that round's time).

    .venv/bin/python benchmarks/serve_throughput.py [--quick] [--clients 16] [--threads 2]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import httpx
import numpy as np

HERE = Path(__file__).resolve().parent


# -- the clients (run as `serve_throughput.py --client HOST PORT SECONDS CLIENTS BODIES`) -------
# Raw HTTP/1.1 over asyncio streams, one keep-alive connection per client: a load generator that
# costs ~0.1 ms of CPU per request (httpx costs several), so that the servers, not the clients,
# use the CPU being measured.

def _request(port: int, body: bytes) -> bytes:
    return (f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next(int(line.split(b":", 1)[1]) for line in head.lower().split(b"\r\n")
                  if line.startswith(b"content-length:"))
    await reader.readexactly(length)
    return status


async def _client(host: str, port: int, requests: list[bytes], stop_at: float, lat: list[float],
                  errors: list[int], offset: int) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    i = offset
    while time.perf_counter() < stop_at:
        t0 = time.perf_counter()
        writer.write(requests[i % len(requests)])
        status = await _read_response(reader)
        (lat.append(time.perf_counter() - t0) if status == 200 else errors.append(status))
        i += 1
    writer.close()


async def _load(host: str, port: int, seconds: float, clients: int, bodies: Path) -> dict:
    requests = [_request(port, line.encode()) for line in bodies.read_text().splitlines()]
    lat: list[float] = []
    errors: list[int] = []
    start = time.perf_counter()
    await asyncio.gather(*(_client(host, port, requests, start + seconds, lat, errors, 37 * k)
                           for k in range(clients)))
    return {"n": len(lat), "seconds": time.perf_counter() - start, "latencies": lat, "errors": len(errors)}


def run_clients(url: str, seconds: float, clients: int, bodies: Path) -> dict:
    host, port = url.removeprefix("http://").split(":")
    out = subprocess.run([sys.executable, __file__, "--client", host, port, str(seconds), str(clients), str(bodies)],
                         capture_output=True, text=True, check=True, timeout=seconds + 300)
    return json.loads(out.stdout.strip().splitlines()[-1])


def write_bodies(folder: Path) -> Path:
    """512 MNIST test images as /predict bodies, one JSON per line."""
    from scanflow.datasets import load_mnist

    X, _ = load_mnist("test", limit=512)
    path = folder / "bodies.jsonl"
    path.write_text("\n".join(json.dumps({"image_b64": base64.b64encode(x.tobytes()).decode()}) for x in X))
    return path


# -- the servers ----------------------------------------------------------------------------------

def fixtures(quick: bool, folder: Path):
    """The network (random weights: they do not change the time) and a fitted detector."""
    import torch

    from scanflow.check import AutoencoderDetector
    from scanflow.datasets import load_mnist
    from scanflow.improve.classifier import MnistCNN

    X, _ = load_mnist("train", limit=500 if quick else 2000)
    torch.manual_seed(0)
    net = MnistCNN().eval()
    det = AutoencoderDetector(epochs=1 if quick else 4, random_state=0).fit(X)
    torch.save(net.state_dict(), folder / "net.pt")
    det.save(folder / "detector.npz")
    return net, det


class ScanflowServer:
    def __init__(self, net, det, micro_batch: int, check: str):
        from scanflow.serve.model_slot import ModelSlot, StaticModelSource
        from scanflow.serve.predict import PredictionService, create_prediction_app
        from scanflow.serve.server import ServerThread

        self.service = PredictionService(ModelSlot(StaticModelSource(net, name="digits"), poll_interval=0),
                                         detector=det, drift_window=200, micro_batch=micro_batch,
                                         check=check)
        self.server = ServerThread(create_prediction_app(self.service)).start()
        self.url = self.server.url

    def batch_counts(self) -> tuple[int, int]:
        b = self.service.batcher
        return (self.service.n_requests_, self.service.n_requests_) if b is None else (b.n_batches_, b.n_inputs_)

    def drain(self) -> float:
        """Seconds until the checks of every answered request have run (deferred checks)."""
        t0 = time.perf_counter()
        self.service.wait_for_checks()
        return time.perf_counter() - t0

    def stop(self) -> None:
        self.server.stop()


class LitServeServer:
    def __init__(self, folder: Path, threads: int):
        from scanflow.serve.server import free_port

        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log = open(folder / "litserve.log", "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "_litserve_digits.py"), str(folder / "net.pt"),
             str(folder / "detector.npz"), str(port), str(threads), "32", "0.002"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 180) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"litserve exited; see {self.log.name}")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"litserve not ready after {timeout} s; see {self.log.name}")

    def batch_counts(self) -> None:
        return None

    def drain(self) -> float:
        return 0.0

    def stop(self) -> None:
        os.killpg(self.proc.pid, 15)
        self.proc.wait(30)
        self.log.close()


def start_servers(net, det, folder: Path, threads: int) -> dict:
    servers = {"scanflow, one by one": ScanflowServer(net, det, micro_batch=1, check="inline"),
               "scanflow, micro-batched": ScanflowServer(net, det, micro_batch=32, check="inline"),
               "scanflow, batched+deferred": ScanflowServer(net, det, micro_batch=32, check="deferred")}
    try:
        import litserve  # noqa: F401
    except ImportError:
        print("litserve is not installed: its row is skipped (pip install litserve)")
        return servers
    servers["litserve, batched"] = LitServeServer(folder, threads)
    return servers


# -- the table ------------------------------------------------------------------------------------

def measure(servers: dict, rounds: int, seconds: float, clients: int, bodies: Path) -> dict:
    for server in servers.values():  # warm-up: workers, caches, the batcher's estimate
        run_clients(server.url, min(2.0, seconds), clients, bodies)
    results: dict = {name: [] for name in servers}
    for r in range(rounds):
        order = list(servers) if r % 2 == 0 else list(reversed(servers))
        for name in order:
            before = servers[name].batch_counts()
            out = run_clients(servers[name].url, seconds, clients, bodies)
            out["drain"] = servers[name].drain()  # a check still queued is work of this round
            out["seconds"] += out["drain"]
            after = servers[name].batch_counts()
            out["mean_batch"] = None if before is None else (after[1] - before[1]) / max(1, after[0] - before[0])
            results[name].append(out)
    return results


def print_table(results: dict, clients: int, threads: int, rounds: int) -> None:
    base = statistics.median(o["n"] / o["seconds"] for o in results["scanflow, one by one"])
    print(f"\n/predict throughput, {clients} concurrent clients, single images, inline checks on; "
          f"torch threads={threads}; median of {rounds} round(s); cpu count {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f}\n")
    print(f"{'server':<27} {'req/s':>8} {'ratio':>7} {'p50 ms':>8} {'p99 ms':>8} {'batch':>6} {'errors':>7} "
          f"{'drain ms':>9}")
    for name, outs in results.items():
        rps = statistics.median(o["n"] / o["seconds"] for o in outs)
        lat = np.concatenate([o["latencies"] for o in outs]) * 1000
        batches = [o["mean_batch"] for o in outs if o["mean_batch"] is not None]
        batch = f"{statistics.mean(batches):.1f}" if batches else "-"
        drain = max(o["drain"] for o in outs) * 1000
        print(f"{name:<27} {rps:>8.1f} {rps / base:>6.2f}x {np.percentile(lat, 50):>8.1f} "
              f"{np.percentile(lat, 99):>8.1f} {batch:>6} {sum(o['errors'] for o in outs):>7} {drain:>9.1f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="one round of 3 s per server")
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--threads", type=int, default=2, help="torch threads (every server)")
    p.add_argument("--rounds", type=int, default=None, help="default 3 (1 with --quick)")
    p.add_argument("--client", nargs=5, help=argparse.SUPPRESS)  # HOST PORT SECONDS CLIENTS BODIES
    args = p.parse_args()
    if args.client:
        host, port, secs, n, bodies = args.client
        return print(json.dumps(asyncio.run(_load(host, int(port), float(secs), int(n), Path(bodies)))))
    import torch

    torch.set_num_threads(args.threads)
    rounds = args.rounds or (1 if args.quick else 3)
    seconds = 3.0 if args.quick else 10.0
    with tempfile.TemporaryDirectory(prefix="scanflow-serve-bench-") as tmp:
        net, det = fixtures(args.quick, Path(tmp))
        bodies = write_bodies(Path(tmp))
        servers = start_servers(net, det, Path(tmp), args.threads)
        try:
            results = measure(servers, rounds, seconds, args.clients, bodies)
        finally:
            for server in servers.values():
                server.stop()
    print_table(results, args.clients, args.threads, rounds)


if __name__ == "__main__":
    main()
