"""Training recipes: the MGE study's hyper-parameters (docs/method/training.md) as defaults, overridable from
config.

``recipe_for(dataset, model, overrides)`` looks the dataset up in the ``RECIPES`` registry, which returns
the study's recipe for that dataset and model; ``overrides`` (a config mapping) then replaces fields one by
one, each validated. Unknown keys are rejected with the list of accepted keys, so a misspelt
hyper-parameter never silently falls back to its default.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Mapping
from typing import Any

from snntopo.errors import InvalidValueError
from snntopo.registry import Registry
from snntopo.training.dst import dst_config

SCHEDULERS = ("multistep", "cosine", "constant")
MODES = ("pai", "dst")
AMP_DTYPES = ("float16", "bfloat16")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Every hyper-parameter of one training run; the whole recipe enters the checkpoint fingerprint.

    ``amp``/``amp_dtype`` and ``channels_last`` only take effect on CUDA. ``freeze_biases`` keeps the
    (zero-initialised) Conv/Linear biases frozen, as the MGE code does (``requires_grad=False``).
    ``nan_check_every`` is how many steps may pass on CUDA before the accumulated non-finite-loss flag is
    read (reading it forces a device sync); on CPU every step is checked.

    ``mode``: ``pai`` (the mask stays fixed) or ``dst`` (dynamic sparse training from the given mask,
    :mod:`snntopo.training.dst`). ``dst``: the DST options (``algorithm`` preset plus overrides), only
    with mode ``dst``; stored resolved (every option of the preset filled in), so that the fingerprint of a
    run changes when a preset's default does.
    """

    epochs: int = 160
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 1e-4
    scheduler: str = "multistep"
    milestones: tuple[int, ...] = (80, 120)
    gamma: float = 0.1
    amp: bool = False
    amp_dtype: str = "float16"
    channels_last: bool = True
    eval_every: int = 1
    num_workers: int = 0
    mode: str = "pai"
    freeze_biases: bool = True
    deterministic: bool = True
    nan_check_every: int = 50
    dst: Mapping[str, Any] = dataclasses.field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if isinstance(self.milestones, list):
            object.__setattr__(self, "milestones", tuple(self.milestones))
        _validate(self)
        if not isinstance(self.dst, Mapping):
            raise InvalidValueError("recipe dst", self.dst, "a mapping of DST options (with mode 'dst')")
        if self.mode == "dst":
            object.__setattr__(self, "dst", dst_config(self.dst).as_dict())
        elif self.dst:
            raise InvalidValueError("recipe dst", dict(self.dst), "no DST options unless mode is 'dst'")
        else:
            object.__setattr__(self, "dst", {})
        # YAML gives ``lr: 1`` as an int; store floats so equal recipes have equal fingerprints.
        for name in ("lr", "momentum", "weight_decay", "gamma"):
            object.__setattr__(self, name, float(getattr(self, name)))

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (milestones as a list)."""
        d = dataclasses.asdict(self)
        d["milestones"] = list(self.milestones)
        d["dst"] = dict(self.dst)
        return d

    def replace(self, overrides: Mapping[str, Any] | None = None) -> Recipe:
        """A copy with ``overrides`` applied; unknown keys raise InvalidValueError naming them."""
        overrides = dict(overrides or {})
        accepted = field_names()
        for key in overrides:
            if key not in accepted:
                raise InvalidValueError("training recipe key", key, ", ".join(accepted))
        if "milestones" in overrides:
            overrides["milestones"] = _as_milestones(overrides["milestones"])
        if overrides.get("mode", self.mode) != "dst" and "dst" not in overrides:
            overrides["dst"] = {}  # switching a DST recipe back to PaI drops its DST options
        return dataclasses.replace(self, **overrides)


def field_names() -> list[str]:
    """The recipe keys a config may override (the fields of :class:`Recipe`)."""
    return [f.name for f in dataclasses.fields(Recipe)]


RecipeBuilder = Callable[[str], Recipe]
RECIPES: Registry[RecipeBuilder] = Registry("training recipe (dataset)")


def recipe_for(dataset: str, model: str, overrides: Mapping[str, Any] | None = None) -> Recipe:
    """The study's recipe for ``dataset``/``model`` with ``overrides`` (config keys) applied and validated."""
    return RECIPES.get(dataset)(model).replace(overrides)


