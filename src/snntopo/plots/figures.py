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
    "r2_by_feature_set": "Out-of-fold R² of the accuracy drop per feature set, per grouping protocol (rows) "
    "and cross-validation scheme (columns: held-out configurations = every seed and identical mask of a "
    "configuration held out together; seen configurations = shuffled k-fold over networks), learner by "
    "colour. Every panel averages over the same groups: those where every feature set, the constant floor "
    "and the seed-noise ceiling ran (n in the title). Points = mean over groups, bars = 95 % bootstrap "
    "interval; R² below −1 is drawn at −1.",
    "importance_heatmaps": "Normalised importance of each metric, per sparsity (left) and per architecture "
    "(right): permutation importance of the tree model on held-out configurations (top; with correlated "
    "metrics it understates each of them) and |standardised OLS coefficient| (bottom; only groups where "
    "OLS applies and every VIF ≤ 10, since collinear metrics get cancelling coefficients).",
    "importance_group_heatmaps": "Normalised importance of the five metric groups of the MGE study, per "
    "sparsity (left) and per architecture (right); permutation importance on held-out configurations "
    "(top), |OLS coefficient| where every VIF ≤ 10 (bottom).",
    "ranking_tau": "Agreement between pruner rankings and the true ranking by mean accuracy, per candidate "
    "and CV scheme (supervised: predicted drop of a feature set and learner, relative to the training "
    "folds' mean; the held-out pruner scheme is the honest one; unsupervised: Ramanujan-type network "
    "scores; ceiling: one seed's ranking against the mean of the other seeds); mean Kendall τ_b "
    "(hierarchical bootstrap interval: seeds within configurations, then groups) and top-1 agreement.",
    "metric_vs_drop": "Each metric (rows) against the accuracy-drop target, one panel per dataset (columns), "
    "one point per network coloured by model, with a least-squares line per model. Axes span the 1st–99th "
    "percentiles so outliers do not squash the rest; the number of points outside is noted in the panel.",
    "mge_drawing": "By default a toy example, not a network of the study: the multipartite graph "
    "encoding of a small random sparse MLP (or of the graph named in analysis.mge_graph), vertices "
    "coloured by partition (layer), laid out by partition; edge width ∝ |w|.",
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
    # every figure-level artist (legends and sup-labels): a list of the legends alone would make the tight
    # bounding box ignore fig.supylabel and crop it
    return _save(fig, base, extra=fig.get_default_bbox_extra_artists())


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
    from snntopo.analysis.cv import CV_SCHEMES
    from snntopo.analysis.regression import group_ids

    ok = ok[ok["cv"].isin(cfg.cv)]
    ok = ok.assign(r2=ok["r2"].clip(lower=-1.0), _gid=group_ids(ok))
    protocols = sorted(ok["protocol"].unique())
    schemes = [c for c in cfg.cv if c in set(ok["cv"])]
    estimators = sorted(ok.loc[ok["kind"] == "features", "estimator"].unique())
    palette = dict(zip(estimators, sns.color_palette("deep", len(estimators)), strict=True))
    palette.update({"mean": (0.4, 0.4, 0.4), "seed_mean": (0.0, 0.0, 0.0)})
    order = sorted(ok["feature_set"].unique(), key=lambda f: (f.startswith(("floor", "ceiling")), f))
    fig, axes = _grid(len(protocols), len(schemes), 5.0, 0.3 * len(order) + 1.6)
    for i, protocol in enumerate(protocols):
        for j, cv in enumerate(schemes):
            ax = axes[i][j]
            d = ok[(ok["protocol"] == protocol) & (ok["cv"] == cv)]
            per = d.groupby("feature_set")["_gid"].agg(set)
            common = set.intersection(*per) if len(per) else set()
            d = d[d["_gid"].isin(common)]
            if d.empty:
                ax.text(0.5, 0.5, "no group common to every feature set", ha="center", va="center")
                ax.set_axis_off()
                continue
            n_boot = min(max(cfg.bootstrap, 1), 200)  # the figure's intervals; the tables carry the full ones
            sns.pointplot(data=d, x="r2", y="feature_set", hue="estimator", order=order, palette=palette,
                          errorbar=("ci", 95), seed=cfg.seed, n_boot=n_boot, linestyle="none",
                          dodge=0.5, ax=ax, legend=False)  # fmt: skip
            ax.axvline(0, c="grey", lw=0.6)
            ax.set_xlim(-1.05, 1.05)
            ax.set_xlabel("out-of-fold R²")
            ax.set_ylabel("")
            ax.set_title(
                f"{protocol}, {CV_SCHEMES.get(cv).label} ({cv}): n = {len(common)} groups", fontsize=9
            )
    names = [*estimators, "mean", "seed_mean"]
    handles = [plt.Line2D([], [], color=palette[e], marker="o", lw=0) for e in names]
    labels = [*estimators, "constant floor", "seed-noise ceiling"]
    return _save_with_legend(fig, base, handles, labels, "learner")


