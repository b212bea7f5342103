"""Extreme eigenvalues / singular values of sparse symmetric or bipartite matrices, deterministic.

Conventions used across the metrics stage (docs/method/metrics.md):

* Published recipe: ``eigsh(A, k=3, which='LM')`` on a symmetric adjacency, absolute values sorted
  descending ``μ0 ≥ μ1 ≥ μ2``. For a bipartite graph with biadjacency ``B`` the spectrum of
  ``A = [[0, B], [Bᵀ, 0]]`` is ``±σ_i`` (plus zeros), so ``μ0 = μ1 = σ1`` and ``μ2 = σ2``: the published
  "μ̂" is exactly the second singular value of ``B``. We therefore compute bipartite quantities as the top
  singular values of ``B`` — cheaper (a matrix half the size, no ± pairs for the Lanczos iteration to
  resolve) and exact. A missing singular value (``min(B.shape) < 2``) is 0, as the 3rd eigenvalue of the
  adjacency would be.
* ARPACK is started from a seeded vector (``v0``) so results are bit-reproducible; small problems go to
  dense LAPACK (``eigvalsh`` / ``svd``), which is exact and faster below a few thousand rows.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh, svds

#: problems with at most this many rows are solved densely
DENSE_MAX = 300
#: ARPACK relative residual tolerance: every returned θ lies within tol·|θ| of an eigenvalue (and usually
#: far closer: Ritz values converge quadratically in the residual)
DEFAULT_TOL = 1e-6
#: Lanczos basis of the escalation after a first attempt (see :func:`_eigsh`). Clustered top eigenvalues need
#: a large basis: with ARPACK's default 20 a fragmented 200 k-edge CONV-6 MGE took 12 501 products, with 80
#: only 158
DEFAULT_NCV = 64
#: Basis of the first attempt, clipped to [FIRST_NCV_MIN, FIRST_NCV_MAX] by the mean row count, and its
#: restart limit. ARPACK's own work per step is O(n·ncv) (re-orthogonalisation) against O(nnz) for a
#: product; on ResNet-20 ERK MGEs (14–260 entries per row, 192 k rows) ncv 8–16 was fastest in wall time
#: (bench/metrics.py; 90 %: 81 products at ncv 16 vs 140+ at 64 with 4× the per-step cost).
FIRST_NCV_MIN, FIRST_NCV_MAX, FIRST_MAXITER = 8, 16, 12


def _v0(n: int, seed: int) -> np.ndarray:
    # a strictly positive start vector overlaps the Perron vector of a nonnegative matrix
    return 0.5 + np.random.default_rng(seed).random(n)


def _dense(a) -> np.ndarray:
    return a.toarray() if sp.issparse(a) else np.asarray(a)


def top_eigenvalues(
    A: sp.spmatrix | LinearOperator | np.ndarray,
    k: int,
    which: str = "LA",
    *,
    tol: float = DEFAULT_TOL,
    seed: int = 0,
    dense_max: int = DENSE_MAX,
) -> np.ndarray:
    """The ``k`` extreme eigenvalues of a symmetric matrix or operator, signed.

    ``which``: ``'LA'`` (largest algebraic, returned descending) or ``'LM'`` (largest magnitude, returned
    by descending magnitude). If the matrix has fewer than ``k`` rows the result is padded with zeros.
    """
    n = A.shape[0]
    if n == 0:
        return np.zeros(k)
    if n <= max(dense_max, k + 1) and not isinstance(A, LinearOperator):
        vals = np.linalg.eigvalsh(_dense(A).astype(np.float64))
    else:
        vals = _eigsh(A, k, which, tol, seed, nnz=getattr(A, "nnz", None))
    order = np.argsort(-np.abs(vals) if which == "LM" else -vals, kind="stable")
    vals = vals[order][:k]
    return np.concatenate([vals, np.zeros(k - vals.size)])


def _one_blas_thread() -> AbstractContextManager:
    """Limit BLAS to one thread (threadpoolctl, when installed). ARPACK's per-step work is BLAS-2 on vectors
    of length n, too small to gain from threads: on the shared 2-vCPU machine a 2-thread OpenBLAS made the
    ResNet-20 ERK 98 % spectral step 1.5–2.5× slower than one thread (thread hand-offs under load)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional
        return nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _eigsh(
    A, k: int, which: str, tol: float, seed: int, v0_mask: np.ndarray | None = None, nnz: int | None = None
) -> np.ndarray:
    with _one_blas_thread():
        return _eigsh_attempts(A, k, which, tol, seed, v0_mask, nnz)


