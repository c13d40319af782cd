"""Agents at scale: several models, each supervised by a tracker, a checker, an improver and a
planner, every agent run by several agent processes at once (replicas) on one state database.

    python scale_agents.py STATE_URL WORKDIR MODELS POLL      # one agents process (a replica)

The pieces are the real ones: the built-in agents, the runtime, the state stores, the label
store and the episodes, all on the one database. Only the model registry and the improvement
are small fakes (``agent_fakes.Registry``), each model's effects written to a ledger of its own
without any unique key, so that an effect that happened twice shows up twice.

:func:`run_scenario` is the whole exercise: it starts the agent processes, feeds every model's
predictions from its own thread (clean batches, then drifted ones) while the agents run, lets
labelers answer the labeling batches concurrently through the label store, waits until every
model has gone through its rounds, stops the agents and counts (:func:`tally`). Used by
``tests/agents/test_agents_at_scale.py`` and ``benchmarks/agents_at_scale.py``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
from agent_fakes import Ledger, MeanShiftDetector, Registry, accuracy_gate, images  # noqa: E402

from scanflow.agents import AgentRuntime, StateStore  # noqa: E402
from scanflow.app import Agent, Application  # noqa: E402
from scanflow.improve.labelers import OracleLabeler  # noqa: E402
from scanflow.improve.labels import LabelStore  # noqa: E402

BATCH, ROUND, ROUNDS = 50, 5, 4  # predictions per tracker event; labels per round; rounds
KINDS = ("tracker", "checker", "improver", "planner")


def expected_actions(batches: int, drifted: int) -> Counter:
    """The actions of one model (see tests/agents/test_crash.py for the reasoning)."""
    return Counter({"notify": batches + batches - drifted, "episode": drifted,
                    "request_labels": ROUNDS, "improve": ROUNDS, "promote": ROUNDS,
                    "note": ROUNDS})


def expected_decisions(batches: int, drifted: int) -> Counter:
    """``(kind, decision)`` counts of one model's agents."""
    return Counter({("tracker", "normal"): batches, ("checker", "normal"): batches - drifted,
                    ("checker", "alert"): drifted, ("checker", "keep"): 1,
                    ("improver", "normal"): batches - drifted, ("improver", "respond"): 1,
                    ("improver", "improve"): ROUNDS, ("improver", "next_round"): ROUNDS - 1,
                    ("improver", "done"): 1, ("planner", "promote"): ROUNDS})


def model_names(n: int) -> list[str]:
    return [f"m{i + 1}" for i in range(n)]


# ----------------------------------------------------------------------------- one process
class ModelRegistries:
    """One fake registry (and ledger) per model; the planners' ``registry`` service."""

    def __init__(self, workdir: Path, models: list[str]):
        self.by_model = {m: Registry(Ledger(workdir / f"ledger-{m}.db"), model=m, rounds=ROUNDS,
                                     notify=(f"improver-{m}", f"checker-{m}")) for m in models}

    def champion_version(self, model: str) -> str | None:
        return self.by_model[model].champion_version(model)

    def promote(self, model: str, version: Any) -> None:
        self.by_model[model].promote(model, version)

    def rollback(self, model: str) -> str:
        return self.by_model[model].rollback(model)

    def versions_tagged(self, key: str, value: str) -> list[Any]:
        return []

    def set_tag(self, model: str, version: Any, key: str, value: Any) -> None:
        pass


