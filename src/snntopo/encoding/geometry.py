"""Index arithmetic shared by the encoders: convolution windows over node grids and pooling relations.

Everything here works on whole index arrays (no per-edge or per-pixel Python loops); the only loops run
over kernel positions (k_h·k_w of them) or over the two spatial dimensions.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from snntopo.encoding.trace import LayerSpec


@dataclass(frozen=True)
class Grid:
    """How the input of a convolution is numbered as nodes.

    A tap of output row ``i`` and kernel row ``r`` reads padded row ``y = i·stride + r·dilation``. That
    row is a node iff ``origin ≤ y < origin + h``; the node's index inside channel ``c`` is
    ``c·h·w + (y − origin)·w + (x − origin_x)``. Three grids are used (docs/method/encodings.md):

    * true input: ``origin = padding``, ``h × w`` = unpadded size — zero padding is not a node;
    * ``compat='released'`` input partition: ``origin = 0``, ``h × w`` = padded (and cropped) size;
    * ``compat='released'`` later layers: ``origin = padding``, ``h = P − 2·padding`` with ``P`` the
      cropped padded size — the published padding mask, wrong for cropped stride-2 convolutions.
    """

    h: int
    w: int
    origin: tuple[int, int]

    @staticmethod
    def true(spec: LayerSpec) -> Grid:
        _, h, w = spec.in_shape
        return Grid(h, w, spec.padding)

    @staticmethod
    def padded_size(spec: LayerSpec) -> tuple[int, int]:
        """Padded input size after the published crop: the trailing padded rows no window visits go."""
        _, h, w = spec.in_shape
        _, ho, wo = spec.out_shape
        sizes = []
        for n, n_out, p, k, s, d in zip((h, w), (ho, wo), spec.padding, spec.kernel, spec.stride,
                                        spec.dilation, strict=True):  # fmt: skip
            padded = n + 2 * p
            span = d * (k - 1) + 1
            sizes.append(padded if (padded - span) % s == 0 else (n_out - 1) * s + span)
        return sizes[0], sizes[1]


@dataclass(frozen=True)
class Taps:
    """The valid (input, output) position pairs of one kernel position ``(r, u)`` of a convolution."""

    r: int
    u: int
    in_off: np.ndarray  # (n_pos,) int64: node offset inside an input channel of the grid
    out_off: np.ndarray  # (n_pos,) int64: position y·W_out + x inside an output channel


def conv_taps(spec: LayerSpec, grid: Grid) -> list[Taps]:
    """For every kernel position, the output positions whose input tap falls on a node of ``grid``.

    Cached by geometry: the layers of a residual stage share it, and the arrays are never written to.
    """
    _, ho, wo = spec.out_shape
    return _conv_taps((ho, wo), spec.kernel, spec.stride, spec.dilation, grid)


@functools.lru_cache(maxsize=64)
def _conv_taps(out_hw: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int],
               dilation: tuple[int, int], grid: Grid) -> list[Taps]:  # fmt: skip
    ho, wo = out_hw
    spec_dims = (kernel, stride, dilation)
    per_dim = []  # per spatial dim: for each kernel offset, (valid output indices, grid row of the tap)
    for n_out, k, s, d, origin, size in zip((ho, wo), *spec_dims, grid.origin, (grid.h, grid.w),
                                            strict=True):  # fmt: skip
        out_idx = np.arange(n_out, dtype=np.int64)
        dim = []
        for r in range(k):
            y = out_idx * s + r * d - origin
            keep = (y >= 0) & (y < size)
            dim.append((out_idx[keep], y[keep]))
        per_dim.append(dim)
    taps = []
    for r, (oi, yi) in enumerate(per_dim[0]):
        for u, (oj, xj) in enumerate(per_dim[1]):
            in_off = (yi[:, None] * grid.w + xj[None, :]).ravel()
            out_off = (oi[:, None] * wo + oj[None, :]).ravel()
            in_off.flags.writeable = out_off.flags.writeable = False  # shared through the cache
            taps.append(Taps(r, u, in_off, out_off))
    return taps


@dataclass(frozen=True)
class Relation:
    """Which nodes of one partition each element of a derived tensor reads (pooling windows).

    Row ``e`` lists the nodes ``indices[indptr[e]:indptr[e+1]]``. When every row has the same length
    ``width`` (non-overlapping pools without padding, global pools) ``indices`` reshapes to
    ``(n, width)`` and expansion is a plain gather.
    """

    indptr: np.ndarray
    indices: np.ndarray
    width: int | None

    @property
    def n(self) -> int:
        return len(self.indptr) - 1

    @property
    def counts(self) -> np.ndarray:
        return np.diff(self.indptr)

    @staticmethod
    def from_rows(indices: np.ndarray, valid: np.ndarray | None) -> Relation:
        """From an ``(n, k)`` table of node indices and an optional validity mask of the same shape."""
        n, k = indices.shape
        if valid is None or valid.all():
            return Relation(np.arange(n + 1, dtype=np.int64) * k, indices.reshape(-1).astype(np.int64), k)
        counts = valid.sum(axis=1)
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        return Relation(indptr, indices[valid].astype(np.int64), None)

    def expand(self, elems: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nodes read by ``elems`` (flat int array), concatenated in element order, and per-element counts."""
        if self.width is not None:
            nodes = self.indices.reshape(-1, self.width)[elems].reshape(-1)
            return nodes, np.full(len(elems), self.width, dtype=np.int64)
        counts = self.indptr[elems + 1] - self.indptr[elems]
        total = int(counts.sum())
        starts = np.repeat(self.indptr[elems] - (np.cumsum(counts) - counts), counts)
        return self.indices[starts + np.arange(total, dtype=np.int64)], counts

    def compose(self, inner: Relation | None) -> Relation:
        """This relation read through ``inner`` (element → inner elements → nodes), one entry per path."""
        if inner is None:
            return self
        nodes, counts = inner.expand(self.indices)
        if self.width is not None and inner.width is not None:
            return Relation(
                np.arange(self.n + 1, dtype=np.int64) * (self.width * inner.width), nodes,
                self.width * inner.width,
            )  # fmt: skip
        cum = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=cum[1:])
        return Relation(cum[self.indptr], nodes, None)


