"""Ramanujan-graph metrics of one layer's bipartite graph (docs/method/metrics.md), three published variants.

Input: the biadjacency ``X`` (``n_left × n_right``, entries ``|w ⊙ m|``; an edge iff the entry is non-zero)
of the rolled or rolled-channel BGE, from :func:`biadjacency_from_weight` (weight/mask tensors, no graph
needed) or :func:`biadjacency_from_bge` (a graph-tool BGE). ``S`` = 0/1 pattern of ``X``.

Spectra: the adjacency of a bipartite graph has eigenvalues ``±σ_i`` of its biadjacency, so the published
recipe (``eigsh(k=3, 'LM')``, magnitudes sorted, ``μ0 = μ1 ≥ μ2``) gives ``μ0 = σ1`` and ``μ̂ = μ2 = σ2``.
We compute ``σ1, σ2`` exactly from the eigenvalues of the Gram matrix of the smaller side (dense LAPACK;
the blocks are at most a few thousand wide; absolute error of σ2 ≲ 1e-8·σ1), or with a seeded sparse
Lanczos for huge layers. The weighted spectral gap is ``λ = σ1(X) − σ2(X)``.

Per-layer keys (every variant): ``n_left, n_right, edges`` (after removing zero-degree nodes),
``d_left, d_right`` (mean degrees), ``mu0, mu_hat`` (of ``S``), ``delta_r = √(d_L−1)+√(d_R−1) − μ̂``,
``delta_r_norm = delta_r/ub_r``, ``delta_s = 2√(μ0−1) − μ̂``, ``delta_s_norm`` (both −1 if μ0 < 1),
``expansion_ratio = n_R/n_L``, ``narc``, ``spectral_gap`` (λ), ``is_ramanujan`` (Δr > 0), ``valid``;
iterative (nested d-left-regular subgraphs): ``imdb`` (mean Δr), ``imdb_norm`` (mean Δr_norm), ``ism``,
``ism_norm``, ``iter_spectral_gap`` (mean λ), ``n_subgraphs`` (valid ones), ``iter_expansion_mean``,
``iter_expansion_max``. Invalid values are NaN (ICLR/MGE "None") or 0 (NeurIPS ``inf → 0``).

Variant rules (``variant=``):

===========  ==========================  ===============================  =========================  =======
variant      whole-layer validity        subgraphs kept (left degree d)   subgraph validity          scaling
===========  ==========================  ===============================  =========================  =======
iclr2023     d_L ≥ 3 and d_R ≥ 3, else   d ≠ 0 and group size ≥ 3          d_L ≥ 3 and d_R ≥ 3        none
             NaN
mge          none (n_L + n_R > 3); the   d ≥ 3, any group size            d_L ≥ 3 and d_R ≥ 3        none
             MGE column ``degree_bound``
             is ``delta_r_norm``
neurips2023  d_out ≥ 3 and d_in > 1      d ≠ 0 and group size ≥ 2         d ≥ 3 and d_R > 1          × c
             (their "left" = output
             side), else 0
===========  ==========================  ===============================  =========================  =======

``c = max(n_in, n_out)/(n_in + n_out − 1)`` (NeurIPS Cheeger-like factor; ``n_in`` group size, ``n_out`` its
non-isolated outputs). Empty subgraph sets give NaN (iclr2023, mge) or 0 (neurips2023). The MGE columns map
to ``delta_r_norm`` (``degree_bound``), ``imdb_norm`` (``iterative_degree_bound``) and
``iter_spectral_gap``; [NeurIPS23] uses ``delta_r`` (not normalised), ``spectral_gap``, ``imdb`` and
``iter_spectral_gap``.

``compat="released"`` reproduces code quirks: iclr2023 — NaRC counts each edge twice (``E'`` = entries of
the symmetric ``edge_index``, 2|E|); mge — weights rounded to float16 (the MGE graphs store them so) and
``delta_r_norm`` divided as is (−inf/NaN when both mean degrees are 1, as in the released CSV; clean gives
NaN); neurips2023 — no difference. NaRC (clean) = ``((μ̂²/4 + 1)·√(n_L n_R) − |E − d_L n_L n_R / dim_out|) /
(dim_in · dim_out)``, ``dim_*`` the unfiltered sizes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from snntopo.errors import InvalidValueError
from snntopo.metrics import spectral

VARIANTS = ("iclr2023", "mge", "neurips2023")
ENCODINGS = ("rolled", "rolled_channel")
#: layers with more entries than this are handled sparsely (dense X would exceed ~128 MB)
DENSE_MAX_ENTRIES = 1 << 24

LAYER_KEYS = (
    "n_left",
    "n_right",
    "edges",
    "d_left",
    "d_right",
    "mu0",
    "mu_hat",
    "delta_r",
    "delta_r_norm",
    "delta_s",
    "delta_s_norm",
    "expansion_ratio",
    "narc",
    "spectral_gap",
    "is_ramanujan",
    "valid",
    "imdb",
    "imdb_norm",
    "ism",
    "ism_norm",
    "iter_spectral_gap",
    "n_subgraphs",
    "iter_expansion_mean",
    "iter_expansion_max",
)


# ----------------------------------------------------------------------------------------------------
# building biadjacency matrices
# ----------------------------------------------------------------------------------------------------


def _to_numpy(t) -> np.ndarray:
    if hasattr(t, "detach"):
        return t.detach().cpu().numpy()
    return np.asarray(t)


def masked_abs(weight, mask=None) -> np.ndarray:
    """``|w ⊙ m|`` as float64 (``mask=None``: the weight as given, already masked)."""
    w = np.abs(_to_numpy(weight).astype(np.float64))
    if mask is not None:
        m = _to_numpy(mask)
        if m.shape != w.shape:
            raise InvalidValueError("mask shape", m.shape, f"the weight's shape {w.shape}")
        w = w * (m != 0)
    return w


def dense_biadjacency(weight, mask=None, encoding: str = "rolled", groups: int = 1) -> np.ndarray:
    """Dense ``n_left × n_right`` biadjacency of one conv/linear layer (docs/method/encodings.md).

    * ``rolled``: conv ``(C_out, C_in/g, k, k)`` → left ``C_in/g·k·k`` (index ``c·k·k + r·k + s``), right
      ``C_out``; linear ``(out, in)`` → ``in × out``. Groups are ignored, as in the published code.
    * ``rolled_channel``: left ``C_in``, right ``C_out``, weight = Frobenius norm of the masked ``k×k``
      slice (edge iff a kept non-zero in it); depthwise (``groups == C_in == C_out``) → diagonal; linear as
      rolled. Other grouped convolutions are rejected, as by the published code.
    """
    if encoding not in ENCODINGS:
        raise InvalidValueError("encoding", encoding, " | ".join(ENCODINGS))
    w = masked_abs(weight, mask)
    if w.ndim == 2:
        return w.T.copy()
    if w.ndim != 4:
        raise InvalidValueError("weight shape", w.shape, "2-D (linear) or 4-D (conv) tensors")
    c_out = w.shape[0]
    if encoding == "rolled":
        return w.reshape(c_out, -1).T.copy()
    norms = np.sqrt(np.einsum("oirs,oirs->oi", w, w))
    if groups == 1:
        return norms.T.copy()
    if groups == c_out and w.shape[1] == 1:
        return np.diag(norms[:, 0])
    raise InvalidValueError("groups", groups, "1 or depthwise (groups == C_in == C_out) for rolled_channel")


def biadjacency_from_weight(weight, mask=None, encoding: str = "rolled", groups: int = 1) -> sp.csr_matrix:
    """:func:`dense_biadjacency` as a scipy CSR matrix (explicit zeros removed)."""
    B = sp.csr_matrix(dense_biadjacency(weight, mask, encoding, groups))
    B.eliminate_zeros()
    return B


def biadjacency_from_bge(g) -> sp.csr_matrix:
    """``n_left × n_right`` CSR biadjacency of a BGE (graph contract: left nodes ``[0, n_left)``)."""
    n_left = int(g.gp["n_left"])
    n = int(g.num_vertices())
    weight = g.ep.get("weight", None)
    arr = g.get_edges([weight] if weight is not None else [])
    src, tgt = arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64)
    if np.any(src >= n_left) or np.any(tgt < n_left):
        raise InvalidValueError("BGE", "an edge not from a left to a right node", "left → right edges only")
    w = np.abs(arr[:, 2]) if weight is not None else np.ones(src.size)
    B = sp.csr_matrix((w, (src, tgt - n_left)), shape=(n_left, n - n_left))
    B.sum_duplicates()
    return B


# ----------------------------------------------------------------------------------------------------
# top-2 singular values
# ----------------------------------------------------------------------------------------------------


def _gram(M: np.ndarray) -> np.ndarray:
    return M @ M.T if M.shape[0] <= M.shape[1] else M.T @ M


def _top2_dense_batch(mats: list[np.ndarray]) -> np.ndarray:
    """(k, 2) top-2 singular values of dense matrices, through one batched eigvalsh of padded Grams."""
    out = np.zeros((len(mats), 2))
    if not mats:
        return out
    grams = [_gram(M) for M in mats]
    # bucket by padded size (next power of two) so that small groups do not pay for the largest one;
    # zero padding only adds zero eigenvalues (Grams are positive semi-definite)
    sizes = np.array([max(G.shape[0], 1) for G in grams])
    padded = np.maximum(2, 1 << np.ceil(np.log2(sizes)).astype(np.int64))
    for size in np.unique(padded):
        members = np.flatnonzero(padded == size)
        stack = np.zeros((members.size, size, size))
        for j, i in enumerate(members):
            n = grams[i].shape[0]
            stack[j, :n, :n] = grams[i]
        ev = np.linalg.eigvalsh(stack)
        out[members] = ev[:, :-3:-1]
    sv = np.sqrt(np.clip(out, 0.0, None))
    # σ2 from a Gram eigenvalue carries an absolute error ~ √ε·σ1 when σ2 ≪ σ1 (rank-1 blocks, e.g. a
    # dense layer's pattern): recompute those few directly, where LAPACK's SVD is accurate to ε·σ1
    for i in np.flatnonzero(out[:, 1] <= 1e-10 * out[:, 0]):
        if min(mats[i].shape) >= 2:
            sv[i] = np.linalg.svd(mats[i], compute_uv=False)[:2]
    return sv


def _top2(M, tol: float, seed: int) -> np.ndarray:
    if sp.issparse(M):
        return spectral.top_singular_values(M, 2, tol=tol, seed=seed)
    return _top2_dense_batch([M])[0]


# ----------------------------------------------------------------------------------------------------
# variant rules
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rules:
    whole_valid: Callable[[float, float, int], bool]  # (d_L, d_R, n_nodes)
    invalid: float
    keep_group: Callable[[int, int], bool]  # (degree, count)
    group_valid: Callable[[float, float], bool]  # (d_L, d_R)
    scale: bool


_RULES = {
    "iclr2023": _Rules(
        lambda dl, dr, n: dl >= 3 and dr >= 3,
        math.nan,
        lambda d, c: d != 0 and c >= 3,
        lambda dl, dr: dl >= 3 and dr >= 3,
        False,
    ),
    "mge": _Rules(
        lambda dl, dr, n: n > 3,
        math.nan,
        lambda d, c: d >= 3,
        lambda dl, dr: dl >= 3 and dr >= 3,
        False,
    ),
    "neurips2023": _Rules(
        lambda dl, dr, n: dr >= 3 and dl > 1,
        0.0,
        lambda d, c: d != 0 and c >= 2,
        lambda dl, dr: dl >= 3 and dr > 1,
        True,
    ),
}


def _check(variant: str, compat: str) -> _Rules:
    if variant not in VARIANTS:
        raise InvalidValueError("Ramanujan variant", variant, " | ".join(VARIANTS))
    if compat not in ("clean", "released"):
        raise InvalidValueError("compat", compat, "clean | released")
    return _RULES[variant]


def _bounds(dl: float, dr: float, mu0: float, mu_hat: float, divide_as_is: bool) -> dict[str, float]:
    ub_r = math.sqrt(max(dl - 1.0, 0.0)) + math.sqrt(max(dr - 1.0, 0.0))
    delta_r = ub_r - mu_hat
    if ub_r > 0:
        delta_r_norm = delta_r / ub_r
    elif divide_as_is:
        delta_r_norm = -math.inf if delta_r < 0 else math.nan
    else:
        delta_r_norm = math.nan
    if mu0 < 1:
        delta_s = delta_s_norm = -1.0
    else:
        ub_s = 2.0 * math.sqrt(mu0 - 1.0)
        delta_s = ub_s - mu_hat
        delta_s_norm = delta_s / ub_s if ub_s > 0 else math.nan
    return {
        "delta_r": delta_r,
        "delta_r_norm": delta_r_norm,
        "delta_s": delta_s,
        "delta_s_norm": delta_s_norm,
    }


# ----------------------------------------------------------------------------------------------------
# the per-layer computation
# ----------------------------------------------------------------------------------------------------


def _structure(X) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pattern S (same kind as X), left and right degrees."""
    if sp.issparse(X):
        S = X.copy().tocsr()
        S.eliminate_zeros()
        S.data = np.ones_like(S.data)
        return S, np.asarray(S.sum(axis=1)).ravel(), np.asarray(S.sum(axis=0)).ravel()
    S = (X != 0).astype(np.float64)
    return S, S.sum(axis=1), S.sum(axis=0)


