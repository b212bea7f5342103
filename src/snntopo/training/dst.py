"""Dynamic sparse training (DST): SET, RigL, SNFS, DSR and ITOP as one topology updater.

Training mode ``dst`` (``Recipe.mode = "dst"``, options in ``Recipe.dst``) starts from the mask given to
:func:`snntopo.training.train` and, every ``update_interval`` optimizer steps until ``end_fraction`` of
training, drops a fraction of the kept weights and grows as many new connections. DST has no pruner of
its own: the initial mask comes from the pipeline's prune step, normally pruner ``erk`` (the ERK
initialisation of RigL/ITOP; ``dst.init_pruner`` in the sweep config).

One topology update at optimizer step t (after the step, on the updated weights):

1. **Fraction** f_t = α/2·(1 + cos(π·t/T_end)) (``decay: cosine``, RigL), α·(1 − t/T_end) (``linear``) or
   α (``constant``), α = ``death_fraction``, T_end = ``end_fraction`` × total steps.
2. **Death.** ``magnitude``: every layer drops round(f_t·n_l) of its n_l kept weights, smallest |w| first.
   ``global_magnitude`` (DSR): round(f_t·Σn_l) kept weights of smallest |w| over all layers jointly (the
   largest-|w| weight of every layer is protected so that no layer collapses).
3. **Redistribution** of the growth budget (the number of dropped weights). ``none``: every layer regrows
   what it lost (per-layer densities constant). ``nonzero`` (DSR): the budget is shared out in proportion
   to the layers' surviving weights; ``momentum`` (SNFS): in proportion to the mean |momentum| of the
   layers' surviving weights. Shares are capped by each layer's free positions; the global count is
   always constant.
4. **Growth** among the positions inactive after the death step. ``random`` (SET, DSR, ITOP): uniformly
   at random from a seeded generator that is part of the checkpoint; ``gradient`` (RigL): largest |dense
   gradient| of the batch of step t (gradients w.r.t. every weight, taken before the mask is applied to
   them: a pruned weight is 0 but its gradient is not); ``momentum`` (SNFS): largest |m| where m is an
   exponential moving average (factor ``grad_momentum``) of the dense gradients, updated every step.
   As in RigL, a weight dropped and regrown in the same update keeps its value; genuinely new
   connections start at 0 with zero momentum, and the optimizer state of dropped weights is zeroed.

Selections use :func:`snntopo.pruning.global_topk_masks` per layer (one ``kthvalue`` on the flattened
tensor, deterministic ties): the loop runs over layers, never over weights.

Outputs (in the training ``out_dir``, see :func:`snntopo.training.train`): ``final_mask.pt`` (+ ``.json``)
in the format of :func:`snntopo.pruning.save_masks`; ``mask_snapshots/step_XXXXXX.pt``, one per update
plus the initial mask at step 0 (format in :func:`save_mask_snapshot`, read back with
:func:`load_mask_snapshot` / :func:`load_mask_snapshots`); ``dst_log.csv``, one row per update
(:data:`DST_LOG_COLUMNS`: ``dropped`` weights, ``grown`` new connections, ``regrown`` dropped and grown
back at once, ``active`` count, ``exploration_rate`` = fraction of all weights active at some point so
far, ITOP's R_s).

Presets (registry :data:`DST_PRESETS`, source → algorithm → settings; option ``preset``, default
``mge`` where the MGE code has the algorithm, else ``paper``; :data:`DST_ALGORITHMS` holds each
algorithm's default preset):

======  ======  ========  =====  ========  =====  ========  ==============  ======  =======
preset  algo    interval  α      decay     end    growth    death           redis.  inherit
======  ======  ========  =====  ========  =====  ========  ==============  ======  =======
mge     set     100       0.7    constant  1.0    random    magnitude       none    no
mge     snfs    100       0.5    cosine    1.0    momentum  magnitude       moment  yes
mge     dsr     100       0.3    constant  1.0    random    global_magn.    nonzero no
paper   set     391       0.3    constant  1.0    random    magnitude       none    no
paper   snfs    391       0.5    cosine    1.0    momentum  magnitude       moment  yes
paper   rigl    100       0.3    cosine    0.75   gradient  magnitude       none    no
paper   itop    1500      0.5    cosine    1.0    random    magnitude       none    no
======  ======  ========  =====  ========  =====  ========  ==============  ======  =======

What each follows, truthfully:

* ``mge``: the defaults of ``add_sparse_args_SET`` / ``_SNFS`` / ``_DSR`` in the MGE study's
  ``utils/sparselearning/core.py`` (prune rate 0.7 / 0.5 / 0.3; decay schedule ``None`` for SET and DSR,
  i.e. a constant rate; cosine for SNFS) with its ``prune_every_k_steps = 100``. The MGE study's DST
  training script is not released, so these are the code's presets, not proven run settings. Deliberate
  differences: SET's ``'SET'`` prune mode in that code (``magnitude_and_negativity_prune``) keeps only
  the most negative weights of a layer after its first sort (a known defect of the copied
  sparse_learning function); here SET drops the smallest |w|, the SET paper's "closest to zero" rule.
  sparse_learning's cosine decays to 0.005 rather than 0 and is stepped on every optimizer step; here
  it reaches 0 at T_end. DSR's adaptive threshold is replaced by an exact global count.
* ``paper``: RigL (Evci et al. 2020, CIFAR: ΔT = 100, α = 0.3 cosine, end 0.75); ITOP (Liu et al.
  2021, CIFAR scripts: ΔT = 1500, death rate 0.5 cosine); SET (Mocanu et al. 2018: ζ = 0.3 once per
  epoch, no decay) and SNFS (Dettmers & Zettlemoyer 2019 / the sparse_learning code: prune rate 0.5
  cosine, once per epoch), "once per epoch" written as 391 optimizer steps = one CIFAR epoch at the
  MGE recipe's batch 128. Override ``update_interval`` for other datasets or batch sizes.

**Momentum of a grown weight** (``inherit_momentum``). In sparse_learning (the SNFS code, and the MGE
copy of it) gradients are not masked, so the optimizer's momentum buffer of a pruned position keeps
accumulating its dense gradient, and a weight grown there starts with that accumulated buffer (its value
is 0; the next optimizer step already moves it). ``inherit_momentum: true`` reproduces this: at growth,
the SGD ``momentum_buffer`` of every newly grown position is set to the dense-gradient moving average
(``grad_momentum``, the same recursion buf ← μ·buf + g; the weight-decay term vanishes at w = 0). It is on
in both SNFS presets (faithful to the code SNFS is named after) and off elsewhere (RigL and ITOP start
grown weights with zero momentum, as their code does). It needs the moving average, so it is kept
whenever ``inherit_momentum`` is on.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from snntopo.errors import CheckpointError, InvalidValueError
from snntopo.pruning.masks import Masks, global_topk_masks
from snntopo.pruning.random import apportion
from snntopo.registry import Registry
from snntopo.utils import atomic_path

GROWTH = ("random", "gradient", "momentum")
DEATH = ("magnitude", "global_magnitude")
REDISTRIBUTION = ("none", "nonzero", "momentum")
DECAY = ("cosine", "linear", "constant")
SNAPSHOT_DIR, FINAL_MASK, DST_LOG = "mask_snapshots", "final_mask.pt", "dst_log.csv"
SNAPSHOT_FORMAT_VERSION = 1
DST_LOG_COLUMNS = ("update", "step", "fraction", "dropped", "grown", "regrown", "active", "exploration_rate")


@dataclasses.dataclass(frozen=True)
class DSTConfig:
    """Every setting of the topology updater (see the module docstring for their meaning)."""

    algorithm: str = "rigl"
    update_interval: int = 100
    death_fraction: float = 0.3
    decay: str = "cosine"
    end_fraction: float = 0.75
    growth: str = "gradient"
    death: str = "magnitude"
    redistribution: str = "none"
    grad_momentum: float = 0.9
    snapshots: bool = True
    preset: str = "paper"
    inherit_momentum: bool = False

    def __post_init__(self) -> None:
        _validate(self)
        for name in ("death_fraction", "end_fraction", "grad_momentum"):
            object.__setattr__(self, name, float(getattr(self, name)))

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def needs_momentum(self) -> bool:
        """Whether the dense-gradient moving average must be kept (momentum growth or redistribution)."""
        return self.growth == "momentum" or self.redistribution == "momentum" or self.inherit_momentum


#: algorithm → its default preset's settings (the names the sweep config accepts).
DST_ALGORITHMS: Registry[DSTConfig] = Registry("DST algorithm")
#: source ("mge", "paper") → algorithm → settings.
DST_PRESETS: Registry[dict[str, DSTConfig]] = Registry("DST preset")


def dst_config(options: Mapping[str, Any] | None = None) -> DSTConfig:
    """The settings of ``options["algorithm"]`` (default ``rigl``) from ``options["preset"]`` (default: the
    algorithm's default preset, see :data:`DST_ALGORITHMS`), with the other options applied.

    Unknown keys raise InvalidValueError naming them and the accepted ones; an unknown algorithm raises
    UnknownNameError listing them; a preset without that algorithm names the presets that have it; every
    value is validated.
    """
    options = dict(options or {})
    accepted = [f.name for f in dataclasses.fields(DSTConfig)]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise InvalidValueError("DST option(s)", ", ".join(unknown), "options " + ", ".join(accepted))
    algorithm = options.pop("algorithm", "rigl")
    default = DST_ALGORITHMS.get(algorithm)
    source = options.pop("preset", default.preset)
    table = DST_PRESETS.get(source) if isinstance(source, str) else {}
    if algorithm not in table:
        having = [p for p in DST_PRESETS.names() if algorithm in DST_PRESETS.get(p)]
        raise InvalidValueError(f"DST preset of algorithm {algorithm!r}", source, ", ".join(having))
    return dataclasses.replace(table[algorithm], **options)


def _validate(c: DSTConfig) -> None:
    # ``algorithm`` is the preset's label (checked against the registry by :func:`dst_config`).
    if not isinstance(c.algorithm, str):
        raise InvalidValueError("DST algorithm", c.algorithm, ", ".join(DST_ALGORITHMS.names()))
    if isinstance(c.update_interval, bool) or not isinstance(c.update_interval, int) or c.update_interval < 1:
        raise InvalidValueError("DST update_interval", c.update_interval, "an integer >= 1 (optimizer steps)")
    for name, ok, accepted in (
        ("death_fraction", lambda x: 0 < x < 1, "a number in (0, 1)"),
        ("end_fraction", lambda x: 0 < x <= 1, "a number in (0, 1]"),
        ("grad_momentum", lambda x: 0 <= x < 1, "a number in [0, 1)"),
    ):
        value = getattr(c, name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not ok(value):
            raise InvalidValueError(f"DST {name}", value, accepted)
    for name, choices in (("decay", DECAY), ("growth", GROWTH), ("death", DEATH),
                          ("redistribution", REDISTRIBUTION)):  # fmt: skip
        if getattr(c, name) not in choices:
            raise InvalidValueError(f"DST {name}", getattr(c, name), ", ".join(choices))
    for name in ("snapshots", "inherit_momentum"):
        if not isinstance(getattr(c, name), bool):
            raise InvalidValueError(f"DST {name}", getattr(c, name), "true or false")
    if not isinstance(c.preset, str):
        raise InvalidValueError("DST preset", c.preset, ", ".join(DST_PRESETS.names()))


def _register_presets() -> None:
    m, p = "mge", "paper"
    presets = (
        DSTConfig("set", 100, 0.7, "constant", 1.0, "random", "magnitude", "none", preset=m),
        DSTConfig("snfs", 100, 0.5, "cosine", 1.0, "momentum", "magnitude", "momentum", preset=m,
                  inherit_momentum=True),
        DSTConfig("dsr", 100, 0.3, "constant", 1.0, "random", "global_magnitude", "nonzero", preset=m),
        DSTConfig("set", 391, 0.3, "constant", 1.0, "random", "magnitude", "none", preset=p),
        DSTConfig("snfs", 391, 0.5, "cosine", 1.0, "momentum", "magnitude", "momentum", preset=p,
                  inherit_momentum=True),
        DSTConfig("rigl", 100, 0.3, "cosine", 0.75, "gradient", "magnitude", "none", preset=p),
        DSTConfig("itop", 1500, 0.5, "cosine", 1.0, "random", "magnitude", "none", preset=p),
    )  # fmt: skip
    tables: dict[str, dict[str, DSTConfig]] = {}
    for c in presets:
        tables.setdefault(c.preset, {})[c.algorithm] = c
    for source, table in tables.items():
        DST_PRESETS.register(source)(table)
    for algorithm in sorted({c.algorithm for c in presets}):  # the MGE study's settings where it has any
        DST_ALGORITHMS.register(algorithm)(tables[m].get(algorithm) or tables[p][algorithm])


_register_presets()


class DSTUpdater:
    """Evolves the masks held by a :class:`~snntopo.training.masking.MaskApplier` during training.

    Call :meth:`observe_grads` after ``backward`` and before the gradients are masked, and
    :meth:`after_step` after the optimizer step and the weight re-mask. ``total_steps`` (epochs × batches
    per epoch) fixes T_end. :meth:`state_dict` holds everything needed to resume bitwise: step counter,
    current masks, the growth generator's state, the gradient moving average and the update history.
    """

    def __init__(
        self,
        config: DSTConfig,
        applier: Any,
        *,
        total_steps: int,
        seed: int,
        snapshot_dir: str | os.PathLike[str] | None = None,
    ):
        if applier is None or len(applier) == 0:
            raise InvalidValueError(
                "masks for training mode 'dst'", None, "an initial sparse mask (e.g. from pruner 'erk')"
            )
        self.config, self.applier = config, applier
        self.names: list[str] = list(applier.names)
        self.params: list[nn.Parameter] = list(applier.params)
        self.total_steps = int(total_steps)
        self.end_step = math.floor(config.end_fraction * self.total_steps)
        self.snapshot_dir = None if snapshot_dir is None or not config.snapshots else Path(snapshot_dir)
        slots = zip(self.names, applier.masks, strict=True)
        self.masks: dict[str, torch.Tensor] = {n: m.detach() != 0 for n, m in slots}
        self.numel = sum(m.numel() for m in self.masks.values())
        self.explored = {n: m.clone() for n, m in self.masks.items()}
        self.step, self.updates = 0, 0
        self.history: list[dict[str, Any]] = []
        # A private stream: growth never touches (or depends on) the global RNG used by data augmentation.
        state = np.random.SeedSequence([int(seed), 0xD57]).generate_state(1, dtype=np.uint64)[0]
        self.generator = torch.Generator().manual_seed(int(state) >> 1)
        self.grad_ema: dict[str, torch.Tensor] = (
            {n: torch.zeros_like(p, memory_format=torch.preserve_format) for n, p in self._named()}
            if config.needs_momentum
            else {}
        )
        self._grads: dict[str, torch.Tensor] = {}

    # --------------------------------------------------------------------------------------- schedule
    def is_update_step(self, step: int) -> bool:
        """Topology updates happen after optimizer steps ΔT, 2ΔT, … strictly before T_end."""
        return step % self.config.update_interval == 0 and 0 < step < self.end_step

    def fraction(self, step: int) -> float:
        """Death fraction f_t at optimizer step ``step`` (0 from T_end on)."""
        if step >= self.end_step:
            return 0.0
        a, x = self.config.death_fraction, step / self.end_step
        return {"cosine": a / 2 * (1 + math.cos(math.pi * x)), "linear": a * (1 - x), "constant": a}[
            self.config.decay
        ]

    # ------------------------------------------------------------------------------------------ hooks
    def start(self) -> None:
        """Fresh run: write the step-0 snapshot (the initial mask)."""
        self._snapshot()

    @torch.no_grad()
    def observe_grads(self) -> None:
        """Read the dense gradients of the step about to be taken (before they are masked)."""
        upcoming = self.step + 1
        for n, p in self._named():
            if p.grad is None:
                continue
            if self.grad_ema:
                self.grad_ema[n].mul_(self.config.grad_momentum).add_(p.grad)
            if self.config.growth == "gradient" and self.is_update_step(upcoming):
                self._grads[n] = p.grad.abs()

    @torch.no_grad()
    def after_step(self, optimizer: torch.optim.Optimizer) -> bool:
        """Count the step; update the topology when due. Returns whether the masks changed."""
        self.step += 1
        if not self.is_update_step(self.step):
            return False
        self._update(optimizer)
        self._grads = {}
        return True

    # ----------------------------------------------------------------------------------------- update
    def _update(self, optimizer: torch.optim.Optimizer) -> None:
        f = self.fraction(self.step)
        old = self.masks
        weights = {n: p.detach() for n, p in self._named()}
        survivors = self._death(old, weights, f)
        dropped = {n: int(old[n].sum()) - int(survivors[n].sum()) for n in self.names}
        budget = sum(dropped.values())
        counts = self._growth_counts(survivors, dropped, budget)
        new: Masks = {}
        for n in self.names:
            if counts[n] == 0:
                new[n] = survivors[n]
                continue
            score = self._growth_score(n, weights[n])
            # Candidates: every position inactive after the death step (just-dropped ones included, as in
            # RigL: a dropped-and-regrown weight simply keeps its value).
            candidate = torch.where(survivors[n], torch.tensor(-torch.inf, device=score.device), score)
            grown = global_topk_masks({n: candidate}, keep=counts[n])[n]
            new[n] = survivors[n] | grown
        self._install(new, optimizer)
        if self.config.inherit_momentum and optimizer is not None:
            self._inherit_momentum(optimizer, {n: new[n] & ~old[n] for n in self.names})  # new connections
        changed_in = sum(int((new[n] & ~old[n]).sum()) for n in self.names)
        for n in self.names:
            self.explored[n] |= new[n]
        self.updates += 1
        self.history.append(
            {
                "update": self.updates,
                "step": self.step,
                "fraction": f,
                "dropped": budget,
                "grown": changed_in,
                "regrown": budget - changed_in,
                "active": sum(int(m.sum()) for m in new.values()),
                "exploration_rate": sum(int(m.sum()) for m in self.explored.values()) / self.numel,
            }
        )
        self._snapshot()

    def _death(self, masks: Masks, weights: Mapping[str, torch.Tensor], f: float) -> Masks:
        """Masks after dropping the smallest-|w| kept weights (per layer or globally)."""
        scores = {n: torch.where(masks[n], weights[n].abs().float(), -torch.inf) for n in self.names}
        kept = {n: int(masks[n].sum()) for n in self.names}
        if self.config.death == "magnitude":
            return {
                n: global_topk_masks({n: scores[n]}, keep=kept[n] - round(f * kept[n]))[n] for n in self.names
            }
        total = sum(kept.values())
        for n in self.names:  # protect each layer's largest kept weight: no layer may die out entirely
            if kept[n]:
                flat = scores[n].reshape(-1)
                flat[flat.argmax()] = torch.inf
        return global_topk_masks(scores, keep=total - round(f * total))

    def _growth_counts(self, survivors: Masks, dropped: Mapping[str, int], budget: int) -> dict[str, int]:
        if self.config.redistribution == "none":
            return dict(dropped)
        alive = {n: int(survivors[n].sum()) for n in self.names}
        free = {n: survivors[n].numel() - alive[n] for n in self.names}
        if self.config.redistribution == "nonzero":
            share = {n: float(alive[n]) for n in self.names}
        else:  # momentum: mean |m| over the layer's surviving weights (SNFS)
            share = {
                n: float(self.grad_ema[n].abs()[survivors[n]].mean()) if alive[n] else 0.0 for n in self.names
            }
        return capped_apportion(share, free, budget)

    def _growth_score(self, name: str, weight: torch.Tensor) -> torch.Tensor:
        growth = self.config.growth
        if growth == "random":
            return torch.rand(weight.shape, generator=self.generator).to(weight.device)
        if growth == "gradient":
            if name not in self._grads:
                raise RuntimeError(f"DST: no gradient of {name!r} at update step {self.step}")
            return self._grads[name].float()
        return self.grad_ema[name].abs().float()

    def _install(self, masks: Masks, optimizer: torch.optim.Optimizer | None) -> None:
        """Make ``masks`` current: applier masks, weights of dropped entries and their optimizer state 0."""
        self.masks = {n: m.clone() for n, m in masks.items()}
        for n, slot in zip(self.names, self.applier.masks, strict=True):
            slot.copy_(self.masks[n])
        self.applier.apply()
        if optimizer is not None:
            self.applier.mask_optimizer_state(optimizer)

    def _inherit_momentum(self, optimizer: torch.optim.Optimizer, grown: Masks) -> None:
        """Give every grown position the accumulated dense-gradient momentum (sparse_learning's SNFS)."""
        for n, p in self._named():
            state = optimizer.state.get(p, {})
            buf = state.get("momentum_buffer")
            if buf is None:
                raise InvalidValueError(
                    "DST inherit_momentum",
                    True,
                    "an optimizer with a momentum buffer (SGD with momentum > 0)",
                )
            buf[grown[n]] = self.grad_ema[n][grown[n]].to(buf.dtype)

    def _named(self) -> Iterator[tuple[str, nn.Parameter]]:
        return zip(self.names, self.params, strict=True)

    # -------------------------------------------------------------------------------------- outputs
    def current_masks(self) -> Masks:
        """The current masks as bool CPU tensors (the final mask at the end of training)."""
        return {n: m.detach().to("cpu", torch.bool).contiguous() for n, m in self.masks.items()}

    def exploration_rate(self) -> float:
        """Fraction of all weights that were active at some point so far (ITOP's R_s)."""
        return sum(int(m.sum()) for m in self.explored.values()) / self.numel

    def _snapshot(self) -> None:
        if self.snapshot_dir is not None:
            save_mask_snapshot(
                self.snapshot_dir / f"step_{self.step:06d}.pt", self.current_masks(),
                step=self.step, update=self.updates,
            )  # fmt: skip

    def write_log(self, path: str | os.PathLike[str]) -> None:
        """``dst_log.csv``: one row per topology update (columns :data:`DST_LOG_COLUMNS`)."""
        with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(DST_LOG_COLUMNS)
            for row in self.history:
                writer.writerow([row[c] for c in DST_LOG_COLUMNS])

    # --------------------------------------------------------------------------------- checkpointing
    def state_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.as_dict(),
            "step": self.step,
            "updates": self.updates,
            "generator": self.generator.get_state(),
            "masks": self.current_masks(),
            "explored": {n: m.cpu() for n, m in self.explored.items()},
            "grad_ema": {n: t.cpu() for n, t in self.grad_ema.items()},
            "history": list(self.history),
        }

    def load_state_dict(
        self, state: Mapping[str, Any], optimizer: torch.optim.Optimizer | None = None
    ) -> None:
        if state.get("config") != self.config.as_dict():
            raise CheckpointError(f"DST state of another configuration: {state.get('config')!r}")
        device = self.params[0].device
        self.step, self.updates = int(state["step"]), int(state["updates"])
        self.generator.set_state(state["generator"])
        self.explored = {n: state["explored"][n].to(device) for n in self.names}
        self.grad_ema = (
            {n: state["grad_ema"][n].to(p.device) for n, p in self._named()} if self.grad_ema else {}
        )
        self.history = list(state["history"])
        self._install({n: state["masks"][n].to(device) for n in self.names}, optimizer)


def capped_apportion(share: Mapping[str, float], capacity: Mapping[str, int], total: int) -> dict[str, int]:
    """Integers c_l ≤ capacity_l with Σ c_l = ``total``, proportional to ``share`` where the caps allow.

    Layers whose proportional part exceeds their capacity get exactly their capacity and the rest is
    re-shared among the others (repeat until no cap binds); a zero total share falls back to sharing in
    proportion to capacity. Then largest-remainder rounding (:func:`snntopo.pruning.apportion`).
    """
    if total > sum(capacity.values()):
        raise ValueError(f"cannot place {total} weights in {sum(capacity.values())} free positions")
    capped: set[str] = set()
    while True:
        rest = [n for n in share if n not in capped]
        left = total - sum(capacity[n] for n in capped)
        weights = {n: max(float(share[n]), 0.0) for n in rest}
        if sum(weights.values()) <= 0:
            weights = {n: float(capacity[n]) for n in rest}
        norm = sum(weights.values())
        targets = {n: left * weights[n] / norm if norm else 0.0 for n in rest}
        over = [n for n in rest if targets[n] > capacity[n]]
        if not over:
            break
        capped.update(over)
    targets.update({n: float(capacity[n]) for n in capped})
    return apportion({n: targets[n] for n in share}, capacity, total)


# ------------------------------------------------------------------------------------------- snapshots
def save_mask_snapshot(
    path: str | os.PathLike[str], masks: Mapping[str, torch.Tensor], *, step: int, update: int
) -> None:
    """One mask snapshot, bit-packed (8 entries per byte): a ResNet-20 mask takes 34 kB, not 270 kB.

    ``torch.save({"format_version", "step", "update", "names", "shapes", "numel", "bits"})`` where
    ``bits`` is a uint8 tensor of the concatenated flattened masks (module order), big-endian bit order
    (as ``numpy.packbits``).
    """
    names = list(masks)
    flat = torch.cat([masks[n].detach().reshape(-1).to("cpu", torch.bool) for n in names])
    payload = {
        "format_version": SNAPSHOT_FORMAT_VERSION,
        "step": int(step),
        "update": int(update),
        "names": names,
        "shapes": [list(masks[n].shape) for n in names],
        "numel": int(flat.numel()),
        "bits": torch.from_numpy(np.packbits(flat.numpy())),
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_mask_snapshot(path: str | os.PathLike[str]) -> tuple[int, Masks]:
    """``(step, masks)`` of one snapshot file written by :func:`save_mask_snapshot`."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        bits = np.unpackbits(payload["bits"].numpy(), count=payload["numel"]).astype(bool)
    except Exception as err:  # torch/numpy raise several unrelated types for a damaged file
        raise CheckpointError(f"mask snapshot {str(path)!r} is corrupt or not a snapshot ({err})") from None
    flat = torch.from_numpy(bits)
    masks: Masks = {}
    offset = 0
    for name, shape in zip(payload["names"], payload["shapes"], strict=True):
        n = math.prod(shape)
        masks[name] = flat[offset : offset + n].reshape(shape).clone()
        offset += n
    return int(payload["step"]), masks


def load_mask_snapshots(directory: str | os.PathLike[str]) -> list[tuple[int, Masks]]:
    """Every snapshot of a DST run (``out_dir/mask_snapshots``), in step order."""
    files = [p for p in Path(directory).glob("step_*.pt") if re.fullmatch(r"step_\d+\.pt", p.name)]
    return [load_mask_snapshot(p) for p in sorted(files, key=lambda p: int(p.stem[5:]))]
