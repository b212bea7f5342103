"""Keep a fixed pruning mask in force during training, with one fused kernel per parameter list.

Why both the gradient and the weights are masked (SGD with momentum μ and coupled weight decay λ):

    d = g + λ·w;   buf ← μ·buf + d;   w ← w − lr·buf

* Masking ``g`` before the step makes ``d`` exactly 0 at pruned entries *provided* ``w`` is already 0
  there, so the momentum buffer stays 0 and the pruned weight does not move. Alone it cannot repair a
  pruned weight that is non-zero for any reason (a weight changed outside the loop, an update rule with
  terms not proportional to ``g``): weight decay would only shrink it geometrically, never to 0.
* Re-masking ``w`` after the step makes the invariant hold for any update rule. Alone it leaves the raw
  gradients of pruned weights accumulating in the momentum buffer: the weights look right only because
  they are zeroed again after every step, and a single step taken without the re-mask (or the stored
  optimizer state reused elsewhere) would revive them with the whole accumulated momentum.

Together: pruned weights and their momentum entries are exactly 0.0 after every step, at the cost of two
``torch._foreach_mul_`` launches per step (measured in bench/training.py).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from snntopo.errors import InvalidValueError
from snntopo.models import prunable_parameters
from snntopo.pruning.masks import prunable_biases
from snntopo.utils import tensors_checksum


class MaskApplier:
    """Holds boolean masks (True = kept) as 0/1 tensors matching each parameter's dtype, device and strides.

    Build it *after* moving the model to its device and memory format. Masks may cover a subset of
    ``prunable_parameters(model)`` and of the Conv2d/Linear biases (pruners that prune biases, e.g. the MGE
    study's Uniform and SynFlow); parameters without a mask are dense. A pruned bias is held at 0 like a
    pruned weight (a frozen bias, ``freeze_biases``, simply has no gradient to mask).
    """

    def __init__(self, model: nn.Module, masks: Mapping[str, torch.Tensor]):
        prunable = {**prunable_parameters(model), **prunable_biases(model)}
        self.checksum = masks_checksum(masks)
        self.params: list[nn.Parameter] = []
        self.masks: list[torch.Tensor] = []
        self.names: list[str] = []
        for name, mask in masks.items():
            if name not in prunable:
                accepted = "a Conv2d/Linear weight or bias: " + ", ".join(prunable)
                raise InvalidValueError("mask key", name, accepted)
            p = prunable[name]
            if tuple(mask.shape) != tuple(p.shape) or mask.dtype != torch.bool:
                raise InvalidValueError(
                    f"mask {name!r}", f"{mask.dtype} {tuple(mask.shape)}", f"torch.bool {tuple(p.shape)}"
                )
            # empty_like keeps p's strides (channels-last on CUDA), so the multiply reads both alike.
            self.masks.append(torch.empty_like(p, requires_grad=False).copy_(mask))
            self.params.append(p)
            self.names.append(name)

    def __len__(self) -> int:
        return len(self.params)

    @torch.no_grad()
    def apply(self) -> None:
        """Zero pruned weights in place."""
        if self.params:
            torch._foreach_mul_(self.params, self.masks)

    @torch.no_grad()
    def mask_grads(self) -> None:
        """Zero the gradients of pruned weights in place (call between backward and the optimizer step)."""
        pairs = [(p.grad, m) for p, m in zip(self.params, self.masks, strict=True) if p.grad is not None]
        if pairs:
            grads, masks = zip(*pairs, strict=True)
            torch._foreach_mul_(list(grads), list(masks))

    @torch.no_grad()
    def mask_optimizer_state(self, optimizer: torch.optim.Optimizer) -> None:
        """Zero the pruned entries of every per-parameter state tensor shaped like its parameter.

        Not needed in the loop (masked gradients keep SGD's momentum 0 there); used when a state from
        elsewhere is loaded, and by tests.
        """
        tensors, masks = [], []
        for p, m in zip(self.params, self.masks, strict=True):
            for value in optimizer.state.get(p, {}).values():
                if torch.is_tensor(value) and value.shape == p.shape:
                    tensors.append(value)
                    masks.append(m.to(value.dtype))
        if tensors:
            torch._foreach_mul_(tensors, masks)

    @torch.no_grad()
    def max_pruned_magnitude(self) -> float:
        """Largest |w| over pruned entries (0.0 when the mask holds); one sync, for checks and tests."""
        if not self.params:
            return 0.0
        return max(float(((1 - m) * p).abs().max()) for p, m in zip(self.params, self.masks, strict=True))


def masks_checksum(masks: Mapping[str, torch.Tensor] | None) -> str:
    """Checksum of a mask dict ("dense" for no mask) that ties checkpoints and outputs to their mask."""
    return "dense" if not masks else tensors_checksum(masks)


def zero_fraction(model: nn.Module) -> float:
    """Fraction of exactly-zero weights over all prunable parameters (the achieved sparsity)."""
    params = list(prunable_parameters(model).values())
    zeros = torch.stack([(p.detach() == 0).sum() for p in params]).sum()
    total = sum(p.numel() for p in params)
    return float(zeros) / total