def _layer(
    X,
    weights: list,
    rules: _Rules,
    variant: str,
    compat: str,
    tol: float,
    seed: int,
) -> list[dict[str, float]]:
    """Metrics of pattern ``X`` for each weight matrix in ``weights`` (same pattern): one dict per weight."""
    S, degl, degr = _structure(X)
    dim_in, dim_out = S.shape
    rows, cols = np.flatnonzero(degl), np.flatnonzero(degr)
    n_l, n_r = rows.size, cols.size
    e = float(degl.sum())
    dl = e / n_l if n_l else 0.0
    dr = e / n_r if n_r else 0.0
    mu0, mu_hat = _top2(S, tol, seed) if e else (0.0, 0.0)
    w_top = [_top2(W, tol, seed) if e else np.zeros(2) for W in weights]
    valid = bool(e) and rules.whole_valid(dl, dr, n_l + n_r)
    base: dict[str, float] = {
        "n_left": float(n_l),
        "n_right": float(n_r),
        "edges": e,
        "d_left": dl,
        "d_right": dr,
        "mu0": float(mu0),
        "mu_hat": float(mu_hat),
        "expansion_ratio": n_r / n_l if n_l else math.nan,
        "valid": float(valid),
    }
    if valid:
        base.update(_bounds(dl, dr, mu0, mu_hat, divide_as_is=compat == "released" and variant == "mge"))
        e_count = 2.0 * e if (compat == "released" and variant == "iclr2023") else e
        base["narc"] = (
            (mu_hat**2 / 4 + 1) * math.sqrt(n_l * n_r) - abs(e_count - dl / dim_out * n_l * n_r)
        ) / (dim_in * dim_out)
        base["is_ramanujan"] = float(base["delta_r"] > 0)
    else:
        for key in ("delta_r", "delta_r_norm", "delta_s", "delta_s_norm", "narc", "is_ramanujan"):
            base[key] = rules.invalid

    # nested d-left-regular subgraphs: left nodes grouped by degree, all right nodes
    degs, counts = np.unique(degl.astype(np.int64), return_counts=True)
    kept = [(int(d), int(c)) for d, c in zip(degs, counts, strict=True) if rules.keep_group(int(d), int(c))]
    groups = [np.flatnonzero(degl == d) for d, _ in kept]
    sub_s = [S[idx] for idx in groups]
    n_out = np.array([np.count_nonzero(np.asarray(M.sum(axis=0)).ravel()) for M in sub_s], dtype=np.float64)
    n_in = np.array([idx.size for idx in groups], dtype=np.float64)
    d_sub = np.array([d for d, _ in kept], dtype=np.float64)
    dr_sub = np.divide(d_sub * n_in, n_out, out=np.zeros_like(n_out), where=n_out > 0)
    ok = np.array([rules.group_valid(a, b) for a, b in zip(d_sub, dr_sub, strict=True)], dtype=bool)
    sel = np.flatnonzero(ok)
    s_top = _top2_many([sub_s[i] for i in sel], tol, seed)
    scale = (
        np.maximum(n_in[sel], n_out[sel]) / (n_in[sel] + n_out[sel] - 1) if rules.scale else np.ones(sel.size)
    )
    sub_bounds = [
        _bounds(d_sub[i], dr_sub[i], s_top[j, 0], s_top[j, 1], divide_as_is=False) for j, i in enumerate(sel)
    ]
    empty = rules.invalid
    iterative = {
        "n_subgraphs": float(sel.size),
        "imdb": _mean([b["delta_r"] * c for b, c in zip(sub_bounds, scale, strict=True)], empty),
        "imdb_norm": _mean([b["delta_r_norm"] for b in sub_bounds], empty),
        "ism": _mean([b["delta_s"] for b in sub_bounds], empty),
        "ism_norm": _mean([b["delta_s_norm"] for b in sub_bounds], empty),
        "iter_expansion_mean": _mean(list(n_out[sel] / n_in[sel]), empty),
        "iter_expansion_max": float(np.max(n_out[sel] / n_in[sel])) if sel.size else empty,
    }
    out = []
    for W, wt in zip(weights, w_top, strict=True):
        res = dict(base)
        res["spectral_gap"] = float(wt[0] - wt[1]) if valid else rules.invalid
        w_sub = _top2_many([W[groups[i]] for i in sel], tol, seed)
        res["iter_spectral_gap"] = _mean(list((w_sub[:, 0] - w_sub[:, 1]) * scale), empty)
        res.update(iterative)
        out.append({k: float(res[k]) for k in LAYER_KEYS})
    return out