def _eigsh_attempts(
    A, k: int, which: str, tol: float, seed: int, v0_mask: np.ndarray | None, nnz: int | None
) -> np.ndarray:
    """ARPACK, with a basis sized to the problem and escalation when it does not converge.

    ARPACK's own work per restart is O(n·ncv²) while a product costs O(nnz), and a small basis converges
    in few restarts when the top eigenvalues are separated. So the first attempt uses a small basis
    (``nnz/n`` clipped to [FIRST_NCV_MIN, FIRST_NCV_MAX]) and at most FIRST_MAXITER restarts; if the top
    eigenvalues are too clustered for that, it is retried with DEFAULT_NCV vectors, then with twice as
    many and a 10× looser tolerance, and finally the Ritz values that did converge are accepted if there
    are enough.
    """
    n = A.shape[0]
    per_row = (nnz or 0) / max(n, 1)
    first = int(np.clip(per_row, FIRST_NCV_MIN, FIRST_NCV_MAX))
    v0 = _v0(n, seed) if v0_mask is None else _v0(n, seed) * v0_mask
    attempts = [(first, tol, FIRST_MAXITER), (DEFAULT_NCV, tol, None), (2 * DEFAULT_NCV, 10 * tol, None)]
    last: ArpackNoConvergence | None = None
    for ncv, t, maxiter in attempts:
        ncv = min(n - 1, max(2 * k + 1, ncv))
        try:
            return eigsh(
                A, k=k, which=which, tol=t, ncv=ncv, v0=v0, maxiter=maxiter, return_eigenvectors=False
            )
        except ArpackNoConvergence as err:
            last = err
    if last is not None and len(last.eigenvalues) >= k:
        return np.asarray(last.eigenvalues)
    raise last  # type: ignore[misc]


def top_singular_values(
    B: sp.spmatrix | np.ndarray,
    k: int = 2,
    *,
    tol: float = DEFAULT_TOL,
    seed: int = 0,
    dense_max: int = DENSE_MAX,
) -> np.ndarray:
    """The ``k`` largest singular values of a (rectangular) matrix, descending, zero-padded."""
    m = min(B.shape) if len(B.shape) == 2 else 0
    if m == 0:
        return np.zeros(k)
    if m <= max(dense_max, k + 1):
        sv = np.linalg.svd(_dense(B).astype(np.float64), compute_uv=False)
    else:
        # eigsh on the Gram matrix of the smaller side: same cost per step as svds, but deterministic v0
        B = sp.csr_matrix(B, dtype=np.float64)
        Bt = B.T.tocsr()
        if B.shape[0] <= B.shape[1]:
            op = LinearOperator((m, m), matvec=lambda x: B @ (Bt @ x), dtype=np.float64)
        else:
            op = LinearOperator((m, m), matvec=lambda x: Bt @ (B @ x), dtype=np.float64)
        ev = _eigsh(op, k, "LA", tol, seed, nnz=2 * B.nnz)
        sv = np.sqrt(np.clip(np.sort(ev)[::-1], 0.0, None))
    sv = np.sort(sv)[::-1][:k]
    return np.concatenate([sv, np.zeros(k - sv.size)])


