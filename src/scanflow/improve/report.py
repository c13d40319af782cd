"""The report of the MNIST-C experiment: ``results.json``, ``report.md``, ``report.html``, plots.

Tables (Markdown, also printed by ``benchmarks/improve_grid.py``):

* the setting: base accuracy clean / drifted, detector flag rates, the clean-stream check;
* accuracy after improvement versus labels spent, per selection × improvement strategy
  (mean ± std over seeds);
* accuracy per corruption before and after improvement (best combination).

Plots (PNG, matplotlib's Agg backend): accuracy versus labels per strategy, and per-corruption
accuracy before/after.

Example:
    >>> print(markdown_table(["a", "b"], [[1, "x"]]))
    | a | b |
    | --- | --- |
    | 1 | x |
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..html import markdown_page

__all__ = ["grid_table", "markdown_table", "per_corruption_table", "setting_table", "write_report"]


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = [
        "| " + " | ".join(map(str, header)) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
    ]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    return "\n".join(lines)


def _pm(entry: dict, key: str) -> str:
    if key not in entry:
        return "-"
    std = entry.get(key + "_std", 0.0)
    return (
        f"{100 * entry[key]:.1f} ± {100 * std:.1f}"
        if entry.get("n_seeds", 1) > 1
        else (f"{100 * entry[key]:.1f}")
    )


def setting_table(results: dict[str, Any]) -> str:
    rows = []
    for seed_result in results["per_seed"]:
        base = seed_result["base_metrics"]
        rows.append(
            [
                seed_result["seed"],
                f"{100 * base['clean_accuracy']:.2f}",
                f"{100 * base['drifted_accuracy']:.2f}",
                f"{100 * seed_result['pool_flagged_share']:.1f}",
                f"{100 * seed_result['clean_pool_flagged_share']:.1f}",
                seed_result["clean_pool_is_drift"],
            ]
        )
    clean = {c["seed"]: c for c in results.get("clean_stream", [])}
    for row in rows:
        clean_round = clean.get(row[0])
        row.append(
            "-"
            if clean_round is None
            else f"{clean_round['labels_used']} labels, {'PROMOTED' if clean_round['promote'] else 'no promotion'}"
        )
    return markdown_table(
        [
            "seed",
            "base clean acc %",
            "base drifted acc %",
            "drifted pool flagged %",
            "clean pool flagged %",
            "clean pool drift alarm",
            "clean stream round",
        ],
        rows,
    )


def grid_table(results: dict[str, Any]) -> str:
    """Drifted (clean) accuracy per selection × strategy (rows) and budget (columns)."""
    grid = results["grid"]
    budgets = sorted({e["budget"] for e in grid})
    keys = sorted({(e["strategy"], e["selection"]) for e in grid})
    by = {(e["strategy"], e["selection"], e["budget"]): e for e in grid}
    base = f"{100 * results['base_corrupted_accuracy']:.1f}"
    rows = []
    for strat, sel in keys:
        row = [strat, sel, base]
        for b in budgets:
            e = by.get((strat, sel, b))
            row.append(
                "-" if e is None else f"{_pm(e, 'drifted_accuracy')} ({_pm(e, 'clean_accuracy')})"
            )
        rows.append(row)
    return markdown_table(
        ["strategy", "selection", "base"] + [f"{b} labels" for b in budgets], rows
    )


def selection_table(results: dict[str, Any]) -> str:
    """How many distinct corruptions each selection strategy's batch covers, per budget."""
    grid = results["grid"]
    budgets = sorted({e["budget"] for e in grid})
    sels = sorted({e["selection"] for e in grid})
    by = {}
    for e in grid:
        by.setdefault((e["selection"], e["budget"]), e)
    rows = [
        [s]
        + [
            f"{by[(s, b)]['labels_used']:.0f} / {by[(s, b)]['distinct_corruptions']:.1f}"
            if (s, b) in by
            else "-"
            for b in budgets
        ]
        for s in sels
    ]
    return markdown_table(["selection"] + [f"{b}: labels / corruptions" for b in budgets], rows)


