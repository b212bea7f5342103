"""The DST topology figure: network-level metrics of the mask snapshots against the optimizer step.

Input: the table of :func:`snntopo.metrics.evolution.collect_topology` (columns ``dataset, model, seed,
pruner, sparsity, step, family, layer, metric, value``). One column of panels per (dataset, model), one
row per metric, one line per (DST algorithm, sparsity): the mean over seeds, the band spanning the
seeds' minimum and maximum.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.lines import Line2D

from snntopo.metrics.evolution import NETWORK
from snntopo.plots.figures import _placeholder, _save

#: panels (``family:metric`` of network-level values) drawn by default, where the table has them
DEFAULT_PANELS: tuple[str, ...] = (
    "density:global",
    "mask:changed",
    "mask:exploration",
    "ramanujan:mean_delta_r_norm",
    "ramanujan:mean_imdb_norm",
    "ramanujan:mean_iter_spectral_gap",
    "fullspectrum:mean_norm",
    "rolled:mean_spectral_gap",
    "rolled_channel:mean_spectral_gap",
)
CAPTION = (
    "Topology of the mask during dynamic sparse training: network-level metrics of every mask snapshot "
    "(x: optimizer step; step 0 = the initial mask), one line per DST algorithm and sparsity, mean over "
    "seeds, band = range over seeds."
)


def plot_dst_topology(
    table: pd.DataFrame, base: str | os.PathLike[str], panels: Sequence[str] | None = None
) -> list[Path]:
    """Write ``base``.png and ``base``.pdf; returns both paths. ``panels``: ``family:metric`` names
    (default :data:`DEFAULT_PANELS`); those absent from ``table`` are left out. An empty table (or one with
    none of the panels) gives a figure that says so, so that the outputs always exist."""
    base = Path(base)
    network = _network_values(table, panels or DEFAULT_PANELS)
    if network.empty:
        return _placeholder(base, "no DST topology values to plot (no DST point, or none of the panels)")
    panel_names = list(dict.fromkeys(network["panel"]))
    groups = list(network.groupby(["dataset", "model"], sort=True))
    lines = sorted(set(zip(network["pruner"], network["sparsity"].astype(float), strict=True)))
    colours = {line: f"C{i % 10}" for i, line in enumerate(lines)}  # one colour per line in every panel
    fig, axes = plt.subplots(
        len(panel_names), len(groups), figsize=(3.2 * len(groups), 1.9 * len(panel_names)),
        squeeze=False, sharex="col",
    )  # fmt: skip
    for col, ((dataset, model), frame) in enumerate(groups):
        axes[0][col].set_title(f"{dataset} / {model}", fontsize=9)
        axes[-1][col].set_xlabel("optimizer step", fontsize=8)
        for row, panel in enumerate(panel_names):
            ax = axes[row][col]
            _draw_panel(ax, frame[frame["panel"] == panel], colours)
            ax.tick_params(labelsize=7)
            if col == 0:
                ax.set_ylabel(panel.replace(":", "\n"), fontsize=7)
    fig.tight_layout()
    handles = [
        Line2D([], [], color=c, marker="o", markersize=3, label=_label(*line)) for line, c in colours.items()
    ]
    legend = fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0),
                        ncol=min(len(handles), 6), fontsize=8, frameon=False)  # fmt: skip
    return _save(fig, base, extra=[legend])


def _network_values(table: pd.DataFrame, panels: Sequence[str]) -> pd.DataFrame:
    """Network-level rows of the requested panels, with a ``panel`` column ordered as ``panels``."""
    if table.empty:
        return table.assign(panel=pd.Series(dtype=str))
    net = table[table["layer"] == NETWORK]
    net = net.assign(panel=net["family"] + ":" + net["metric"])
    net = net[net["panel"].isin(panels)]
    order = {p: i for i, p in enumerate(panels)}
    return net.sort_values("panel", key=lambda s: s.map(order), kind="stable")


def _draw_panel(ax: plt.Axes, frame: pd.DataFrame, colours: dict[tuple[str, float], str]) -> None:
    """One line per (algorithm, sparsity): mean over seeds at each step, band = seeds' range."""
    if not frame["value"].notna().any():  # e.g. IMDB of layers too small for a valid subgraph
        ax.text(0.5, 0.5, "no valid value", ha="center", va="center", fontsize=7, transform=ax.transAxes)
    for (pruner, sparsity), line in frame.groupby(["pruner", "sparsity"], sort=True):
        stats = line.groupby("step")["value"].agg(["mean", "min", "max"]).sort_index()
        colour = colours[(pruner, float(sparsity))]
        ax.plot(stats.index, stats["mean"], marker="o", markersize=2.5, linewidth=1.2, color=colour,
                label=_label(pruner, sparsity))  # fmt: skip
        ax.fill_between(stats.index, stats["min"], stats["max"], color=colour, alpha=0.2, linewidth=0)


def _label(pruner: str, sparsity: float) -> str:
    return f"{pruner} s={float(sparsity):g}"
