"""Writing result tables: CSV (deterministic bytes) and LaTeX (booktabs) versions of the summaries."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from snntopo.analysis.features import GROUP_ORDER
from snntopo.utils import atomic_path

FLOAT_FORMAT = "%.10g"


def write_csv(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``df`` without index, fixed float format and ``\\n`` line ends, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
    return path


def write_text(text: str, path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path


_LATEX_SPECIAL = re.compile(r"[\\&%#_${}]")
_LATEX_REPL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "#": r"\#",
    "_": r"\_",
    "$": r"\$",
    "{": r"\{",
    "}": r"\}",
}


def latex_escape(text: object) -> str:
    """Escape LaTeX special characters (one pass, so replacements are not re-escaped)."""
    return _LATEX_SPECIAL.sub(lambda m: _LATEX_REPL[m.group(0)], str(text))


def _num(x: float, digits: int = 3) -> str:
    return "--" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _cell(mean: float, lo: float, hi: float) -> str:
    if not np.isfinite(mean):
        return "--"
    if np.isfinite(lo) and np.isfinite(hi):
        return f"{mean:.3f} {{\\scriptsize[{lo:.2f}, {hi:.2f}]}}"
    return f"{mean:.3f}"


def latex_tabular(df: pd.DataFrame, caption: str, label: str, *, raw_header: bool = False) -> str:
    """A booktabs table of the (already formatted, string) cells of ``df``; the index is the first column.

    Header names are escaped unless ``raw_header`` (column titles that are LaTeX on purpose).
    """
    esc = (lambda x: str(x)) if raw_header else latex_escape
    cols = [latex_escape(df.index.name or ""), *map(esc, df.columns)]
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        rf"\caption{{{caption}}}",
        rf"\label{{{label}}}",
        r"\begin{tabular}{l" + "r" * len(df.columns) + "}",
        r"\toprule",
        " & ".join(cols) + r" \\",
        r"\midrule",
    ]
    for idx, row in df.iterrows():
        lines.append(" & ".join([latex_escape(idx), *(str(v) for v in row)]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(lines)


def regression_latex(summary: pd.DataFrame) -> str:
    """Mean out-of-fold R² [bootstrap interval] (groups) per feature set × protocol/estimator."""
    if summary.empty:
        return latex_tabular(
            pd.DataFrame(index=pd.Index([], name="feature set")), "No regression result.", "tab:regression"
        )
    cells = [
        f"{_cell(m, lo, hi)} ({int(n)})"
        for m, lo, hi, n in summary[["r2_mean", "r2_low", "r2_high", "n_groups_ok"]].to_numpy(float)
    ]
    s = summary.assign(
        col=summary["protocol"] + " / " + summary["cv"] + " / " + summary["estimator"], cell=cells
    )
    wide = s.pivot(index="feature_set", columns="col", values="cell").fillna("--")
    wide.index.name = "feature set"
    return latex_tabular(
        wide,
        "Out-of-fold $R^2$ of the accuracy drop, mean over groups [95\\% bootstrap interval] (number of "
        "groups), per feature set, grouping protocol, CV scheme (config: held-out configurations; "
        "network: seen configurations) and learner. Feature sets available for different "
        "groups are not directly comparable; see \\texttt{r2\\_mean\\_common} in the CSV.",
        "tab:regression",
    )


def ranking_latex(summary: pd.DataFrame) -> str:
    """Kendall τ_b, Spearman ρ and top-1 agreement [intervals] per ranking candidate."""
    rows = {}
    for r in summary.itertuples(index=False):
        rows[f"{r.candidate} ({r.cv})"] = {
            "kind": latex_escape(r.kind),
            "groups": str(int(r.n_groups)),
            r"Kendall $\tau_b$": _cell(r.kendall_tau, r.kendall_tau_low, r.kendall_tau_high),
            r"Spearman $\rho$": _cell(r.spearman_rho, r.spearman_rho_low, r.spearman_rho_high),
            "top-1": _cell(r.top1, r.top1_low, r.top1_high),
        }
    wide = pd.DataFrame.from_dict(rows, orient="index")
    wide.index.name = "candidate"
    return latex_tabular(
        wide,
        "Agreement of pruner rankings with the true ranking by mean accuracy, "
        "mean over (model, dataset, sparsity) groups [95\\% bootstrap interval].",
        "tab:ranking",
        raw_header=True,
    )


def importance_latex(groups: pd.DataFrame) -> str:
    """Normalised importance of the metric groups: rows = source/feature set/level, columns = groups."""
    if groups.empty:
        return latex_tabular(
            pd.DataFrame(index=pd.Index([], name="level")), "No importance result.", "tab:importance"
        )
    g = groups.assign(
        row=groups["source"]
        + " / "
        + groups["cv"]
        + " / "
        + groups["feature_set"]
        + " / "
        + groups["by"]
        + " "
        + groups["level"].astype(str)
    )
    wide = g.pivot(index="row", columns="group", values="importance")
    wide = wide[[c for c in GROUP_ORDER if c in wide.columns]]
    order = g.drop_duplicates("row")["row"]
    wide = wide.loc[order].map(_num)
    wide.index.name = "source / features / level"
    return latex_tabular(
        wide,
        "Normalised importance of the metric groups of the MGE study (permutation "
        "importance on held-out folds and $|$standardised OLS coefficient$|$), per sparsity "
        "and per architecture.",
        "tab:importance",
    )


#: Tables that also get a LaTeX version, and how.
LATEX: Mapping[str, Callable[[pd.DataFrame], str]] = {
    "regression_summary": regression_latex,
    "ranking_summary": ranking_latex,
    "importance_groups": importance_latex,
}


def _html_cell(value: object) -> str:
    if isinstance(value, float):
        return "–" if not np.isfinite(value) else f"{value:.3f}"
    return str(value)


def html_table(df: pd.DataFrame) -> str:
    """A standalone HTML page holding ``df`` (floats to 3 decimals), for Snakemake's report."""
    body = df.map(_html_cell).to_html(index=False, escape=True, border=0, classes="snntopo")
    style = (
        "table.snntopo{border-collapse:collapse;font:13px sans-serif}"
        "table.snntopo td,table.snntopo th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:left}"
    )
    head = f"<!DOCTYPE html><html><head><meta charset='utf-8'><style>{style}</style></head>"
    return f"{head}<body>{body}</body></html>\n"