class CountingRuntime(AgentRuntime):
    """The runtime, counting the messages this process handled (per agent)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.handled: Counter = Counter()

    def _handle(self, definition, ctx, msg) -> bool:
        ok = super()._handle(definition, ctx, msg)
        if ok:
            self.handled[definition.name] += 1
        return ok


def build_runtime(state_url: str, workdir: Path, models: list[str], poll: float) -> CountingRuntime:
    agents = []
    for m in models:
        agents += [
            Agent(name=f"tracker-{m}", kind="tracker", talks_to=[f"checker-{m}"],
                  config={"batch_size": BATCH, "poll_every": poll, "service": m}),
            Agent(name=f"checker-{m}", kind="checker", talks_to=[f"improver-{m}"],
                  config={"settle": False, "model": m}),
            Agent(name=f"improver-{m}", kind="improver", talks_to=[f"planner-{m}"],
                  config={"model": m, "first_round": ROUND, "round_labels": ROUND,
                          "label_budget": ROUND * ROUNDS, "zero_label": "off", "poll_every": poll}),
            Agent(name=f"planner-{m}", kind="planner", config={"model": m, "watch_batches": 0}),
        ]
    app = Application(name="scale", state_dir=str(workdir / "state"), agents=agents)
    app.root = workdir
    registries = ModelRegistries(workdir, models)
    detector = MeanShiftDetector().fit(images(500, seed=1))
    config: dict[str, dict[str, Any]] = {}
    for m in models:
        config[f"checker-{m}"] = {"detector": detector}
        config[f"improver-{m}"] = {"improvement": registries.by_model[m]}
        config[f"planner-{m}"] = {"gate": accuracy_gate}
    return CountingRuntime(app, state_url, config=config,
                           services={"registry": registries, "label_store": state_url},
                           poll_interval=poll, heartbeat_every=1.0)


def main(argv: list[str]) -> None:
    state_url, workdir, n_models, poll = argv[0], Path(argv[1]), int(argv[2]), float(argv[3])
    rt = build_runtime(state_url, workdir, model_names(n_models), poll)
    print("agents running", flush=True)
    rt.run_forever()
    print(json.dumps(dict(rt.handled)), flush=True)


# ----------------------------------------------------------------------------- the scenario
@dataclass
class Scenario:
    """What to run: ``models`` models, each agent run by ``processes`` processes at once."""

    state_url: str
    workdir: Path
    models: int = 4
    processes: int = 2
    batches: int = 12
    drifted: int = 8
    labelers: int = 2
    poll: float = 0.2
    timeout: float = 120.0
    log: Path | None = None
    handled_by_process: list[Counter] = field(default_factory=list)
    elapsed: float = 0.0


def _spawn(s: Scenario, log: Any) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, str(Path(__file__).resolve()), s.state_url,
                             str(s.workdir), str(s.models), str(s.poll)],
                            stdout=subprocess.PIPE, stderr=log, text=True, env=env)


def _feed(state_url: str, model: str, s: Scenario, seed: int) -> None:
    """A model's predictions as a prediction server writes them: small batches, as they come."""
    store = StateStore(state_url)
    clean = images(BATCH * (s.batches - s.drifted), seed=seed)
    shifted = images(BATCH * s.drifted, shift=120, seed=seed + 1)
    X = np.concatenate([clean, shifted])
    for start in range(0, len(X), BATCH // 2):
        chunk = X[start:start + BATCH // 2]
        store.record_predictions(model, chunk, [0] * len(chunk), model=model)


def _label(state_url: str, name: str, stop: threading.Event) -> None:
    """A labeler answering whatever is pending, a few samples at a time (truth: id mod 10)."""
    labels = LabelStore(state_url)
    oracle = OracleLabeler(np.arange(2_000_000) % 10, name=name)
    while not stop.is_set():
        if not oracle.label_store(labels, chunk=2):
            stop.wait(0.05)


def _finished(store: StateStore, total_actions: int) -> bool:
    done = Counter(a.status for a in store.actions(limit=100_000))["done"]
    return done >= total_actions and store.count_messages() == 0


def run_scenario(s: Scenario) -> Scenario:
    """Run it (see the module docstring); raises ``TimeoutError`` naming what is missing."""
    store = StateStore(s.state_url)
    LabelStore(s.state_url)  # its tables, before the labelers and agents race to use them
    total = sum(expected_actions(s.batches, s.drifted).values()) * s.models
    log = open(s.log or s.workdir / "agents.log", "a")  # noqa: SIM115
    t0 = time.perf_counter()
    procs = [_spawn(s, log) for _ in range(s.processes)]
    stop = threading.Event()
    threads = [threading.Thread(target=_feed, args=(s.state_url, m, s, 10 * i), daemon=True)
               for i, m in enumerate(model_names(s.models))]
    threads += [threading.Thread(target=_label, args=(s.state_url, f"labeler-{k}", stop), daemon=True)
                for k in range(s.labelers)]
    try:
        for p in procs:
            line = p.stdout.readline()
            if line.strip() != "agents running":
                raise RuntimeError(f"an agents process did not start ({line!r}); see {log.name}")
        for t in threads:
            t.start()
        deadline = time.monotonic() + s.timeout
        while not _finished(store, total):
            if time.monotonic() > deadline:
                counts = Counter(a.status for a in store.actions(limit=100_000))
                raise TimeoutError(f"unfinished after {s.timeout:g}s: actions {dict(counts)} of "
                                   f"{total}, {store.count_messages()} messages waiting; see {log.name}")
            if any(p.poll() is not None for p in procs):
                raise RuntimeError(f"an agents process died; see {log.name}")
            time.sleep(0.2)
        s.elapsed = time.perf_counter() - t0
    finally:
        stop.set()
        s.handled_by_process = [_stop(p) for p in procs]
        log.close()
    return s


def _stop(proc: subprocess.Popen) -> Counter:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    lines = [ln for ln in (out or "").splitlines() if ln.startswith("{")]
    return Counter(json.loads(lines[-1])) if lines else Counter()


# ----------------------------------------------------------------------------- counting
def _model_of(agent: str) -> str:
    return agent.rsplit("-", 1)[1]


def tally(s: Scenario) -> dict[str, dict[str, Any]]:
    """Per model: events handled, actions done, duplicates and lost, and the details behind them.

    * duplicates: a message handled by more than one process, an action run more than once,
      an effect (model version, promotion) in a ledger twice, a sample asked for twice, a
      labeling batch filed twice for a round;
    * lost: an expected action not done, a message not handled, a requested label unanswered.
    """
    store, labels = StateStore(s.state_url), LabelStore(s.state_url)
    messages = store.messages(limit=1_000_000)
    actions = store.actions(limit=1_000_000)
    decisions = store.decisions(limit=1_000_000)
    handled: Counter = sum(s.handled_by_process, Counter())
    items = labels.items_of()
    out = {}
    for m in model_names(s.models):
        mine = [a for a in actions if _model_of(a.agent) == m]
        msgs = [x for x in messages if _model_of(x.recipient) == m]
        ledger = Ledger(s.workdir / f"ledger-{m}.db")
        versions = [key for _, key, _ in ledger.rows("version")]
        promotions = [d["to"] for _, _, d in ledger.rows("promote")]
        episodes = {a.result["episode"] for a in mine if a.actuator == "episode" and a.result}
        batches = sorted({it.batch for it in items
                          if any(it.batch.startswith(f"episode-{e}-") for e in episodes)})
        asked = [it.meta["prediction_id"] for it in items if it.batch in batches]
        by_process = sum(handled[a] for a in handled if _model_of(a) == m)
        done = Counter(a.actuator for a in mine if a.status == "done")
        expected = expected_actions(s.batches, s.drifted)
        dup = {"handled twice": by_process - sum(x.status == "handled" for x in msgs),
               "actions run twice": sum(a.attempts - 1 for a in mine),
               "versions": len(versions) - len(set(versions)),
               "promotions": len(promotions) - len(set(promotions)),
               "samples asked twice": len(asked) - len(set(asked)),
               "extra actions": sum((done - expected).values())}
        lost = {"actions": sum((expected - done).values()),
                "messages": sum(x.status != "handled" for x in msgs),
                "labels": sum(it.status != "labeled" for it in items if it.batch in batches)}
        out[m] = {
            "agents": s.processes * len(KINDS), "events": sum(x.status == "handled" for x in msgs),
            "actions": sum(done.values()), "duplicates": sum(dup.values()), "lost": sum(lost.values()),
            "duplicate_detail": dup, "lost_detail": lost, "done": done,
            "decisions": Counter((d.agent.split("-")[0], d.decision) for d in decisions
                                 if _model_of(d.agent) == m),
            "promotions": promotions, "batches": batches, "episodes": sorted(episodes),
            "message_kinds": Counter(x.kind for x in msgs),
            "processes_that_handled": sum(1 for c in s.handled_by_process
                                          if any(_model_of(a) == m and n for a, n in c.items())),
        }
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