def _windows_1d(n_in: int, n_out: int, spec: LayerSpec, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(n_out, k) input rows read by each output row of a pool, and which of them exist."""
    out = np.arange(n_out, dtype=np.int64)
    if spec.adaptive:  # PyTorch's adaptive windows: [floor(i·n/m), ceil((i+1)·n/m))
        start = out * n_in // n_out
        end = ((out + 1) * n_in + n_out - 1) // n_out
        k = int((end - start).max())
        pos = start[:, None] + np.arange(k, dtype=np.int64)[None, :]
        return pos, pos < end[:, None]
    k, s, p, d = spec.kernel[dim], spec.stride[dim], spec.padding[dim], spec.dilation[dim]
    pos = out[:, None] * s - p + np.arange(k, dtype=np.int64)[None, :] * d
    return pos, (pos >= 0) & (pos < n_in)


def pool_relation(spec: LayerSpec) -> Relation:
    """The window of every pooled element (c, y', x') as nodes (c, y, x) of the pre-pool tensor.

    Max- and average-pooling are treated alike (docs/method/encodings.md): every pixel of the window connects.
    """
    c, h, w = spec.in_shape
    _, ho, wo = spec.out_shape if len(spec.out_shape) == 3 else (c, 1, 1)
    py, vy = _windows_1d(h, ho, spec, 0)
    px, vx = _windows_1d(w, wo, spec, 1)
    spatial = (py[:, None, :, None] * w + px[None, :, None, :]).reshape(ho * wo, -1)
    valid = (vy[:, None, :, None] & vx[None, :, None, :]).reshape(ho * wo, -1)
    chan = np.arange(c, dtype=np.int64)[:, None, None] * (h * w)
    indices = (chan + spatial[None]).reshape(c * ho * wo, -1)
    return Relation.from_rows(indices, None if valid.all() else np.broadcast_to(valid, (c, *valid.shape))
                              .reshape(c * ho * wo, -1))  # fmt: skip