def per_corruption_table(results: dict[str, Any]) -> str:
    base = results.get("base_per_corruption", {})
    after = results.get("improved_per_corruption", {})
    rows = []
    for name in sorted(base, key=lambda n: base[n]):
        a = after.get(name)
        rows.append(
            [
                name,
                f"{100 * base[name]:.1f}",
                "-" if a is None else f"{100 * a:.1f}",
                "-" if a is None else f"{100 * (a - base[name]):+.1f}",
            ]
        )
    label = (
        f"{results.get('selection')} + {results.get('strategy')}, {results.get('budget')} labels"
    )
    return markdown_table(["corruption", "base %", f"after ({label}) %", "change"], rows)


def headline(results: dict[str, Any]) -> str:
    if "improved_corrupted_accuracy" not in results:
        return "No improvement was run."
    r = results
    rec = r.get("recovered_fraction")
    parts = [
        f"Labeler: **{r['labeler']}**"
        + (" (ground truth: an oracle, not a human)" if r["labeler"] == "oracle" else ""),
        f"Base model: clean {100 * r['base_clean_accuracy']:.2f} %, mixed-corruption stream "
        f"{100 * r['base_corrupted_accuracy']:.2f} %.",
        f"Best with at most {r['budget']} labels: **{r['selection']} + {r['strategy']}** → "
        f"mixed stream {100 * r['improved_corrupted_accuracy']:.2f} %, clean "
        f"{100 * r['improved_clean_accuracy']:.2f} % ({r['labels_used']:.0f} labels)"
        + (
            f"; recovers {100 * rec:.0f} % of the accuracy lost to corruption"
            if rec is not None
            else ""
        )
        + ".",
    ]
    if r.get("same_strategy_random_accuracy") is not None:
        parts.append(
            f"Same strategy and budget with random selection: "
            f"{100 * r['same_strategy_random_accuracy']:.2f} %; with the paper's "
            f"reconstruction ranking: "
            + (
                f"{100 * r['same_strategy_reconstruction_accuracy']:.2f} %."
                if r.get("same_strategy_reconstruction_accuracy") is not None
                else "-"
            )
        )
    parts.append(
        "Clean stream: "
        + (
            "a promotion happened (unexpected)."
            if r.get("clean_stream_promoted")
            else "no promotion."
        )
    )
    reg = r.get("registry")
    if reg:
        parts.append(
            f"Registry: candidate v{reg['candidate_version']} of `{reg['model']}` "
            f"{'promoted to champion' if reg['promoted'] else 'not promoted'} "
            f"(champion v{reg['champion_before']} → v{reg['champion_after']}); "
            f"undo with `{reg['rollback_command']}`."
        )
    return "\n".join(f"- {p}" for p in parts)


def _plots(results: dict[str, Any], out: Path) -> list[str]:
    """Draw the report's figures into ``out``; return their file names."""
    import matplotlib  # lazy: matplotlib takes a while to import and only the report draws

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: after choosing the Agg backend above

    files = [_accuracy_vs_labels_plot(plt, results, out)]
    if results.get("base_per_corruption", {}):
        files.append(_per_corruption_plot(plt, results, out))
    return files


