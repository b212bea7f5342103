"""Figures of the analysis stage (seaborn/matplotlib, Agg backend), each saved as PNG and PDF.

Every figure is always written, with a note in the axes where its data is missing, so that the set of
output files does not depend on the data (a fixed list of Snakemake outputs). ``FIGURE_CAPTIONS`` holds
the report captions, keyed by file stem.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from snntopo.analysis.config import AnalysisConfig
from snntopo.analysis.drop import TARGET_ABSOLUTE, TARGET_FALLBACK, TARGET_RELATIVE, add_target
from snntopo.analysis.features import GROUP_ORDER, parse_columns
from snntopo.plots.mge import draw_mge, example_mge
from snntopo.topometric_names import MGE_METRICS

FIGURE_CAPTIONS: dict[str, str] = {
    "accuracy_vs_sparsity": "Test accuracy against sparsity per pruning algorithm (colour), model (columns) "
    "and dataset (rows); mean over seeds, bands = standard deviation; dashed line = dense accuracy where "
    "known.",
    "r2_by_feature_set": "Out-of-fold R² of the accuracy drop per feature set, for each grouping protocol "
    "(columns) and regression model (colour); points = mean over groups, bars = 95 % bootstrap interval. "
    "R² below −1 is drawn at −1.",
    "importance_heatmaps": "Normalised importance of each metric, per sparsity (left) and per architecture "
    "(right): permutation importance of the tree model on held-out folds (top) and |standardised OLS "
    "coefficient| (bottom).",
    "importance_group_heatmaps": "Normalised importance of the five metric groups of the MGE study, per "
    "sparsity (left) and per architecture (right); permutation importance (top), |OLS coefficient| (bottom).",
    "ranking_tau": "Agreement between pruner rankings and the true ranking by mean accuracy, per candidate "
    "(supervised: cross-validated predicted drop of a feature set and model; unsupervised: Ramanujan-type "
    "network scores); mean Kendall τ_b and top-1 agreement over (model, dataset, sparsity) groups with 95 % "
    "bootstrap intervals.",
    "metric_vs_drop": "Each metric against the accuracy-drop target, one point per network, coloured by "
    "model, with a least-squares line per model.",
    "mge_drawing": "Multipartite graph encoding of a small sparse network, vertices coloured by partition "
    "(layer), laid out by partition; edge width ∝ |w|.",
}


def _save(fig: plt.Figure, base: Path, extra: Sequence[Any] = ()) -> list[Path]:
    """PNG + PDF. Layouts are made tight before saving (no ``bbox_inches="tight"``, which would draw the
    figure once more per file) unless artists outside the axes (``extra``, e.g. a figure legend) need it."""
    base.parent.mkdir(parents=True, exist_ok=True)
    png, pdf = base.with_suffix(".png"), base.with_suffix(".pdf")
    tight = {"bbox_inches": "tight", "bbox_extra_artists": list(extra)} if extra else {}
    fig.savefig(png, dpi=100, metadata={"Software": None}, **tight)
    fig.savefig(pdf, metadata={"CreationDate": None, "Producer": None}, **tight)
    plt.close(fig)
    return [png, pdf]


def _save_with_legend(
    fig: plt.Figure, base: Path, handles: list[Any], labels: list[str], title: str
) -> list[Path]:
    """Figure legend right of the axes, then :func:`_save` (which makes room for it)."""
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, title=title)
    fig.tight_layout()
    return _save(fig, base, extra=fig.legends)


def _placeholder(base: Path, text: str) -> list[Path]:
    fig, ax = plt.subplots(figsize=(5, 2))
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    ax.set_axis_off()
    fig.tight_layout()
    return _save(fig, base)


def _target_label(frame: pd.DataFrame) -> str:
    kinds = set(frame["target"].unique())
    labels = {
        TARGET_RELATIVE: "relative accuracy drop",
        TARGET_ABSOLUTE: "absolute accuracy drop",
        TARGET_FALLBACK: "1 − accuracy (dense accuracy unknown)",
    }
    return " / ".join(labels[k] for k in sorted(kinds)) or "target"


def _grid(n_rows: int, n_cols: int, width: float, height: float) -> tuple[plt.Figure, np.ndarray]:
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(width * n_cols, height * n_rows), squeeze=False)
    return fig, axes


def accuracy_vs_sparsity(
    frame: pd.DataFrame, tables: Mapping[str, pd.DataFrame], cfg: AnalysisConfig, base: Path
) -> list[Path]:
    if frame.empty:
        return _placeholder(base, "no network")
    # aggregate once with pandas and draw with matplotlib axes: seaborn's per-facet aggregation is slow
    stats = frame.groupby(["dataset", "model", "pruner", "sparsity"], sort=True)["accuracy"].agg(
        ["mean", "std"]
    )
    stats = stats.reset_index()
    datasets, models = sorted(frame["dataset"].unique()), sorted(frame["model"].unique())
    pruners = sorted(frame["pruner"].unique())
    colours = dict(zip(pruners, sns.color_palette("tab20", len(pruners)), strict=True))
    dense = frame.groupby(["dataset", "model"])["dense_ref"].mean()
    fig, axes = _grid(len(datasets), len(models), 3.3, 2.6)
    for i, ds in enumerate(datasets):
        for j, model in enumerate(models):
            ax = axes[i][j]
            cell = stats[(stats["dataset"] == ds) & (stats["model"] == model)]
            for pruner, line in cell.groupby("pruner", sort=True):
                x, m, sd = (
                    line["sparsity"].to_numpy(),
                    line["mean"].to_numpy(),
                    line["std"].fillna(0).to_numpy(),
                )
                ax.plot(x, m, marker="o", ms=3, lw=1, color=colours[pruner], label=pruner)
                ax.fill_between(x, m - sd, m + sd, color=colours[pruner], alpha=0.15, lw=0)
            if np.isfinite(dense.get((ds, model), np.nan)):
                ax.axhline(dense[(ds, model)], ls="--", c="k", lw=0.8)
            ax.set_title(f"{ds} / {model}", fontsize=9)
            ax.set_xlabel("sparsity" if i == len(datasets) - 1 else "")
            ax.set_ylabel("test accuracy" if j == 0 else "")
    handles = [plt.Line2D([], [], color=colours[p], marker="o", ms=3, lw=1) for p in pruners]
    return _save_with_legend(fig, base, handles, pruners, "pruner")


def r2_by_feature_set(
    frame: pd.DataFrame, tables: Mapping[str, pd.DataFrame], cfg: AnalysisConfig, base: Path
) -> list[Path]:
    reg = tables.get("regression", pd.DataFrame())
    ok = reg[reg["status"] == "ok"] if len(reg) else reg
    if ok.empty:
        return _placeholder(base, "no regression result")
    ok = ok.assign(r2=ok["r2"].clip(lower=-1.0))
    order = sorted(ok["feature_set"].unique())
    g = sns.catplot(
        data=ok,
        x="r2",
        y="feature_set",
        hue="estimator",
        col="protocol",
        kind="point",
        order=order,
        errorbar=("ci", 95),
        seed=cfg.seed,
        n_boot=max(cfg.bootstrap, 1),
        linestyle="none",
        dodge=0.4,
        height=0.35 * len(order) + 1.5,
        aspect=1.3,
    )
    for ax in g.axes.flat:
        ax.axvline(0, c="grey", lw=0.6)
        ax.set_xlim(-1.05, 1.05)
        ax.set_xlabel("out-of-fold R²")
    g.tight_layout()
    return _save(g.figure, base)


def _heatmap_grid(data: pd.DataFrame, row_col: str, row_order: list[str], base: Path, fs: str) -> list[Path]:
    """2 × 2 heat maps: (permutation, OLS) × (per sparsity, per architecture) of ``importance``."""
    sources = [("permutation", "permutation importance"), ("ols_coef", "|std. OLS coefficient|")]
    bys = [("sparsity", "per sparsity"), ("model", "per architecture")]
    sub = data[data["feature_set"] == fs] if len(data) else data
    if sub.empty:
        return _placeholder(base, "no importance result")
    rows = [r for r in row_order if r in set(sub[row_col])]
    fig, axes = plt.subplots(2, 2, figsize=(12, 0.28 * len(rows) * 2 + 2.5), squeeze=False)
    for i, (src, src_label) in enumerate(sources):
        for j, (by, by_label) in enumerate(bys):
            ax = axes[i][j]
            d = sub[(sub["source"] == src) & (sub["by"] == by)]
            if d.empty:
                ax.text(0.5, 0.5, "no data", ha="center", va="center")
                ax.set_axis_off()
                continue
            wide = d.pivot_table(index=row_col, columns="level", values="importance", aggfunc="mean")
            wide = wide.reindex(rows)
            sns.heatmap(
                wide,
                ax=ax,
                cmap="viridis",
                vmin=0,
                annot=len(rows) <= 8,
                fmt=".2f",
                cbar=True,
                yticklabels=True,
            )
            ax.set_title(f"{src_label}, {by_label} ({fs})", fontsize=9)
            ax.set_xlabel(by)
            ax.set_ylabel("")
            ax.tick_params(labelsize=8)
    fig.tight_layout()
    return _save(fig, base)


def importance_heatmaps(
    frame: pd.DataFrame, tables: Mapping[str, pd.DataFrame], cfg: AnalysisConfig, base: Path
) -> list[Path]:
    data = tables.get("importance_metrics", pd.DataFrame())
    if len(data):
        # family prefix only where a feature set mixes families; rows in the order of the metric groups
        single = data.groupby("feature_set")["family"].transform("nunique") == 1
        data = data.assign(label=np.where(single, data["metric"], data["family"] + ":" + data["metric"]))
        rank = {m: i for i, m in enumerate(MGE_METRICS)}
        gorder = {g: i for i, g in enumerate(GROUP_ORDER)}
        labels = data.drop_duplicates("label").assign(
            _g=lambda d: d["group"].map(gorder), _m=lambda d: d["metric"].map(rank).fillna(len(rank))
        )
        order = labels.sort_values(["_g", "_m", "label"], kind="mergesort")["label"].tolist()
    else:
        order = []
    fs = cfg.importance_feature_sets[0] if cfg.importance_feature_sets else ""
    return _heatmap_grid(data, "label", order, base, fs)


def importance_group_heatmaps(
    frame: pd.DataFrame, tables: Mapping[str, pd.DataFrame], cfg: AnalysisConfig, base: Path
) -> list[Path]:
    data = tables.get("importance_groups", pd.DataFrame())
    fs = cfg.importance_feature_sets[0] if cfg.importance_feature_sets else ""
    return _heatmap_grid(data, "group", list(GROUP_ORDER), base, fs)


def ranking_tau(
    frame: pd.DataFrame, tables: Mapping[str, pd.DataFrame], cfg: AnalysisConfig, base: Path
) -> list[Path]:
    s = tables.get("ranking_summary", pd.DataFrame())
    s = s[s["n_groups"] > 0] if len(s) else s
    if s.empty:
        return _placeholder(base, "no ranking result")
    s = s.sort_values(["kind", "kendall_tau"], kind="mergesort").reset_index(drop=True)
    y = np.arange(len(s))
    colours = s["kind"].map({"supervised": "tab:blue", "unsupervised": "tab:orange"})
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.32 * len(s) + 1.5), sharey=True, squeeze=False)
    panels = ((axes[0][0], "kendall_tau", "Kendall τ_b"), (axes[0][1], "top1", "top-1 agreement"))
    for ax, col, label in panels:
        mean = s[col].to_numpy(float)
        lo = np.nan_to_num(mean - s[f"{col}_low"].to_numpy(float))
        hi = np.nan_to_num(s[f"{col}_high"].to_numpy(float) - mean)
        ax.errorbar(mean, y, xerr=[lo, hi], fmt="none", ecolor="grey", elinewidth=1)
        ax.scatter(mean, y, c=list(colours), zorder=3)
        ax.axvline(0, c="grey", lw=0.6)
        ax.set_xlabel(label)
    axes[0][0].set_yticks(y, s["candidate"])
    kinds = {"supervised": "tab:blue", "unsupervised": "tab:orange"}
    handles = [plt.Line2D([], [], color=c, marker="o", lw=0) for c in kinds.values()]
    axes[0][1].legend(handles, list(kinds), loc="lower right", fontsize=8)
    fig.tight_layout()
    return _save(fig, base)


def metric_vs_drop(
    frame: pd.DataFrame, tables: Mapping[str, pd.DataFrame], cfg: AnalysisConfig, base: Path
) -> list[Path]:
    if cfg.scatter_features is not None:
        cols = [c for c in cfg.scatter_features if c in frame]
    else:
        cols = [f"mge:{m}" for m in MGE_METRICS if f"mge:{m}" in frame]
        if not cols:
            parts = parse_columns(frame.columns)
            cols = sorted(parts.loc[parts["layer"] < 0, "column"])[:16]
    if not cols or frame.empty:
        return _placeholder(base, "no network-level metric to plot")
    models = sorted(frame["model"].unique())
    colours = dict(zip(models, sns.color_palette("deep", len(models)), strict=True))
    n_cols = min(4, len(cols))
    n_rows = -(-len(cols) // n_cols)
    fig, axes = _grid(n_rows, n_cols, 2.6, 2.3)
    y_all = frame["y"].to_numpy(float)
    for k, col in enumerate(cols):
        ax = axes[k // n_cols][k % n_cols]
        x_all = frame[col].to_numpy(float)
        for model in models:
            sel = (frame["model"].to_numpy() == model) & np.isfinite(x_all) & np.isfinite(y_all)
            x, y = x_all[sel], y_all[sel]
            ax.scatter(x, y, s=5, alpha=0.5, color=colours[model], rasterized=True, label=model)
            if len(x) > 2 and np.ptp(x) > 0:  # least-squares line per model
                slope, icept = np.polyfit(x, y, 1)
                xs = np.array([x.min(), x.max()])
                ax.plot(xs, icept + slope * xs, color=colours[model], lw=1.2)
        ax.set_title(col, fontsize=8)
        ax.tick_params(labelsize=7)
    for k in range(len(cols), n_rows * n_cols):
        axes[k // n_cols][k % n_cols].set_axis_off()
    fig.supylabel(_target_label(frame), fontsize=9)
    handles = [plt.Line2D([], [], color=colours[m], marker="o", lw=0) for m in models]
    return _save_with_legend(fig, base, handles, models, "model")


def mge_drawing(
    frame: pd.DataFrame, tables: Mapping[str, pd.DataFrame], cfg: AnalysisConfig, base: Path
) -> list[Path]:
    if cfg.mge_graph:
        import graph_tool as gt

        g = gt.load_graph(str(cfg.mge_graph))
    else:
        g = example_mge(seed=cfg.seed)
    return draw_mge(g, base)


FigureFn = Callable[[pd.DataFrame, Mapping[str, pd.DataFrame], AnalysisConfig, Path], list[Path]]
FIGURES: dict[str, FigureFn] = {
    "accuracy_vs_sparsity": accuracy_vs_sparsity,
    "r2_by_feature_set": r2_by_feature_set,
    "importance_heatmaps": importance_heatmaps,
    "importance_group_heatmaps": importance_group_heatmaps,
    "ranking_tau": ranking_tau,
    "metric_vs_drop": metric_vs_drop,
    "mge_drawing": mge_drawing,
}


def make_figures(
    table: pd.DataFrame,
    tables: Mapping[str, pd.DataFrame],
    outdir: str | os.PathLike[str],
    config: Mapping[str, Any] | AnalysisConfig | None = None,
) -> list[Path]:
    """Draw every figure of ``FIGURES`` into ``outdir`` as ``<name>.png`` and ``<name>.pdf``.

    ``tables`` are the result tables of ``run_regression``, ``run_importance`` and ``run_ranking``
    (missing ones give a placeholder figure). Config keys used: ``drop, dense_reference, seed, bootstrap,
    importance_feature_sets, scatter_features, mge_graph``.
    """
    cfg = AnalysisConfig.from_dict(config)
    frame = add_target(table, cfg.drop, cfg.dense_reference)
    outdir = Path(outdir)
    paths: list[Path] = []
    with sns.axes_style("whitegrid"), plt.rc_context({"figure.max_open_warning": 0}):
        for name, fn in FIGURES.items():
            paths += fn(frame, tables, cfg, outdir / name)
    return paths
