"""Derive the layer graph of a CNN from the model itself (torch.fx symbolic tracing + shape propagation).

The encoders never look at architecture names: they read which Conv2d / Linear / pooling / addition reads
which tensor from the traced dataflow graph. Element-wise ops (BatchNorm in eval, activations, dropout,
identity, scalar arithmetic) are transparent; flatten/view/reshape keep the row-major element order and are
transparent too, since every partition numbers its nodes in that order (channel, row, column).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from snntopo.errors import InvalidValueError
from snntopo.models.registry import prunable_parameters

Pair = tuple[int, int]

SUPPORTED = (
    "Conv2d (any stride/padding/dilation/groups, zero padding), Linear on flat features, MaxPool2d, "
    "AvgPool2d, AdaptiveAvg/MaxPool2d (modules or functional), flatten/view/reshape, additions of "
    "equal-shape tensors, element-wise ops (BatchNorm, activations, dropout, Identity, scalar arithmetic)"
)


@dataclass(frozen=True)
class LayerSpec:
    """One op of the layer graph that the encoders care about.

    ``kind`` is ``conv``, ``linear``, ``pool`` or ``add``. Tensors are numbered by the tracer (0 = network
    input); ``inputs`` are the tensors read, ``output`` the tensor written. Shapes exclude the batch dim.
    ``layer_index`` is the position of the weight in :func:`prunable_parameters` order (-1 for pool/add).
    """

    name: str
    kind: str
    inputs: tuple[int, ...]
    output: int
    in_shapes: tuple[tuple[int, ...], ...]
    out_shape: tuple[int, ...]
    param_name: str | None = None
    layer_index: int = -1
    kernel: Pair = (1, 1)
    stride: Pair = (1, 1)
    padding: Pair = (0, 0)
    dilation: Pair = (1, 1)
    groups: int = 1
    adaptive: bool = False
    module: nn.Module | None = field(default=None, compare=False, repr=False)

    @property
    def in_shape(self) -> tuple[int, ...]:
        return self.in_shapes[0]


@dataclass(frozen=True)
class LayerGraph:
    """The traced DAG: ``specs`` in topological (execution) order over tensors ``0 .. n_tensors-1``."""

    input_shape: tuple[int, int, int]
    specs: tuple[LayerSpec, ...]
    n_tensors: int
    output: int
    layer_names: tuple[str, ...]  # module names of all prunable layers, in prunable_parameters order
    param_names: tuple[str, ...]

    def consumers(self) -> dict[int, list[int]]:
        """tensor id → indices of the specs that read it (once per spec)."""
        out: dict[int, list[int]] = {t: [] for t in range(self.n_tensors)}
        for i, spec in enumerate(self.specs):
            for t in dict.fromkeys(spec.inputs):
                out[t].append(i)
        return out

    def producer(self) -> dict[int, int]:
        return {spec.output: i for i, spec in enumerate(self.specs)}

    def weighted(self) -> list[LayerSpec]:
        return [s for s in self.specs if s.kind in ("conv", "linear")]


def _pair(v: Any) -> Pair:
    if isinstance(v, int):
        return (v, v)
    t = tuple(int(x) for x in v)
    return (t[0], t[0]) if len(t) == 1 else (t[0], t[1])


class _Tracer:
    """Walks the fx graph once, mapping each fx node to a tensor id (aliases share the id)."""

    def __init__(self, gm: fx.GraphModule, model: nn.Module, input_shape: tuple[int, int, int]):
        self.gm, self.model, self.input_shape = gm, model, input_shape
        self.tensor_of: dict[fx.Node, int] = {}
        self.specs: list[LayerSpec] = []
        self.n_tensors = 0
        params = prunable_parameters(model)
        self.param_names = tuple(params)
        self.layer_names = tuple(p.rsplit(".", 1)[0] if "." in p else "" for p in params)
        self.layer_index = {n: i for i, n in enumerate(self.layer_names)}

    # -- helpers -------------------------------------------------------------------------------------
    def new_tensor(self) -> int:
        self.n_tensors += 1
        return self.n_tensors - 1

    @staticmethod
    def shape(node: fx.Node) -> tuple[int, ...]:
        return tuple(int(s) for s in node.meta["tensor_meta"].shape[1:])

    def tensor_args(self, node: fx.Node) -> list[fx.Node]:
        return [a for a in node.all_input_nodes if a in self.tensor_of]

    def alias(self, node: fx.Node) -> None:
        (src,) = self.single_input(node)
        self.tensor_of[node] = self.tensor_of[src]

    def single_input(self, node: fx.Node) -> list[fx.Node]:
        args = self.tensor_args(node)
        if len(args) != 1:
            self.unsupported(node, f"expects one tensor input, got {len(args)}")
        return args

    def unsupported(self, node: fx.Node, why: str = "") -> None:
        what = f"{node.op} {node.target}" + (f" ({why})" if why else "")
        raise InvalidValueError("operation in model for graph encoding", what, SUPPORTED)

    def add_spec(self, node: fx.Node, kind: str, inputs: Sequence[fx.Node], **kw: Any) -> None:
        out = self.new_tensor()
        self.tensor_of[node] = out
        self.specs.append(
            LayerSpec(
                kind=kind,
                inputs=tuple(self.tensor_of[a] for a in inputs),
                output=out,
                in_shapes=tuple(self.shape(a) for a in inputs),
                out_shape=self.shape(node),
                **kw,
            )
        )

    # -- handlers ------------------------------------------------------------------------------------
    def conv(self, node: fx.Node, m: nn.Module) -> None:
        assert isinstance(m, nn.Conv2d)
        (src,) = self.single_input(node)
        if m.padding_mode != "zeros":
            self.unsupported(node, f"padding_mode {m.padding_mode!r}; only zero padding keeps the pattern")
        k, d = _pair(m.kernel_size), _pair(m.dilation)
        if isinstance(m.padding, str):
            total = [dd * (kk - 1) for kk, dd in zip(k, d, strict=True)]
            if m.padding == "same" and any(t % 2 for t in total):
                self.unsupported(node, "asymmetric 'same' padding")
            padding = (total[0] // 2, total[1] // 2) if m.padding == "same" else (0, 0)
        else:
            padding = _pair(m.padding)
        name = str(node.target)
        self.add_spec(
            node, "conv", [src], name=name, param_name=f"{name}.weight", layer_index=self.layer_index[name],
            kernel=k, stride=_pair(m.stride), padding=padding, dilation=d, groups=int(m.groups), module=m,
        )  # fmt: skip

    def linear(self, node: fx.Node, m: nn.Module) -> None:
        (src,) = self.single_input(node)
        if len(self.shape(src)) != 1:
            self.unsupported(node, f"Linear on a tensor of shape {self.shape(src)}; flatten first")
        name = str(node.target)
        self.add_spec(
            node, "linear", [src], name=name, param_name=f"{name}.weight", layer_index=self.layer_index[name],
            module=m,
        )  # fmt: skip

    def pool(self, node: fx.Node, name: str, kernel: Any, stride: Any, padding: Any, dilation: Any) -> None:
        (src,) = self.single_input(node)
        if len(self.shape(src)) != 3:
            self.unsupported(node, "2-D pooling expects a (C, H, W) tensor")
        k = _pair(kernel)
        self.add_spec(
            node, "pool", [src], name=name, kernel=k, stride=_pair(stride if stride else k),
            padding=_pair(padding), dilation=_pair(dilation),
        )  # fmt: skip

    def adaptive_pool(self, node: fx.Node, name: str) -> None:
        (src,) = self.single_input(node)
        if len(self.shape(src)) != 3:
            self.unsupported(node, "2-D pooling expects a (C, H, W) tensor")
        self.add_spec(node, "pool", [src], name=name, adaptive=True)

    def add(self, node: fx.Node) -> None:
        args = self.tensor_args(node)
        if len(args) == 1:  # tensor + scalar: element-wise
            self.alias(node)
            return
        shapes = {self.shape(a) for a in args} | {self.shape(node)}
        if len(shapes) != 1:
            self.unsupported(node, f"sum of tensors of different shapes {sorted(shapes)} (broadcasting)")
        self.add_spec(node, "add", args, name=node.name)

    def scalar_only(self, node: fx.Node) -> None:
        """mul/div: element-wise by a scalar is transparent; a product of two tensors (gating) is not."""
        if len(self.tensor_args(node)) != 1:
            self.unsupported(node, "product of two tensors")
        self.alias(node)

    def reshape(self, node: fx.Node) -> None:
        (src,) = self.single_input(node)
        if math.prod(self.shape(src)) != math.prod(self.shape(node)):
            self.unsupported(node, "reshape that changes the per-sample size")
        self.alias(node)

    def mean(self, node: fx.Node) -> None:
        """``x.mean((2, 3))`` / ``x.mean([-2, -1])`` is a global average pool."""
        (src,) = self.single_input(node)
        dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
        dims = {int(d) % 4 for d in ((dims,) if isinstance(dims, int) else (dims or ()))}
        if len(self.shape(src)) != 3 or dims != {2, 3}:
            self.unsupported(node, "mean over anything but the two spatial dims")
        keep = bool(node.kwargs.get("keepdim", node.args[2] if len(node.args) > 2 else False))
        out = self.new_tensor()
        self.tensor_of[node] = out
        c = self.shape(src)[0]
        self.specs.append(
            LayerSpec(name=node.name, kind="pool", inputs=(self.tensor_of[src],), output=out,
                      in_shapes=(self.shape(src),), out_shape=(c, 1, 1) if keep else (c,), adaptive=True)
        )  # fmt: skip

    # -- dispatch ------------------------------------------------------------------------------------
    def run(self) -> LayerGraph:
        output: int | None = None
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                if self.tensor_of:
                    self.unsupported(node, "more than one input")
                self.tensor_of[node] = self.new_tensor()
            elif node.op == "output":
                args = self.tensor_args(node)
                if len(args) != 1:
                    self.unsupported(node, "models with several outputs")
                output = self.tensor_of[args[0]]
            elif not _is_tensor(node):
                continue  # sizes, shapes and other Python values feed reshapes only
            elif node.op == "call_module":
                module = self.gm.get_submodule(str(node.target))
                handler = _lookup_module(module)
                if handler is None:
                    self.unsupported(node, type(module).__name__)
                handler(self, node, module)
            elif node.op == "call_function":
                handler = _FUNCTIONS.get(node.target)
                if handler is None:
                    self.unsupported(node)
                handler(self, node)
            elif node.op == "call_method":
                handler = _METHODS.get(str(node.target))
                if handler is None:
                    self.unsupported(node)
                handler(self, node)
            else:  # get_attr: a constant tensor; only harmless if nothing reads it as data
                continue
        assert output is not None
        return LayerGraph(
            input_shape=self.input_shape, specs=tuple(self.specs), n_tensors=self.n_tensors, output=output,
            layer_names=self.layer_names, param_names=self.param_names,
        )  # fmt: skip


def _is_tensor(node: fx.Node) -> bool:
    t = node.meta.get("type")
    return isinstance(t, type) and issubclass(t, torch.Tensor) and "tensor_meta" in node.meta


def _module_pool(tr: _Tracer, node: fx.Node, m: nn.Module) -> None:
    assert isinstance(m, nn.MaxPool2d | nn.AvgPool2d)
    tr.pool(node, str(node.target), m.kernel_size, m.stride, m.padding, getattr(m, "dilation", 1))


def _module_adaptive(tr: _Tracer, node: fx.Node, m: nn.Module) -> None:
    tr.adaptive_pool(node, str(node.target))


def _module_flatten(tr: _Tracer, node: fx.Node, m: nn.Module) -> None:
    assert isinstance(m, nn.Flatten)
    if m.start_dim not in (1, -3):
        tr.unsupported(node, "Flatten that merges the batch dimension")
    tr.reshape(node)


def _passthrough(tr: _Tracer, node: fx.Node, *_: Any) -> None:
    (src,) = tr.single_input(node)
    if tr.shape(src) != tr.shape(node):
        tr.unsupported(node, "shape-changing op treated as element-wise")
    tr.alias(node)


_MODULES: dict[type, Callable[..., None]] = {
    nn.Conv2d: _Tracer.conv,
    nn.Linear: _Tracer.linear,
    nn.MaxPool2d: _module_pool,
    nn.AvgPool2d: _module_pool,
    nn.AdaptiveAvgPool2d: _module_adaptive,
    nn.AdaptiveMaxPool2d: _module_adaptive,
    nn.Flatten: _module_flatten,
}
# Element-wise in eval mode: they change values, never which input feeds which output.
PASSTHROUGH_MODULES: tuple[type, ...] = (
    nn.BatchNorm1d, nn.BatchNorm2d, nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout,
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
    nn.Sigmoid, nn.Tanh, nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.Softplus,
)  # fmt: skip
_MODULES.update(dict.fromkeys(PASSTHROUGH_MODULES, _passthrough))


def _lookup_module(module: nn.Module) -> Callable[..., None] | None:
    for cls in type(module).__mro__:  # subclasses (e.g. a custom Conv2d) use their base's handler
        if cls in _MODULES:
            return _MODULES[cls]
    return None


def _fn_pool(arg_names: Sequence[str]) -> Callable[[_Tracer, fx.Node], None]:
    """Handler for F.max_pool2d / F.avg_pool2d given the names of their positional parameters."""

    def handle(tr: _Tracer, node: fx.Node) -> None:
        kw = dict(zip(arg_names, node.args[1:], strict=False)) | dict(node.kwargs)
        tr.pool(node, node.name, kw["kernel_size"], kw.get("stride"), kw.get("padding", 0),
                kw.get("dilation", 1))  # fmt: skip

    return handle


def _fn_adaptive(tr: _Tracer, node: fx.Node) -> None:
    tr.adaptive_pool(node, node.name)


def _fn_flatten(tr: _Tracer, node: fx.Node) -> None:
    start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
    if start not in (1, -3):
        tr.unsupported(node, "flatten that merges the batch dimension")
    tr.reshape(node)


_ELEMENTWISE_FUNCTIONS = (
    F.relu, torch.relu, F.relu6, F.leaky_relu, F.elu, F.gelu, F.silu, F.mish, F.hardswish, F.hardtanh,
    torch.sigmoid, F.sigmoid, torch.tanh, F.tanh, F.dropout, F.dropout2d, torch.neg, operator.neg,
)  # fmt: skip
_FUNCTIONS: dict[Any, Callable[[_Tracer, fx.Node], None]] = {
    operator.add: _Tracer.add,
    operator.iadd: _Tracer.add,
    torch.add: _Tracer.add,
    operator.sub: _Tracer.add,  # a difference has the same dependency pattern as a sum
    torch.sub: _Tracer.add,
    operator.mul: _Tracer.scalar_only,
    torch.mul: _Tracer.scalar_only,
    operator.truediv: _Tracer.scalar_only,
    torch.flatten: _fn_flatten,
    F.max_pool2d: _fn_pool(("kernel_size", "stride", "padding", "dilation")),
    F.avg_pool2d: _fn_pool(("kernel_size", "stride", "padding")),
    F.adaptive_avg_pool2d: _fn_adaptive,
    F.adaptive_max_pool2d: _fn_adaptive,
    torch.mean: _Tracer.mean,
}
_FUNCTIONS.update(dict.fromkeys(_ELEMENTWISE_FUNCTIONS, _passthrough))

_METHODS: dict[str, Callable[[_Tracer, fx.Node], None]] = {
    "add": _Tracer.add,
    "add_": _Tracer.add,
    "mul": _Tracer.scalar_only,
    "div": _Tracer.scalar_only,
    "view": _Tracer.reshape,
    "reshape": _Tracer.reshape,
    "flatten": _fn_flatten,
    "mean": _Tracer.mean,
}
_METHODS.update(
    dict.fromkeys(("relu", "relu_", "sigmoid", "tanh", "contiguous", "clone", "float", "neg"), _passthrough)
)


def trace_layers(model: nn.Module, input_shape: Sequence[int]) -> LayerGraph:
    """Trace ``model`` symbolically and propagate a dummy (1, C, H, W) input to learn every shape.

    The model runs once in eval mode (restored afterwards) so BatchNorm and dropout neither fail on a
    batch of one nor change state. Raises :class:`InvalidValueError` naming the first op the encoders
    cannot express (see ``SUPPORTED``).
    """
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3:
        raise InvalidValueError("input_shape", input_shape, "(channels, height, width)")
    try:
        gm = fx.symbolic_trace(model)
    except Exception as err:  # data-dependent control flow etc.
        raise InvalidValueError(
            "model for graph encoding", type(model).__name__, f"a torch.fx-traceable model ({err})"
        ) from None
    was_training, threads = model.training, torch.get_num_threads()
    model.eval()
    # One thread: the dummy forward is tiny, and on a busy machine torch's thread pool makes it ~30× slower.
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            device = next(iter(model.parameters()), torch.empty(0)).device
            ShapeProp(gm).propagate(torch.zeros(1, *shape, device=device))
    finally:
        model.train(was_training)
        torch.set_num_threads(threads)
    return _Tracer(gm, model, shape).run()  # type: ignore[arg-type]