def _heatmap_grid(
    data: pd.DataFrame, row_col: str, row_order: list[str], base: Path, fs: str, cv: str
) -> list[Path]:
    """2 × 2 heat maps: (permutation, OLS) × (per sparsity, per architecture) of ``importance``."""
    sources = [("permutation", "permutation importance"), ("ols_coef", "|std. OLS coefficient|")]
    bys = [("sparsity", "per sparsity"), ("model", "per architecture")]
    sub = data[data["feature_set"] == fs] if len(data) else data
    if len(sub) and "cv" in sub:  # permutation importances of the first (honest) scheme; OLS has none
        sub = sub[sub["cv"].isin([cv, "none"])]
    if sub.empty:
        return _placeholder(base, "no importance result")
    rows = [r for r in row_order if r in set(sub[row_col])]
    fig, axes = plt.subplots(2, 2, figsize=(12, 0.28 * len(rows) * 2 + 2.5), squeeze=False)
    for i, (src, src_label) in enumerate(sources):
        for j, (by, by_label) in enumerate(bys):
            ax = axes[i][j]
            d = sub[(sub["source"] == src) & (sub["by"] == by)]
            if d.empty:
                why = "no data" if src != "ols_coef" else "no coefficient importance:\nVIF > 10 or p not ≪ n"
                ax.text(0.5, 0.5, why, ha="center", va="center")
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
            where = f", {cv}" if src == "permutation" else ""
            ax.set_title(f"{src_label}, {by_label} ({fs}{where})", fontsize=9)
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
    return _heatmap_grid(data, "label", order, base, fs, cfg.cv[0])


def importance_group_heatmaps(
    frame: pd.DataFrame, tables: Mapping[str, pd.DataFrame], cfg: AnalysisConfig, base: Path
) -> list[Path]:
    data = tables.get("importance_groups", pd.DataFrame())
    fs = cfg.importance_feature_sets[0] if cfg.importance_feature_sets else ""
    return _heatmap_grid(data, "group", list(GROUP_ORDER), base, fs, cfg.cv[0])


