"""``scanflow check``: compare new data with reference data using a registered detector.

    scanflow check --reference mnist:train --data fog.npy [--detector default] \
        [--report out.html] [--json] [--track]

DATA is a file or packaged data (``mnist:test``); ``--detector`` is a registered detector's name
(fitted on ``--reference``) or a fitted detector file (``--save`` writes one). Prints a Rich
table (or, with ``--json``, the :class:`~scanflow.check.CheckResult` as JSON on stdout),
optionally writes an HTML report and logs to MLflow.

On table data, a second table lists the most drifted features (``--top-features``, 10 by
default, 0 to hide) of every detector that reports per-feature results (see
:func:`scanflow.check.feature_ranking`): ``ks`` and ``chi2`` (statistic, p-value), ``psi``
(PSI), ``ae`` / ``default`` / ``pca`` (reconstruction-error ratio vs the reference).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from .common import fail
from .exits import PROBLEM

__all__ = ["check"]


def _parse_params(items: list[str] | None) -> dict:
    params = {}
    for item in items or []:
        if "=" not in item:
            raise typer.BadParameter(f"--param {item!r}: use KEY=VALUE, e.g. --param epochs=5")
        key, value = item.split("=", 1)
        try:
            params[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            params[key.strip()] = value
    return params


def _print_table(result, console) -> None:
    table = Table(title=f"scanflow check — {result.detector}")
    table.add_column("field")
    table.add_column("value")
    verdict = "[bold red]DRIFT[/]" if result.is_drift else "[bold green]no drift[/]"
    table.add_row("verdict", verdict)
    for key in ("score", "threshold", "p_value", "n_samples"):
        value = getattr(result, key)
        table.add_row(key, "—" if value is None else f"{value:.4g}" if isinstance(value, float)
                      else str(value))
    if result.is_outlier is not None:
        table.add_row("flagged samples", f"{result.n_outliers} / {len(result.is_outlier)}")
    table.add_row("rule", str(result.metadata.get("decision_rule", "")))
    for name, comp in (result.metadata.get("components") or {}).items():
        p = comp.get("p_value")
        table.add_row(f"  {name}", f"drift={comp.get('is_drift')} p={p:.3g}" if p is not None
                      else f"drift={comp.get('is_drift')}")
    for issue in (result.metadata.get("issues") or [])[:20]:
        table.add_row(f"  {issue.get('check')}", str(issue.get("message")))
    if result.metadata.get("note"):
        table.add_row("note", str(result.metadata["note"]))
    console.print(table)


def _print_features(result, console, top: int) -> None:
    from scanflow.check import feature_ranking  # lazy: scanflow.check loads SciPy

    rows = feature_ranking(result, top=top)
    if not rows:
        return
    n_all = len(feature_ranking(result, top=None))
    table = Table(title="most drifted features", caption=f"top {len(rows)} of {n_all}")
    table.add_column("feature")
    table.add_column(rows[0]["statistic_name"], justify="right")
    has_p = any(row["p_value"] is not None for row in rows)
    if has_p:
        table.add_column("p-value", justify="right")
    for row in rows:
        cells = [row["feature"], "—" if row["statistic"] is None else f"{row['statistic']:.4g}"]
        if has_p:
            cells.append("—" if row["p_value"] is None else f"{row['p_value']:.3g}")
        table.add_row(*cells)
    console.print(table)


DataOpt = typer.Option(..., "--data", "-d", metavar="DATA",
                       help="New data: a file (.npy, .npz, .csv, .parquet, IDX, CIFAR-10 batch) "
                            "or packaged data (mnist:test, mnist:train, segment).")


def check(
    data: str = DataOpt,
    reference: str | None = typer.Option(None, "--reference", "-r", metavar="DATA", help="Reference data to fit on (same forms as --data)."),
    detector: str = typer.Option("default", "--detector", metavar="NAME|FILE", help="A registered detector (ae, ks, mmd, chi2, psi, pca, integrity, latent, pose, default or a plugin) fitted on --reference, or a fitted detector file (from --save)."),
    param: list[str] | None = typer.Option(None, "--param", "-p", help="Detector setting KEY=VALUE (repeatable)."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Use the first N samples of each data only."),
    save: Path | None = typer.Option(None, "--save", help="Save the fitted detector (.npz)."),
    report: Path | None = typer.Option(None, "--report", help="Write an HTML report here."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON only."),
    track: bool = typer.Option(False, "--track", help="Log the result to MLflow."),
    tracking_uri: str | None = typer.Option(None, "--tracking-uri", help="MLflow tracking URI (implies --track)."),
    fail_on_drift: bool = typer.Option(False, "--fail-on-drift", help="Exit with code 1 when drift is found."),
    threads: int | None = typer.Option(None, "--threads", help="torch threads."),
    top_features: int = typer.Option(10, "--top-features", min=0, help="Table data: list this many most drifted features (0 hides the list)."),
    load: Path | None = typer.Option(None, "--load", hidden=True, help="deprecated: --detector FILE"),
) -> None:
    """Check new data against reference data: drift, outliers, integrity."""
    console = Console(stderr=as_json)
    if threads:
        _set_torch_threads(threads)
    det, result, X_new = _run_check(data, reference, str(load or detector), param, limit, save,
                                    console)
    if report is not None:
        _write_report(report, result, det, X_new, {"reference": reference or load or detector,
                                                   "data": data})
    run_id = None
    if track or tracking_uri:
        from scanflow.check.tracking import log_check  # lazy: loads MLflow

        run_id = log_check(result, params={"detector": det.name, "reference": reference,
                                           "data": data, **det.get_params()},
                           report=report, tracking_uri=tracking_uri)
    if as_json:
        typer.echo(result.to_json())
    else:
        _print_result(result, det, console, top_features, report, run_id)
    if fail_on_drift and result.is_drift:
        raise typer.Exit(PROBLEM)


def _run_check(data: str, reference: str | None, detector: str, param: list[str] | None,
               limit: int | None, save: Path | None, console: Console):
    """``(detector, result, X_new)``: the detector fitted (or loaded) and its verdict on ``data``."""
    # lazy: scanflow.check and scanflow.datasets load SciPy, which the other commands skip
    from scanflow.check import Detector
    from scanflow.check.base import DetectorInputError  # lazy: as above
    from scanflow.datasets import DatasetError, load_any  # lazy: as above

    try:
        X_new = _first(load_any(data)[0], limit)
        det = (Detector.load(detector) if _is_file(detector)
               else _fit(detector, reference, param, limit, console))
        if save is not None:
            det.save(save)
        return det, det.predict(X_new), X_new
    except (DatasetError, DetectorInputError, FileNotFoundError, ValueError, TypeError) as exc:
        fail(exc)


def _is_file(detector: str) -> bool:
    return bool(Path(detector).suffix) or Path(detector).exists()


def _first(X, limit: int | None):
    if limit is None:
        return X
    return X.iloc[:limit] if hasattr(X, "iloc") else X[:limit]


def _write_report(report: Path, result, det, X_new, sources: dict) -> None:
    from scanflow.check.report import write_report  # lazy: loads matplotlib

    images = X_new if getattr(X_new, "ndim", 0) >= 3 else None
    write_report(report, result, det, X_new=images, sources=sources)


def _print_result(result, det, console: Console, top_features: int, report: Path | None,
                  run_id: str | None) -> None:
    _print_table(result, console)
    if top_features and getattr(det, "input_kind_", None) != "image":
        _print_features(result, console, top_features)
    if report is not None:
        console.print(f"report: {report}")
    if run_id:
        console.print(f"MLflow run: {run_id}")


def _set_torch_threads(threads: int) -> None:
    import torch  # lazy: torch takes seconds to import and most detectors do not need it

    torch.set_num_threads(threads)


def _fit(name: str, reference: str | None, param: list[str] | None, limit: int | None,
         console: Console):
    """A new detector ``name`` with the ``--param`` settings, fitted on the reference data."""
    # lazy: scanflow.check and scanflow.datasets load SciPy, which the other commands skip
    from scanflow.check import available_detectors, get_detector_class
    from scanflow.datasets import load_any  # lazy: as above

    if reference is None:
        fail("give --reference DATA (data to fit on) or --detector FILE (a fitted detector)")
    if name not in available_detectors():
        fail(f"unknown detector {name!r}; available: {', '.join(available_detectors())}, "
             "or a fitted detector file")
    X_ref = _first(load_any(reference)[0], limit)
    det = get_detector_class(name)(**_parse_params(param))
    with console.status(f"fitting {name} on {Path(reference).name}"):
        det.fit(X_ref)
    return det
