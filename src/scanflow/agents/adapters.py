"""Default callables of the built-in agents: thin adapters to scanflow.run, scanflow.track,
scanflow.check and scanflow.improve, imported only when an agent first needs them.

Each entry of :data:`DEFAULTS` is ``factory(ctx) -> callable``; an agent's ``config`` entry of
the same name (a Python object or ``"pkg.module:function"``) replaces it. Tests and notebooks
inject small functions this way; deployments get the real rooms.

=====================  =====================================================================
``runs_source``        ``(experiment, after_ms) -> [run dict]`` finished MLflow runs
``labels_progress``    ``() -> {"labeled", "batches": {name: counts}}`` from the label store
``label_enqueue``      ``LabelStore.enqueue``
``label_batch_exists`` ``(batch) -> bool``
``detector``           ``Detector.load(config.detector_path)``
``select``             ``(X, budget, result, detector) -> positions`` (scanflow.improve selectors)
``champion_version``   ``(model) -> version | None`` (the ``champion`` alias)
``promote``            ``(model, version)``; ``rollback``: ``(model) -> version``
``gate``               ``(candidate) -> GateDecision`` (scanflow.improve EvaluationGate)
``improve``            ``(request, key) -> candidate`` (scanflow.improve one-round loop)
``find_candidate``     ``(key) -> candidate | None`` (model versions tagged with the key)
``run_workflow``       ``(app, workflow=, node=, parameters=, key=, note=) -> run dict``
``find_run``           ``(app, key) -> run dict | None``: finishes an interrupted run (resume)
=====================  =====================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .agent import AgentContext

__all__ = ["DEFAULTS", "label_store_url"]


def _need_app(ctx: AgentContext, what: str) -> Any:
    if ctx.app is None:
        raise RuntimeError(f"agent {ctx.name!r}: {what} needs the Application; run the agents with "
                           f"AgentRuntime(app, ...) or set config.{what}")
    return ctx.app


def label_store_url(ctx: AgentContext) -> str:
    """``config.label_store``, else ``<state dir>/labels.db`` (what ``scanflow label`` uses)."""
    if ctx.config.get("label_store"):
        return str(ctx.config["label_store"])
    if ctx.app is not None:
        return f"sqlite:///{(ctx.app.state_path / 'labels.db').resolve()}"
    return ctx.store.url


def _label_store(ctx: AgentContext):
    from scanflow.improve.labels import LabelStore

    if "_label_store" not in ctx._cache:
        ctx._cache["_label_store"] = LabelStore(label_store_url(ctx))
    return ctx._cache["_label_store"]


def _labels_progress(ctx):
    def progress() -> dict[str, Any]:
        store = _label_store(ctx)
        out = dict(store.progress())
        out["batches"] = store.batch_progress()
        return out
    return progress


def _label_enqueue(ctx):
    def enqueue(X, **kwargs):
        X = np.asarray(X)
        if X.dtype.kind == "f" and X.ndim == 3 and X.size and X.max() > 1.5:
            X = np.clip(np.rint(X), 0, 255).astype(np.uint8)  # images logged as floats 0..255
        return _label_store(ctx).enqueue(X, **kwargs)
    return enqueue


def _label_batch_exists(ctx):
    return lambda batch: _label_store(ctx).has_batch(batch)


def _detector(ctx):
    path = ctx.config.get("detector_path")
    if not path:
        raise KeyError(f"agent {ctx.name!r} ({ctx.kind}) needs a detector: set config.detector "
                       "(a fitted detector or 'pkg.mod:attr') or config.detector_path (a file saved "
                       "with Detector.save)")
    from scanflow.check import Detector

    full = Path(path)
    if not full.is_absolute() and ctx.app is not None:
        full = ctx.app.root / full
    return Detector.load(full)


def _select(ctx):
    name = ctx.config.get("selector", "auto")
    params = dict(ctx.config.get("selector_params") or {})
    seed = int(ctx.config.get("seed", 0))

    def by_scores(X, budget, result, detector):
        scores = result.get("instance_scores")
        flags = result.get("is_outlier")
        if scores is None:
            return np.arange(min(budget, len(X)))
        scores = np.asarray([-np.inf if s is None else s for s in scores], dtype=float)
        cand = np.flatnonzero(np.asarray(flags, dtype=bool)) if flags is not None else np.arange(len(X))
        return cand[np.argsort(-scores[cand], kind="stable")][:budget]

    def select(X, budget, result, detector):
        chosen = name
        if chosen == "auto":
            chosen = "reconstruction" if hasattr(detector, "reconstruction_error") else "scores"
        if chosen == "scores":
            return by_scores(X, budget, result, detector)
        from scanflow.improve.selection import get_selector

        model = ctx.service("model") if ctx.config.get("model") is not None else None
        return get_selector(chosen, **params).select(X, budget, detector=detector, model=model, seed=seed)
    return select


def _client(ctx):
    from scanflow.track import get_client, tracking_uri
    from scanflow.track.store import registry_uri

    if "_mlflow_client" not in ctx._cache:
        ctx._cache["_mlflow_client"] = get_client(tracking_uri(ctx.app), registry_uri(ctx.app))
    return ctx._cache["_mlflow_client"]


def _champion_version(ctx):
    from scanflow.track import get_alias_version

    return lambda model: get_alias_version(model, "champion", client=_client(ctx))


def _promote(ctx):
    from scanflow.track import promote

    return lambda model, version: promote(model, version, client=_client(ctx))


def _rollback(ctx):
    from scanflow.track import rollback

    return lambda model: rollback(model, client=_client(ctx))


def _gate(ctx):
    try:
        from scanflow.improve.gate import EvaluationGate
    except ImportError as exc:
        raise RuntimeError(f"agent {ctx.name!r}: no default evaluation gate ({exc}); set config.gate "
                           "to a function candidate -> (promote, reason)") from None
    gate = EvaluationGate(**dict(ctx.config.get("gate_params") or {}))

    def decide(candidate: dict[str, Any]):
        # GateDecision.decide(champion_metrics, candidate_metrics)
        return gate.decide(candidate.get("baseline_metrics") or {}, candidate.get("metrics") or {})
    return decide


def _improve(ctx):
    """One round of :func:`scanflow.improve.loop.run_round` on what people labeled.

    Needs ``config.train_data`` (``() -> (X, y)``: the champion's training data) and
    ``config.eval_data`` (``() -> {"clean": (X, y)}``: held-out clean data); a share
    ``holdout`` of the labeled samples is kept aside as the drifted slice. The candidate is
    registered under ``registered_model`` (default: the application's name), tagged with the
    action key so a restart finds it instead of training again.
    """
    import json

    from scanflow.improve.gate import EvaluationGate, register_candidate
    from scanflow.improve.loop import run_round
    from scanflow.improve.strategies import get_strategy

    app = _need_app(ctx, "improve")
    for needed in ("train_data", "eval_data"):
        if ctx.config.get(needed) is None:
            raise KeyError(f"agent {ctx.name!r} (improver) needs config.{needed} for the default "
                           "improvement ('pkg.mod:function' returning the data), or config.improve")

    def improve(request: dict[str, Any], key: str) -> dict[str, Any]:
        import mlflow

        from scanflow.track import ensure_experiment, load_torch_model, tracking_uri

        name = ctx.config.get("registered_model") or app.name
        mlflow.set_tracking_uri(tracking_uri(app))
        champion = load_torch_model(name, alias="champion")
        store = _label_store(ctx)
        batches = request.get("batches") or [None]
        parts = [store.labeled(b) for b in batches]
        X_lab = np.concatenate([p[1] for p in parts])
        y_lab = np.concatenate([p[2] for p in parts])

        class Labels:
            def label(self, indices):
                return y_lab[np.asarray(indices, dtype=int)]

        X_train, y_train = ctx.service("train_data")()
        result = run_round(
            champion, None, X_lab, selector=None, labeler=Labels(),
            strategy=get_strategy(request.get("strategy") or "retrain", **(request.get("strategy_params") or {})),
            gate=EvaluationGate(**dict(ctx.config.get("gate_params") or {})),
            X_train=X_train, y_train=y_train, eval_slices=ctx.service("eval_data")(),
            holdout=float(ctx.config.get("holdout", 0.3)), selected=np.arange(len(X_lab)),
            budget=len(X_lab))
        if result.candidate is None:
            raise RuntimeError(f"no candidate: {result.decision.reason}")
        with mlflow.start_run(experiment_id=ensure_experiment(app), run_name=f"improve {request.get('strategy')}",
                              tags={"scanflow.action_key": key, "scanflow.agent": ctx.name}) as run:
            mlflow.log_metrics({f"candidate_{k}": v for k, v in result.candidate_metrics.items()
                                if np.isfinite(v)})
            version = register_candidate(result.candidate, name, run_id=run.info.run_id,
                                         tags={"scanflow.action_key": key})
        candidate = {"model": name, "version": str(version), "strategy": request.get("strategy") or "",
                     "metrics": result.candidate_metrics, "baseline_metrics": result.champion_metrics,
                     "run_id": run.info.run_id}
        _client(ctx).set_model_version_tag(name, str(version), "scanflow.candidate", json.dumps(candidate))
        return candidate
    return improve


def _find_candidate(ctx):
    def find(key: str) -> dict[str, Any] | None:
        client = _client(ctx)
        found = client.search_model_versions(f"tags.`scanflow.action_key` = '{key}'")
        if not found:
            return None
        mv = found[0]
        tags = mv.tags or {}
        import json

        return json.loads(tags["scanflow.candidate"]) if "scanflow.candidate" in tags else {
            "model": mv.name, "version": str(mv.version)}
    return find


def _one_node_app(app, workflow: str, node: str):
    """A copy of ``app`` whose ``workflow`` holds only ``node`` (run one executor alone)."""
    wf = app.workflow(workflow)
    single = wf.node(node).model_copy(update={"depends_on": []})
    copy = app.model_copy(deep=True)
    copy.workflows = [w if w.name != workflow else wf.model_copy(update={"nodes": [single]})
                      for w in copy.workflows]
    copy.root = app.root
    return copy


def _run_workflow(ctx):
    def run(app, *, workflow: str, node: str | None = None, parameters: dict | None = None,
            key: str = "", note: Callable[[dict], None] | None = None, **_: Any) -> dict[str, Any]:
        from scanflow.run import run_workflow

        target = _one_node_app(app, workflow, node) if node else app
        noted: list[str] = []

        def progress(event) -> None:  # remember the run id before anything runs
            if note is not None and not noted:
                noted.append(event.run_id)
                note({"run_id": event.run_id})
        result = run_workflow(target, workflow=workflow, progress=progress, handle_signals=False)
        return {"run_id": result.run_id, "status": result.status, "workflow": workflow, "node": node}
    return run


def _find_run(ctx):
    def find(app, key: str) -> dict[str, Any] | None:
        from scanflow.run import RunNotFound, find_run, run_workflow

        rec = ctx.store.action(key)
        run_id = ((rec.result or {}) if rec else {}).get("run_id")
        if not run_id:
            return None  # the crash came before the run started: running it is safe
        params = rec.params if rec else {}
        try:
            state = find_run(app.state_path, run_id)
        except RunNotFound:
            return None
        status = state.data.get("status")
        if status == "succeeded":
            return {"run_id": run_id, "status": status, "recovered": True}
        target = _one_node_app(app, params["workflow"], params["node"]) if params.get("node") else app
        result = run_workflow(target, workflow=params.get("workflow"), resume=run_id, handle_signals=False)
        return {"run_id": result.run_id, "status": result.status, "resumed": True}
    return find


def _runs_source(ctx):
    def source(experiment: str, after_ms: float) -> list[dict[str, Any]]:
        client = _client(ctx)
        exp = client.get_experiment_by_name(experiment)
        if exp is None:
            return []
        runs = client.search_runs([exp.experiment_id],
                                  filter_string=f"attributes.status = 'FINISHED' and attributes.end_time > {int(after_ms)}",
                                  order_by=["attributes.end_time ASC"], max_results=100)
        return [{"run_id": r.info.run_id, "run_name": r.info.run_name, "end_time": r.info.end_time,
                 "status": r.info.status, "metrics": dict(r.data.metrics)} for r in runs]
    return source


def _model(ctx):
    return ctx.resolve(ctx.config["model"])


DEFAULTS: dict[str, Callable[[AgentContext], Any]] = {
    "runs_source": _runs_source,
    "labels_progress": _labels_progress,
    "label_enqueue": _label_enqueue,
    "label_batch_exists": _label_batch_exists,
    "detector": _detector,
    "select": _select,
    "champion_version": _champion_version,
    "promote": _promote,
    "rollback": _rollback,
    "gate": _gate,
    "improve": _improve,
    "find_candidate": _find_candidate,
    "run_workflow": _run_workflow,
    "find_run": _find_run,
    "model": _model,
}