def _top2_many(mats: list, tol: float, seed: int) -> np.ndarray:
    if not mats:
        return np.zeros((0, 2))
    if sp.issparse(mats[0]):
        return np.array([_top2(M, tol, seed) for M in mats]).reshape(-1, 2)
    return _top2_dense_batch(mats)


def _mean(values: list[float], empty: float) -> float:
    return float(np.mean(values)) if len(values) else empty


def _as_matrix(B, compat: str, variant: str):
    if hasattr(B, "detach"):
        B = B.detach().cpu().numpy()
    if sp.issparse(B):
        B = sp.csr_matrix(B, dtype=np.float64)
        B.data = np.abs(B.data)
        if B.shape[0] * B.shape[1] <= DENSE_MAX_ENTRIES:
            B = B.toarray()
    else:
        B = np.abs(np.asarray(B, dtype=np.float64))
    if B.ndim != 2:
        raise InvalidValueError("biadjacency shape", B.shape, "a 2-D n_left × n_right matrix")
    if compat == "released" and variant == "mge":
        if sp.issparse(B):
            B.data = B.data.astype(np.float16).astype(np.float64)
        else:
            B = B.astype(np.float16).astype(np.float64)
    return B


def layer_ramanujan(
    B,
    variant: str = "iclr2023",
    compat: str = "clean",
    *,
    tol: float = spectral.DEFAULT_TOL,
    seed: int = 0,
) -> dict[str, float]:
    """Ramanujan metrics (keys :data:`LAYER_KEYS`) of one layer from its biadjacency ``B`` (dense array,
    torch tensor or scipy sparse; ``|B|`` is used, pattern = non-zeros). See the module docstring."""
    rules = _check(variant, compat)
    X = _as_matrix(B, compat, variant)
    return _layer(X, [X], rules, variant, compat, tol, seed)[0]


def layer_ramanujan_multi(
    B,
    others: list,
    variant: str = "neurips2023",
    compat: str = "clean",
    *,
    tol: float = spectral.DEFAULT_TOL,
    seed: int = 0,
) -> list[dict[str, float]]:
    """Like :func:`layer_ramanujan` for ``B`` and for each matrix of ``others`` *on the pattern of B*
    (weights outside it ignored): the structural work is shared; used for "coordinate at init" distances."""
    rules = _check(variant, compat)
    X = _as_matrix(B, compat, variant)
    pattern = (X != 0) if not sp.issparse(X) else None
    ws = [X]
    for other in others:
        Y = _as_matrix(other, compat, variant)
        if Y.shape != X.shape:
            raise InvalidValueError("weight shape", Y.shape, f"the layer's biadjacency shape {X.shape}")
        ws.append(Y * pattern if pattern is not None else sp.csr_matrix(Y.multiply(X != 0)))
    return _layer(X, ws, rules, variant, compat, tol, seed)