def ranking_tau(
    frame: pd.DataFrame, tables: Mapping[str, pd.DataFrame], cfg: AnalysisConfig, base: Path
) -> list[Path]:
    s = tables.get("ranking_summary", pd.DataFrame())
    s = s[s["n_groups"] > 0] if len(s) else s
    if s.empty:
        return _placeholder(base, "no ranking result")
    s = s.sort_values(["kind", "cv", "kendall_tau"], kind="mergesort").reset_index(drop=True)
    y = np.arange(len(s))
    kinds = {"supervised": "tab:blue", "unsupervised": "tab:orange", "ceiling": "black"}
    colours = s["kind"].map(kinds).fillna("tab:grey")
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.32 * len(s) + 1.5), sharey=True, squeeze=False)
    panels = ((axes[0][0], "kendall_tau", "Kendall τ_b"), (axes[0][1], "top1", "top-1 agreement"))
    for ax, col, label in panels:
        mean = s[col].to_numpy(float)
        # a hierarchical interval need not contain the point estimate (resampling the seeds adds noise to
        # the truth, which lowers τ): draw the part of the interval on each side of the point
        lo = np.clip(np.nan_to_num(mean - s[f"{col}_low"].to_numpy(float)), 0, None)
        hi = np.clip(np.nan_to_num(s[f"{col}_high"].to_numpy(float) - mean), 0, None)
        ax.errorbar(mean, y, xerr=[lo, hi], fmt="none", ecolor="grey", elinewidth=1)
        ax.scatter(mean, y, c=list(colours), zorder=3, plotnonfinite=False)
        ax.axvline(0, c="grey", lw=0.6)
        ax.set_xlabel(label)
    labels = [c if cv == "none" else f"{c} ({cv})" for c, cv in zip(s["candidate"], s["cv"], strict=True)]
    axes[0][0].set_yticks(y, labels)
    handles = [plt.Line2D([], [], color=c, marker="o", lw=0) for c in kinds.values()]
    axes[0][1].legend(handles, list(kinds), loc="lower right", fontsize=8)
    fig.tight_layout()
    return _save(fig, base)


def robust_limits(values: np.ndarray, q: float = 0.01, pad: float = 0.05) -> tuple[float, float]:
    """Axis limits spanning the q–(1 − q) quantiles of the finite ``values``, padded by ``pad``."""
    v = values[np.isfinite(values)]
    if v.size == 0:
        return (0.0, 1.0)
    lo, hi = np.quantile(v, [q, 1.0 - q])
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    span = hi - lo
    return (float(lo - pad * span), float(hi + pad * span))


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
    datasets = sorted(frame["dataset"].astype(str).unique())
    colours = dict(zip(models, sns.color_palette("deep", len(models)), strict=True))
    # A row holds whole sets of datasets, at least four panels wide: one data set must not give a
    # one-column strip of 16 panels.
    n_cols = len(datasets) * max(1, 4 // len(datasets))
    n_panels = len(cols) * len(datasets)
    fig, axes = _grid(-(-n_panels // n_cols), n_cols, 2.6, 2.0)
    for ax in axes.flat[n_panels:]:
        ax.set_axis_off()
    y_all = frame["y"].to_numpy(float)
    ds_all, model_all = frame["dataset"].astype(str).to_numpy(), frame["model"].to_numpy()
    for i, col in enumerate(cols):
        x_all = frame[col].to_numpy(float)
        for j, ds in enumerate(datasets):
            ax = axes.flat[i * len(datasets) + j]
            in_ds = (ds_all == ds) & np.isfinite(x_all) & np.isfinite(y_all)
            xlim, ylim = robust_limits(x_all[in_ds]), robust_limits(y_all[in_ds])
            for model in models:
                sel = in_ds & (model_all == model)
                x, y = x_all[sel], y_all[sel]
                ax.scatter(x, y, s=5, alpha=0.5, color=colours[model], rasterized=True)
                if len(x) > 2 and np.ptp(x) > 0:  # least-squares line per model
                    slope, icept = np.polyfit(x, y, 1)
                    xs = np.array([x.min(), x.max()])
                    ax.plot(xs, icept + slope * xs, color=colours[model], lw=1.2)
            x, y = x_all[in_ds], y_all[in_ds]
            outside = int(((x < xlim[0]) | (x > xlim[1]) | (y < ylim[0]) | (y > ylim[1])).sum())
            if outside:
                ax.text(0.98, 0.02, f"{outside} outside", transform=ax.transAxes, ha="right", fontsize=6)
            ax.set_xlim(*xlim)
            ax.set_ylim(*ylim)
            ax.set_title(f"{col.split(':', 1)[-1]} · {ds}", fontsize=7)
            ax.tick_params(labelsize=7)
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