def svds_top(B: sp.spmatrix, k: int = 2, *, tol: float = DEFAULT_TOL, seed: int = 0) -> np.ndarray:
    """Same as :func:`top_singular_values` through ``scipy.sparse.linalg.svds`` (kept as an oracle)."""
    v0 = _v0(min(B.shape), seed)
    return np.sort(
        svds(sp.csr_matrix(B, dtype=np.float64), k=k, tol=tol, v0=v0, return_singular_vectors=False)
    )[::-1]


class SymmetricParts:
    """The symmetric matrix ``M = diag(d) + sign · Σ_p P_p`` kept as CSR parts, never summed.

    Adjacency of a directed graph: parts ``[T, W]`` (``T = Wᵀ``), ``sign=+1``; its Laplacian: same parts,
    ``d`` = strengths, ``sign=−1``. Row-gather products on both parts are about twice as fast as scipy's
    CSC (scatter) product ``Tᵀ x``, and the summed matrix would cost as much memory again.
    """

    def __init__(self, parts: list, diag: np.ndarray | None = None, sign: float = 1.0):
        self.parts = [sp.csr_matrix(P, dtype=np.float64) for P in parts]
        self.n = self.parts[0].shape[0]
        self.shape = (self.n, self.n)
        self.diag = None if diag is None else np.asarray(diag, dtype=np.float64).ravel()
        self.sign = float(sign)

    def matvec(self, x: np.ndarray) -> np.ndarray:
        x = x.ravel()
        y = self.parts[0] @ x
        for P in self.parts[1:]:
            y += P @ x
        if self.sign != 1.0:
            y *= self.sign
        if self.diag is not None:
            y += self.diag * x
        return y

    def operator(self, mask: np.ndarray | None = None) -> LinearOperator:
        """The matrix, or its principal sub-matrix on ``mask`` embedded in zeros (``PMP``)."""
        if mask is None:
            return LinearOperator(self.shape, matvec=self.matvec, dtype=np.float64)
        m = mask.astype(np.float64)
        return LinearOperator(self.shape, matvec=lambda x: m * self.matvec(m * x.ravel()), dtype=np.float64)

    @property
    def nnz(self) -> int:
        return sum(int(P.nnz) for P in self.parts)

    def submatrix(self, idx: np.ndarray) -> SymmetricParts:
        """Principal sub-matrix on the (sorted) vertices ``idx``, as parts."""
        diag = None if self.diag is None else self.diag[idx]
        return SymmetricParts([P[idx][:, idx] for P in self.parts], diag=diag, sign=self.sign)

    def entries(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, col, value) of ``sign · Σ P`` restricted to the given rows (diagonal not included)."""
        out_r, out_c, out_v = [], [], []
        for P in self.parts:
            sub = P[rows].tocoo()
            out_r.append(rows[sub.row])
            out_c.append(sub.col)
            out_v.append(self.sign * sub.data)
        return np.concatenate(out_r), np.concatenate(out_c), np.concatenate(out_v)

    def dense(self, idx: np.ndarray) -> np.ndarray:
        """Dense principal sub-matrix on the vertices ``idx`` (sorted)."""
        r, c, v = self.entries(idx)
        pos = np.searchsorted(idx, c)
        pos = np.minimum(pos, idx.size - 1)
        keep = idx[pos] == c
        D = np.zeros((idx.size, idx.size))
        np.add.at(D, (np.searchsorted(idx, r[keep]), pos[keep]), v[keep])
        if self.diag is not None:
            D[np.arange(idx.size), np.arange(idx.size)] += self.diag[idx]
        return D


def symmetric_from_half(T: sp.spmatrix, W: sp.spmatrix | None = None) -> LinearOperator:
    """``A = T + Tᵀ`` as an operator (see :class:`SymmetricParts`)."""
    T = sp.csr_matrix(T, dtype=np.float64)
    return SymmetricParts([T, T.T.tocsr() if W is None else W]).operator()


def _select(vals: np.ndarray, k: int, which: str) -> np.ndarray:
    order = np.argsort(-np.abs(vals) if which == "LM" else -vals, kind="stable")
    return vals[order][:k]


def componentwise_top(
    M: SymmetricParts,
    labels: np.ndarray,
    k: int,
    which: str = "LA",
    *,
    small: int = 32,
    tol: float = DEFAULT_TOL,
    seed: int = 0,
) -> np.ndarray:
    """The ``k`` extreme eigenvalues (with multiplicity) of a symmetric matrix that is block-diagonal over
    the connected components ``labels``: the union of the components' spectra.

    Why: sparse MGEs break into many components, often identical up to translation (a conv kernel is the
    same at every position), so the top eigenvalues of the whole matrix are exactly degenerate. A single-
    vector Lanczos iteration cannot resolve such multiplicities (it stalls or returns the next distinct
    value); per component, the top adjacency eigenvalue is simple (Perron-Frobenius) and every value is
    well defined. Components of at most ``small`` vertices are solved in batched dense LAPACK, those up to
    ``DENSE_MAX`` one by one densely, larger ones by ARPACK on the matrix projected onto the component.
    """
    n = M.n
    labels = np.asarray(labels, dtype=np.int64)
    sizes = np.bincount(labels)
    order = np.argsort(labels, kind="stable")
    starts = np.concatenate([[0], np.cumsum(sizes)])
    local = np.empty(n, dtype=np.int64)
    local[order] = np.arange(n) - np.repeat(starts[:-1], sizes)
    found: list[np.ndarray] = []

    # small components: padded blocks, one batched eigvalsh per padded size
    padded = np.maximum(2, 1 << np.ceil(np.log2(np.maximum(sizes, 1))).astype(np.int64))
    is_small = sizes <= small
    for p in np.unique(padded[is_small]):
        comps = np.flatnonzero(is_small & (padded == p))
        slot = np.full(sizes.size, -1, dtype=np.int64)
        slot[comps] = np.arange(comps.size)
        rows = np.flatnonzero(slot[labels] >= 0)
        r, c, v = M.entries(rows)
        flat = slot[labels[r]] * p * p + local[r] * p + local[c]
        stack = np.bincount(flat, weights=v, minlength=comps.size * p * p).astype(np.float64)
        stack = stack.reshape(comps.size, p, p)
        diag_pos = slot[labels[rows]] * p * p + local[rows] * (p + 1)
        if M.diag is not None:
            stack.reshape(-1)[diag_pos] += M.diag[rows]
        if which == "LA":  # padding rows get a value below every eigenvalue so they never rank in the top
            pad = np.ones(comps.size * p * p, dtype=bool)
            pad[slot[labels[rows]] * p * p + local[rows] * (p + 1)] = False
            eye = (np.arange(p * p) % (p + 1) == 0)[None, :].repeat(comps.size, 0).reshape(-1)
            low = -(1.0 + np.abs(stack).sum(axis=(1, 2)).max())
            stack.reshape(-1)[pad & eye] = low
        ev = np.linalg.eigvalsh(stack)  # ascending, per component
        kk = min(k, int(p))
        take = np.minimum(sizes[comps], kk)
        if which == "LA":
            vals = ev[:, p - 1 - np.arange(kk)]
        else:
            idx = np.argsort(-np.abs(ev), axis=1, kind="stable")[:, :kk]
            vals = np.take_along_axis(ev, idx, axis=1)
        found.append(vals[np.arange(kk)[None, :] < take[:, None]])

    for comp in np.flatnonzero(~is_small):
        idx = np.sort(order[starts[comp] : starts[comp + 1]])
        if idx.size <= DENSE_MAX:
            found.append(_select(np.linalg.eigvalsh(M.dense(idx)), k, which))
            continue
        kk = min(k, idx.size - 1)
        if idx.size <= 0.6 * n:  # extract it: ARPACK's own work scales with the vector length
            sub = M.submatrix(idx)
            vals = _eigsh(sub.operator(), kk, which, tol, seed, nnz=sub.nnz)
        else:  # the giant component: project instead of copying most of the matrix
            mask = np.zeros(n, dtype=bool)
            mask[idx] = True
            # the projection has the component's spectrum plus zeros elsewhere; for 'LA' those zeros could
            # only matter if all of the component's top values were negative (not for graphs this big)
            vals = _eigsh(M.operator(mask), kk, which, tol, seed, v0_mask=mask, nnz=M.nnz)
        found.append(np.asarray(vals))
    allv = np.concatenate(found) if found else np.zeros(0)
    top = _select(allv, k, which)
    return np.concatenate([top, np.zeros(k - top.size)])


def _materialise(A) -> np.ndarray:
    if isinstance(A, LinearOperator):
        return A @ np.eye(A.shape[0])
    return _dense(A).astype(np.float64)


def _as_parts(A) -> SymmetricParts:
    if isinstance(A, SymmetricParts):
        return A
    if isinstance(A, LinearOperator):
        raise TypeError("pass a SymmetricParts or a sparse matrix, not a bare LinearOperator")
    return SymmetricParts([sp.csr_matrix(A, dtype=np.float64)])


def _labels(M: SymmetricParts) -> np.ndarray:
    pattern = M.parts[0]
    for P in M.parts[1:]:
        pattern = pattern + P
    return connected_components(pattern, directed=True, connection="weak")[1]


def adjacency_spectral_gap(
    A: sp.spmatrix | SymmetricParts,
    compat: str = "clean",
    labels: np.ndarray | None = None,
    *,
    tol: float = DEFAULT_TOL,
    seed: int = 0,
) -> tuple[float, np.ndarray]:
    """Spectral gap of a symmetric (weighted) adjacency matrix; returns (gap, eigenvalues used).

    * ``clean``: ``λ1 − λ2``, the two largest *algebraic* eigenvalues (with multiplicity: 0 for a graph
      with two identical largest components). For a bipartite graph this equals the published value
      (``λ2 = σ2``); for a non-bipartite graph (an MGE with skip edges) it is still the expansion gap,
      whereas the published recipe then returns λ1 minus the 3rd largest magnitude.
    * ``released``: ``μ0 − μ2`` of the three largest magnitudes, the intent of the MGE code's
      ``eigsh(k=3, 'LM')`` (computed exactly, multiplicities included, where ARPACK on the whole matrix
      may return another value when the top eigenvalues are degenerate).

    ``labels``: connected components (computed if not given); the spectrum is computed per component.
    """
    M = _as_parts(A)
    labels = _labels(M) if labels is None else labels
    if compat == "released":
        vals = componentwise_top(M, labels, 3, "LM", tol=tol, seed=seed)
        mags = np.sort(np.abs(vals))[::-1]
        return float(mags[0] - mags[2]), vals
    vals = componentwise_top(M, labels, 2, "LA", tol=tol, seed=seed)
    return float(vals[0] - vals[1]), vals


def laplacian_spectral_radius(
    A: sp.spmatrix | SymmetricParts,
    strength: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    *,
    tol: float = DEFAULT_TOL,
    seed: int = 0,
) -> float:
    """Largest eigenvalue of ``L = D − A`` (``D`` = diag of the strengths = row sums of the symmetric
    weighted adjacency ``A``; computed from ``A`` if not given), per connected component.

    ``L`` is never formed. ``L`` is positive semi-definite, so the largest-magnitude eigenvalue of the
    published recipe (``eigsh(L, k=2, 'LM')``, max) is the largest algebraic one computed here.
    """
    M = _as_parts(A)
    if M.n == 0:
        return 0.0
    if strength is None:
        strength = M.matvec(np.ones(M.n))
    labels = _labels(M) if labels is None else labels
    L = SymmetricParts(M.parts, diag=np.asarray(strength, dtype=np.float64), sign=-1.0)
    return float(componentwise_top(L, labels, 1, "LA", tol=tol, seed=seed)[0])