def _cifar(model: str) -> Recipe:
    # CIFAR-10/100: 160 epochs, MultiStepLR [80, 120] γ 0.1; wd 5e-4 for WRN-28-2, 1e-4 otherwise.
    return Recipe(epochs=160, milestones=(80, 120), weight_decay=_weight_decay(model))


def _tiny_imagenet(model: str) -> Recipe:
    # Tiny-ImageNet: 100 epochs; milestones [20, 60, 80] for the CONV family, [30, 60, 80] for the others.
    milestones = (20, 60, 80) if model.startswith("conv") else (30, 60, 80)
    return Recipe(epochs=100, milestones=milestones, weight_decay=_weight_decay(model))


def _digits(model: str) -> Recipe:
    """Embedded default: ~1.4k 8×8 training images, seconds per epoch on one CPU core.

    Not from the study: tuned so that a dense ResNet-20 at 8×8 reaches > 90 % test accuracy in under a
    minute on one core (tests/unit/test_training.py checks it). Cosine decay to 0 over the short run
    replaces the step schedule, whose milestones have no meaning at 15 epochs.
    """
    return Recipe(epochs=15, batch_size=64, lr=0.05, weight_decay=5e-4, scheduler="cosine", milestones=())


def _weight_decay(model: str) -> float:
    return 5e-4 if model.startswith("wrn") else 1e-4


for _name, _builder in {
    "cifar10": _cifar,
    "cifar100": _cifar,
    # A user's ImageFolder data set gets the generic CIFAR-style 160-epoch recipe; override as needed.
    "imagefolder": _cifar,
    "tinyimagenet": _tiny_imagenet,
    "digits": _digits,
}.items():
    RECIPES.register(_name)(_builder)


def _as_milestones(value: Any) -> tuple[int, ...]:
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        raise InvalidValueError("recipe milestones", value, "a list of increasing positive epoch numbers")
    return tuple(value)


def _validate(r: Recipe) -> None:
    """Check every field's type and range; the error names the field, its value and what is accepted."""
    _int(r.epochs, "epochs", 1)
    _int(r.batch_size, "batch_size", 1)
    _int(r.eval_every, "eval_every", 1)
    _int(r.num_workers, "num_workers", 0)
    _int(r.nan_check_every, "nan_check_every", 1)
    _number(r.lr, "lr", lambda x: x > 0, "a finite number > 0")
    _number(r.momentum, "momentum", lambda x: 0 <= x < 1, "a number in [0, 1)")
    _number(r.weight_decay, "weight_decay", lambda x: x >= 0, "a finite number >= 0")
    _number(r.gamma, "gamma", lambda x: 0 < x <= 1, "a number in (0, 1]")
    for name in ("nesterov", "amp", "channels_last", "freeze_biases", "deterministic"):
        if not isinstance(getattr(r, name), bool):
            raise InvalidValueError(f"recipe {name}", getattr(r, name), "true or false")
    _choice(r.scheduler, "scheduler", SCHEDULERS)
    _choice(r.mode, "mode", MODES)
    _choice(r.amp_dtype, "amp_dtype", AMP_DTYPES)
    if r.nesterov and r.momentum == 0:
        raise InvalidValueError("recipe nesterov", r.nesterov, "false when momentum is 0 (SGD requires it)")
    ms = r.milestones
    accepted = "a list of strictly increasing positive epoch numbers"
    if not isinstance(ms, tuple) or any(isinstance(m, bool) or not isinstance(m, int) or m < 1 for m in ms):
        raise InvalidValueError("recipe milestones", ms, accepted)
    if any(b <= a for a, b in itertools.pairwise(ms)):
        raise InvalidValueError("recipe milestones", ms, accepted)


def _int(value: Any, name: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidValueError(f"recipe {name}", value, f"an integer >= {minimum}")


def _number(value: Any, name: str, ok: Callable[[float], bool], accepted: str) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not ok(value)
    ):
        raise InvalidValueError(f"recipe {name}", value, accepted)


def _choice(value: Any, name: str, accepted: tuple[str, ...]) -> None:
    if value not in accepted:
        raise InvalidValueError(f"recipe {name}", value, ", ".join(accepted))
