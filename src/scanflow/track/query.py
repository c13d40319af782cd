"""Runs as a pandas DataFrame: one row per run, ``params.*``, ``metrics.*``, ``tags.*`` columns,
plus Scanflow's own ``kind``, ``node``, ``workflow``, ``scanflow_run_id`` and ``parent_run_id``.

>>> df = runs_dataframe(app=load_app("examples/mnist"), kind="node")      # doctest: +SKIP
>>> df[["node", "status", "metrics.test_accuracy"]]                        # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .replay import sync_tracking
from .store import experiment_name, fluent_tracking_uri, get_client, registry_uri, tracking_uri

if TYPE_CHECKING:
    import pandas as pd

    from ..app import Application


def runs_dataframe(experiment: str | list[str] | None = None, app: Application | None = None,
                   kind: str | None = None, run_id: str | None = None, filter_string: str = "",
                   max_results: int = 10_000, order_by: list[str] | None = None) -> pd.DataFrame:
    """Search runs and return them as a DataFrame (newest first).

    Parameters
    ----------
    experiment : name or names; default the application's experiment, else every experiment.
    app : the application whose tracker (URI, experiment) to query.
    kind : ``"workflow"`` (parent runs), ``"group"`` or ``"node"``.
    run_id : only the runs of this Scanflow run (its parent run and every nested run).
    filter_string : an MLflow search filter, ANDed with the above.
    """
    # lazy: mlflow (importing scanflow.track must not load it); pandas likewise
    import mlflow
    import pandas as pd  # lazy: as above

    uri = tracking_uri(app)
    sync_tracking(uri)  # the deferred runs' records first
    client = get_client(uri, registry_uri(app))
    names = [experiment] if isinstance(experiment, str) else experiment
    if names is None and app is not None:
        names = [experiment_name(app)]
    if names is None:
        ids = [e.experiment_id for e in client.search_experiments()]
    else:
        ids = [e.experiment_id for n in names if (e := client.get_experiment_by_name(n)) is not None]
    clauses = [filter_string] if filter_string else []
    if kind:
        clauses.append(f"tags.`scanflow.kind` = '{kind}'")
    if run_id:
        clauses.append(f"tags.`scanflow.run_id` = '{run_id}'")
    if not ids:
        return pd.DataFrame(columns=["run_id", "experiment_id", "status", "start_time", "end_time"])
    with fluent_tracking_uri(uri):
        df = mlflow.search_runs(experiment_ids=ids, filter_string=" and ".join(clauses),
                                max_results=max_results, order_by=order_by or ["attributes.start_time DESC"],
                                output_format="pandas")
    for column, tag in (("kind", "scanflow.kind"), ("node", "scanflow.node"),
                        ("workflow", "scanflow.workflow"), ("scanflow_run_id", "scanflow.run_id"),
                        ("parent_run_id", "mlflow.parentRunId"), ("run_name", "mlflow.runName")):
        key = f"tags.{tag}"
        df[column] = df[key] if key in df.columns else None
    return df


class MlflowRuns:
    """Finished runs of an experiment, oldest first (what the tracker agent's runs sensor reads)."""

    def __init__(self, app: Application | None = None):
        self.uri = tracking_uri(app)
        self.client = get_client(self.uri, registry_uri(app))

    def finished_runs(self, experiment: str, after_ms: float) -> list[dict]:
        sync_tracking(self.uri)  # runs of `scanflow run` reach the store a moment after it ends
        exp = self.client.get_experiment_by_name(experiment)
        if exp is None:
            return []
        runs = self.client.search_runs(
            [exp.experiment_id], order_by=["attributes.end_time ASC"], max_results=100,
            filter_string=f"attributes.status = 'FINISHED' and attributes.end_time > {int(after_ms)}")
        return [{"run_id": r.info.run_id, "run_name": r.info.run_name, "end_time": r.info.end_time,
                 "status": r.info.status, "metrics": dict(r.data.metrics)} for r in runs]