#: How each report table is shaped for a reader (the CSV keeps every column).
def _headline_view(df: pd.DataFrame) -> pd.DataFrame:
    if df.empty:
        return df
    cell = [f"{_html_cell(m)} [{_html_cell(lo)}, {_html_cell(hi)}]" for m, lo, hi in
            df[["r2_mean", "r2_low", "r2_high"]].to_numpy(float)]  # fmt: skip
    d = df.assign(cell=cell, column=df["cv"] + " (" + df["cv_label"] + ")")
    wide = d.pivot_table(index=["protocol", "estimator", "n_groups", "kind", "row"], columns="column",
                         values="cell", aggfunc="first")  # fmt: skip
    return wide.reset_index().rename(columns={"row": "feature set / bound", "n_groups": "groups (common)"})


def _claims_view(df: pd.DataFrame) -> pd.DataFrame:
    from snntopo.analysis.claims import claims_wide

    return claims_wide(df)


def _ranking_view(df: pd.DataFrame) -> pd.DataFrame:
    if df.empty:
        return df
    cols = ["candidate", "kind", "cv", "cv_label", "n_groups", "n_groups_undefined", "n_groups_skipped"]
    cols += ["kendall_tau", "kendall_tau_low", "kendall_tau_high", "kendall_tau_median", "ci_method"]
    return df[cols]


REPORT_VIEWS: Mapping[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "headline_r2": _headline_view,
    "claims": _claims_view,
    "ranking_summary": _ranking_view,
}


def write_html_tables(tables: Mapping[str, pd.DataFrame], outdir: str | os.PathLike[str]) -> list[Path]:
    """Write ``<name>.html`` per table under ``outdir`` (reader's view where one is defined)."""
    outdir = Path(outdir)
    paths = []
    for name in sorted(tables):
        view = REPORT_VIEWS.get(name, lambda d: d)(tables[name])
        paths.append(write_text(html_table(view), outdir / f"{name}.html"))
    return paths


def write_tables(tables: Mapping[str, pd.DataFrame], outdir: str | os.PathLike[str]) -> list[Path]:
    """Write every table as ``<name>.csv`` (and ``<name>.tex`` for the summaries) under ``outdir``."""
    outdir = Path(outdir)
    paths = []
    for name in sorted(tables):
        paths.append(write_csv(tables[name], outdir / f"{name}.csv"))
        if name in LATEX:
            paths.append(write_text(LATEX[name](tables[name]), outdir / f"{name}.tex"))
    return paths