def _accuracy_vs_labels_plot(plt, results: dict[str, Any], out: Path) -> str:
    """One panel per strategy: drifted accuracy against labels spent, a line per selector."""
    grid = results["grid"]
    strategies = sorted({e["strategy"] for e in grid})
    selections = sorted({e["selection"] for e in grid})
    fig, axes = plt.subplots(
        1, len(strategies), figsize=(5 * len(strategies), 4), sharey=True, squeeze=False
    )
    for ax, strategy in zip(axes[0], strategies, strict=True):
        for selection in selections:
            entries = sorted(
                (e for e in grid if e["strategy"] == strategy and e["selection"] == selection),
                key=lambda e: e["budget"],
            )
            if not entries:
                continue
            ax.errorbar(
                [e["labels_used"] for e in entries],
                [100 * e["drifted_accuracy"] for e in entries],
                yerr=[100 * e.get("drifted_accuracy_std", 0) for e in entries],
                marker="o",
                capsize=3,
                label=selection,
            )
        ax.axhline(100 * results["base_corrupted_accuracy"], color="grey", ls="--", label="base")
        ax.axhline(100 * results["base_clean_accuracy"], color="black", ls=":", label="base, clean")
        ax.set_title(f"strategy: {strategy}")
        ax.set_xlabel("labels spent")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("accuracy on the mixed-corruption stream (%)")
    axes[0][-1].legend(fontsize=8)
    return _save(plt, fig, out, "accuracy_vs_labels.png")


def _per_corruption_plot(plt, results: dict[str, Any], out: Path) -> str:
    """Bars per corruption: the base model's accuracy, and the improved one's when known."""
    base = results["base_per_corruption"]
    after = results.get("improved_per_corruption", {})
    names = sorted(base, key=lambda n: base[n])
    fig, ax = plt.subplots(figsize=(10, 4))
    xs = range(len(names))
    ax.bar([x - 0.2 for x in xs], [100 * base[n] for n in names], 0.4, label="base")
    if after:
        ax.bar(
            [x + 0.2 for x in xs],
            [100 * after.get(n, 0) for n in names],
            0.4,
            label=f"after: {results.get('selection')} + {results.get('strategy')}",
        )
    ax.set_xticks(list(xs), names, rotation=45, ha="right")
    ax.set_ylabel("accuracy (%)")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    return _save(plt, fig, out, "per_corruption.png")


def _save(plt, fig, out: Path, name: str) -> str:
    """Lay out, write ``out/name`` and close the figure; return ``name``."""
    fig.tight_layout()
    fig.savefig(out / name, dpi=90)
    plt.close(fig)
    return name


def _markdown(results: dict[str, Any], plots: list[str]) -> str:
    cfg = results.get("config", {})
    sections = [
        "# Scanflow experiment: MNIST-C, human-in-the-loop improvement",
        headline(results),
        "## Setting",
        f"Seeds {cfg.get('seeds')}; pool of {cfg.get('pool_size')} drifted test digits (the "
        f"selector's choices) and a disjoint evaluation part of {cfg.get('eval_size')} (mixed "
        f"corruptions; clean accuracy on {cfg.get('clean_size')} of them uncorrupted). "
        f"Gate: gain >= {cfg.get('min_gain')} on the drifted slice, clean drop <= "
        f"{cfg.get('max_clean_drop')}."
        + (" **Quick run: the grid is cut.**" if cfg.get("quick") else ""),
        setting_table(results),
        "## Accuracy after improvement versus labels spent",
        "Mixed-corruption stream accuracy % (clean accuracy % in brackets), mean ± std over seeds.",
        grid_table(results),
        "Labels actually used / distinct corruptions among the selected samples (mean over seeds):",
        selection_table(results),
        "## Per corruption",
        per_corruption_table(results),
    ]
    sections += [f"![{p}]({p})" for p in plots]
    sections.append(f"Run time: {results.get('seconds')} s.")
    return "\n\n".join(sections) + "\n"


def write_report(results: dict[str, Any], output_dir: str | Path) -> dict[str, Path]:
    """Write ``results.json``, ``report.md``, ``report.html`` and the plots into ``output_dir``."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"results": out / "results.json"}
    paths["results"].write_text(json.dumps(results, indent=1, default=str))
    plots = _plots(results, out) if results.get("grid") else []
    md = _markdown(results, plots)
    paths["markdown"] = out / "report.md"
    paths["markdown"].write_text(md)
    paths["html"] = out / "report.html"
    paths["html"].write_text(markdown_page(md, "Scanflow MNIST-C experiment"))
    for p in plots:
        paths[p] = out / p
    return paths
