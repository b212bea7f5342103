"""Train one network under a fixed mask (PaI) or dense, resumably and reproducibly.

Outputs in ``out_dir`` (all written atomically):

* ``checkpoint.pt`` — rewritten at the end of every epoch (format in :mod:`.checkpoint`); kept when the
  run ends, so that calling :func:`train` again on a finished run rewrites the outputs without training.
* ``log.csv`` — one row per finished epoch: epoch, train_loss, train_acc, test_loss, test_acc (empty
  when the epoch was not evaluated), lr (used during the epoch), epoch_time_s.
* ``model.pt`` — ``{"state_dict", "masks_checksum", "fingerprint", "epochs"}`` (CPU, contiguous tensors).
* ``final_mask.pt`` (+ ``final_mask.json``) — the mask in force at the end of training, in the format of
  :func:`snntopo.pruning.save_masks` (whenever a mask was given): the input mask in mode ``pai``, the
  evolved one in mode ``dst``. This is the mask later stages (encoding, metrics) read for a DST run.
* mode ``dst`` only: ``mask_snapshots/step_XXXXXX.pt`` (one per topology update, plus step 0) and
  ``dst_log.csv`` (one row per update), see :mod:`snntopo.training.dst`.
* ``metrics.json`` — written last, so its presence means the run is complete (keys in :func:`_metrics`).

Reproducibility: one ``seed`` seeds Python/NumPy/torch at the start; the data order of epoch ``e`` comes
from a generator seeded with ``(seed, e)``; the RNG states are saved with every checkpoint. A run killed
at any point restarts from the last end-of-epoch checkpoint and recomputes the interrupted epoch exactly,
so it ends with bitwise the same weights and metrics as an uninterrupted run on the same device (timings
aside). In mode ``dst`` the updater's state (step counter, current masks, growth generator, gradient
moving average, update history) is part of the checkpoint, so the same holds for the evolving masks.
On CUDA this needs ``recipe.deterministic`` (the default) and ops that have deterministic kernels.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import math
import os
import random
import shutil
import signal
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from snntopo.errors import CheckpointError, InvalidValueError, TrainingDivergedError
from snntopo.models import prunable_parameters
from snntopo.pruning.masks import save_masks, summarize
from snntopo.registry import Registry
from snntopo.training.checkpoint import load_checkpoint, rng_states, save_checkpoint, set_rng_states
from snntopo.training.dst import DST_LOG, FINAL_MASK, SNAPSHOT_DIR, DSTUpdater, dst_config
from snntopo.training.masking import MaskApplier, masks_checksum, zero_fraction
from snntopo.training.recipes import Recipe
from snntopo.utils import atomic_path, seed_everything, tensors_checksum, write_json

log = logging.getLogger("snntopo.training")

CHECKPOINT, MODEL, METRICS, LOG = "checkpoint.pt", "model.pt", "metrics.json", "log.csv"
LOG_COLUMNS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "epoch_time_s")
DEVICES = ("auto", "cpu", "cuda")

SCHEDULERS: Registry[Any] = Registry("lr scheduler")


@SCHEDULERS.register("multistep")
def _multistep(opt: torch.optim.Optimizer, r: Recipe) -> torch.optim.lr_scheduler.LRScheduler:
    return torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(r.milestones), gamma=r.gamma)


@SCHEDULERS.register("cosine")
def _cosine(opt: torch.optim.Optimizer, r: Recipe) -> torch.optim.lr_scheduler.LRScheduler:
    return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=r.epochs, eta_min=0.0)


@SCHEDULERS.register("constant")
def _constant(opt: torch.optim.Optimizer, r: Recipe) -> torch.optim.lr_scheduler.LRScheduler:
    return torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[], gamma=1.0)


def resolve_device(device: str | torch.device) -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cuda`` without a GPU is an error, not a silent fallback."""
    name = str(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.split(":")[0] not in DEVICES:
        raise InvalidValueError("device", device, ", ".join(DEVICES))
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InvalidValueError("device", device, "auto or cpu (CUDA is not available on this machine)")
    return torch.device(name)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


class TrainStep:
    """One optimisation step of masked (or dense) SGD; shared by :func:`train` and bench/training.py.

    Moves ``model`` to ``device`` (channels-last on CUDA if the recipe says so), freezes Conv/Linear
    biases if asked, zeroes pruned weights, and builds the optimizer and AMP scaler.
    """

    def __init__(
        self, model: nn.Module, masks: Mapping[str, torch.Tensor] | None, recipe: Recipe, device: torch.device
    ):
        self.model, self.recipe, self.device = model, recipe, device
        cuda = device.type == "cuda"
        model.to(device)
        self.channels_last = cuda and recipe.channels_last
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        if recipe.freeze_biases:  # MGE: Conv/Linear biases stay at their zero init
            for module in model.modules():
                if isinstance(module, nn.Conv2d | nn.Linear) and module.bias is not None:
                    module.bias.requires_grad_(False)
        self.applier = MaskApplier(model, masks) if masks else None
        if self.applier is not None:
            self.applier.apply()
        params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.SGD(
            params,
            lr=recipe.lr,
            momentum=recipe.momentum,
            nesterov=recipe.nesterov,
            weight_decay=recipe.weight_decay,
        )
        self.amp_dtype = getattr(torch, recipe.amp_dtype) if (cuda and recipe.amp) else None
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        #: Topology updater of mode ``dst`` (set by :func:`train`); None keeps the mask fixed.
        self.dst: DSTUpdater | None = None

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast("cuda", dtype=self.amp_dtype)

    def to_device(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.to(self.device, non_blocking=True)
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, y.to(self.device, non_blocking=True)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward, backward, masked step on a device batch; returns (mean loss, #correct) without syncing."""
        self.optimizer.zero_grad(set_to_none=True)
        with self.autocast():
            out = self.model(x)
            loss = F.cross_entropy(out.float(), y)
        self.scaler.scale(loss).backward()
        if self.dst is not None:
            if self.scaler.is_enabled():  # DST reads true gradient magnitudes (step() skips re-unscaling)
                self.scaler.unscale_(self.optimizer)
            self.dst.observe_grads()  # dense gradients: before the mask zeroes the pruned entries
        if self.applier is not None:
            self.applier.mask_grads()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.applier is not None:
            self.applier.apply()
        if self.dst is not None:
            self.dst.after_step(self.optimizer)
        return loss.detach(), (out.detach().argmax(1) == y).sum()


#: Fault injection for crash tests: ``SNNTOPO_STOP_AFTER_EPOCH=k`` makes the training process stop
#: itself (SIGSTOP) once epoch k's checkpoint is on disk, so a test can kill it at a known state instead
#: of racing a fast job with a timer. Unset in normal runs.
STOP_AFTER_EPOCH_ENV = "SNNTOPO_STOP_AFTER_EPOCH"


def _pause_if_requested(epoch: int) -> None:
    if os.environ.get(STOP_AFTER_EPOCH_ENV) == str(epoch) and hasattr(signal, "SIGSTOP"):
        os.kill(os.getpid(), signal.SIGSTOP)


def train(
    model: nn.Module,
    masks: Mapping[str, torch.Tensor] | None,
    bundle: Any,
    recipe: Recipe,
    out_dir: str | os.PathLike[str],
    *,
    seed: int,
    device: str = "auto",
    resume: bool = True,
    restart: bool = False,
) -> dict[str, Any]:
    """Train ``model`` (at its initialisation) under ``masks`` (None or {} = dense) on ``bundle``.

    ``bundle`` has ``train``/``test`` datasets, ``input_shape``, ``num_classes`` and ``name`` (a
    ``snntopo.data.DatasetBundle``). The model is modified in place and left on ``device`` in eval mode;
    the global RNGs are seeded from ``seed``.

    ``resume``: continue from a checkpoint of the same run in ``out_dir`` (a corrupt one, or one of
    another run, raises CheckpointError naming the file and the differing fields). ``resume=False`` with
    a checkpoint present also raises. ``restart=True`` deletes the checkpoint and outputs and starts over.
    Returns the metrics written to ``metrics.json``. Raises TrainingDivergedError on a non-finite loss,
    leaving the last good checkpoint in place. ``recipe.mode == "dst"`` evolves ``masks`` during training
    (dynamic sparse training, :mod:`snntopo.training.dst`); it needs a mask.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / CHECKPOINT
    dev = resolve_device(device)
    outputs = (CHECKPOINT, MODEL, METRICS, LOG, FINAL_MASK, _json_beside(FINAL_MASK), DST_LOG)
    for name in outputs:
        # temp files of atomic writes that a SIGKILL interrupted (the real file is intact or absent)
        for stale in out.glob(f".{name}.*.tmp"):
            stale.unlink(missing_ok=True)
        if restart:
            (out / name).unlink(missing_ok=True)
    if restart:
        shutil.rmtree(out / SNAPSHOT_DIR, ignore_errors=True)
    masks = dict(masks) if masks else None
    fingerprint = run_fingerprint(model, masks, recipe, seed, bundle)

    with _determinism(recipe.deterministic, dev):
        seed_everything(seed)
        stepper = TrainStep(model, masks, recipe, dev)
        scheduler = SCHEDULERS.get(recipe.scheduler)(stepper.optimizer, recipe)
        train_loader = _loader(bundle.train, recipe, dev, shuffle=True)
        test_loader = _loader(bundle.test, recipe, dev, shuffle=False)
        if recipe.mode == "dst":
            stepper.dst = DSTUpdater(
                dst_config(recipe.dst), stepper.applier, total_steps=recipe.epochs * len(train_loader),
                seed=seed, snapshot_dir=out / SNAPSHOT_DIR,
            )  # fmt: skip
        history: list[dict[str, Any]] = []
        if ckpt_path.exists():
            if not resume:
                raise CheckpointError(f"checkpoint {ckpt_path} exists and resume=False; pass restart=True")
            state = load_checkpoint(ckpt_path, fingerprint)
            model.load_state_dict(state["model"])
            stepper.optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            stepper.scaler.load_state_dict(state["scaler"])
            set_rng_states(state["rng"])
            history = list(state["history"])
            if stepper.dst is not None:
                stepper.dst.load_state_dict(state["dst"], stepper.optimizer)
            log.info("resuming %s after epoch %d of %d", out, state["epoch"], recipe.epochs)
        elif stepper.dst is not None:
            # Snapshots of a run killed before its first checkpoint are recomputed from step 0.
            shutil.rmtree(out / SNAPSHOT_DIR, ignore_errors=True)
            stepper.dst.start()

        epochs = _epoch_progress(len(history), recipe.epochs)
        for epoch in range(len(history) + 1, recipe.epochs + 1):
            history.append(_epoch(stepper, scheduler, train_loader, test_loader, epoch, seed, ckpt_path))
            save_checkpoint(
                ckpt_path,
                {
                    "fingerprint": fingerprint,
                    "epoch": epoch,
                    "model": model.state_dict(),
                    "optimizer": stepper.optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "scaler": stepper.scaler.state_dict(),
                    "rng": rng_states(),
                    "history": history,
                    **({"dst": stepper.dst.state_dict()} if stepper.dst is not None else {}),
                },
            )
            if stepper.dst is not None:
                stepper.dst.write_log(out / DST_LOG)
            _write_log(out / LOG, history)
            _log_epoch(history[-1], recipe.epochs)
            epochs.update()
            _pause_if_requested(epoch)
        epochs.close()

    model.eval()
    _write_log(out / LOG, history)
    final = _write_final_mask(out, stepper, masks, recipe, seed, fingerprint)
    state_dict = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(out / MODEL) as tmp:
        torch.save(
            {
                "state_dict": state_dict,
                "masks_checksum": fingerprint["mask"],
                "final_masks_checksum": masks_checksum(final),
                "fingerprint": fingerprint,
                "epochs": recipe.epochs,
            },
            tmp,
        )
    metrics = _metrics(model, final, history, recipe, dev, fingerprint)
    if stepper.dst is not None:
        metrics["dst"] = {
            "algorithm": stepper.dst.config.algorithm,
            "updates": stepper.dst.updates,
            "exploration_rate": stepper.dst.exploration_rate(),
            "final_masks_checksum": masks_checksum(final),
        }
    write_json(out / METRICS, metrics)
    return metrics


def _write_final_mask(
    out: Path,
    stepper: TrainStep,
    masks: Mapping[str, torch.Tensor] | None,
    recipe: Recipe,
    seed: int,
    fingerprint: Mapping[str, Any],
) -> dict[str, torch.Tensor] | None:
    """Write ``final_mask.pt`` (the mask in force at the end) when there is a mask; returns it."""
    if not masks:
        return None
    dst = stepper.dst
    final = dst.current_masks() if dst is not None else {n: m.cpu() for n, m in masks.items()}
    summary = summarize(
        final,
        None,
        pruner=dst.config.algorithm if dst is not None else None,
        seed=seed,
        options=dict(recipe.dst),
        training_mode=recipe.mode,
        initial_mask_checksum=fingerprint["mask"],
        dst_updates=dst.updates if dst is not None else 0,
        exploration_rate=dst.exploration_rate() if dst is not None else None,
    )
    summary["init_checksum"] = fingerprint["init"]
    save_masks(out / FINAL_MASK, final, summary)
    if dst is not None:
        dst.write_log(out / DST_LOG)
    return final


def _json_beside(name: str) -> str:
    return str(Path(name).with_suffix(".json"))


def run_fingerprint(
    model: nn.Module, masks: Mapping[str, torch.Tensor] | None, recipe: Recipe, seed: int, bundle: Any
) -> dict[str, Any]:
    """What makes two runs the same run; a checkpoint is resumed only when every field is equal."""
    return {
        "model": {
            "class": type(model).__qualname__,
            "parameters": [[n, list(p.shape)] for n, p in model.named_parameters()],
        },
        "init": tensors_checksum(model.state_dict()),
        "mask": masks_checksum(masks),
        "recipe": recipe.as_dict(),
        "seed": int(seed),
        "dataset": {
            "name": str(getattr(bundle, "name", "?")),
            "input_shape": [int(s) for s in bundle.input_shape],
            "num_classes": int(bundle.num_classes),
            "train_size": len(bundle.train),
            "test_size": len(bundle.test),
        },
    }


def _epoch(
    stepper: TrainStep,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    train_loader: DataLoader,
    test_loader: DataLoader,
    epoch: int,
    seed: int,
    ckpt_path: Path,
) -> dict[str, Any]:
    """Train one epoch (data order from ``(seed, epoch)``), evaluate if due, step the scheduler."""
    recipe, dev = stepper.recipe, stepper.device
    start = time.perf_counter()
    lr = stepper.optimizer.param_groups[0]["lr"]
    train_loader.generator.manual_seed(_epoch_seed(seed, epoch))
    stepper.model.train()
    loss_sum = torch.zeros((), dtype=torch.float64, device=dev)
    correct = torch.zeros((), dtype=torch.int64, device=dev)
    nonfinite = torch.zeros((), dtype=torch.bool, device=dev)
    seen, last_checked = 0, 0
    # On CPU reading the flag is free, so every step is checked; on CUDA a read is a sync, so the flag
    # accumulates on the device and is read every ``nan_check_every`` steps and at the end of the epoch.
    check_every = 1 if dev.type == "cpu" else recipe.nan_check_every
    steps = len(train_loader)
    batches = tqdm(
        train_loader,
        total=steps,
        desc=f"epoch {epoch}/{recipe.epochs}",
        leave=False,
        disable=not sys.stderr.isatty(),
        file=sys.stderr,
    )
    for step, (x, y) in enumerate(batches, 1):
        x, y = stepper.to_device(x, y)
        loss, n_correct = stepper(x, y)
        nonfinite |= ~torch.isfinite(loss)
        loss_sum += loss.double() * y.shape[0]
        correct += n_correct
        seen += y.shape[0]
        if step % check_every == 0 or step == steps:
            if bool(nonfinite):
                where = f"step {step}" if step - last_checked == 1 else f"steps {last_checked + 1}-{step}"
                raise _diverged(f"non-finite training loss at epoch {epoch}, {where} of {steps}", ckpt_path)
            last_checked = step
    train_time = time.perf_counter() - start
    row: dict[str, Any] = {
        "epoch": epoch,
        "train_loss": float(loss_sum) / seen,
        "train_acc": int(correct) / seen,
        "test_loss": None,
        "test_acc": None,
        "lr": lr,
    }
    if epoch % recipe.eval_every == 0 or epoch == recipe.epochs:
        row["test_loss"], row["test_acc"] = evaluate(stepper, test_loader)
        if not math.isfinite(row["test_loss"]):
            raise _diverged(f"non-finite test loss after epoch {epoch}", ckpt_path)
    scheduler.step()
    row["epoch_time_s"] = time.perf_counter() - start
    row["train_time_s"], row["train_images"] = train_time, seen
    return row


@torch.no_grad()
def evaluate(stepper: TrainStep, loader: DataLoader) -> tuple[float, float]:
    """Mean cross-entropy and accuracy (fraction) of the model in eval mode over ``loader``."""
    model, dev = stepper.model, stepper.device
    model.eval()
    loss_sum = torch.zeros((), dtype=torch.float64, device=dev)
    correct = torch.zeros((), dtype=torch.int64, device=dev)
    seen = 0
    for x, y in loader:
        x, y = stepper.to_device(x, y)
        with stepper.autocast():
            out = model(x).float()
        loss_sum += F.cross_entropy(out, y, reduction="sum").double()
        correct += (out.argmax(1) == y).sum()
        seen += y.shape[0]
    return float(loss_sum) / seen, int(correct) / seen


def _diverged(what: str, ckpt_path: Path) -> TrainingDivergedError:
    kept = f"last good checkpoint: {ckpt_path}" if ckpt_path.exists() else "no checkpoint was written yet"
    return TrainingDivergedError(f"training diverged: {what}; {kept}")


def _epoch_seed(seed: int, epoch: int) -> int:
    """Independent, well-mixed seed per (seed, epoch) so each epoch's order is reproducible on its own."""
    return int(np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1, dtype=np.uint64)[0]) >> 1


def _seed_worker(worker_id: int) -> None:
    # torch seeds each worker from the loader's generator; NumPy and random are derived from that seed.
    s = torch.initial_seed() % 2**32
    np.random.seed(s)
    random.seed(s)


def _loader(dataset: Dataset, recipe: Recipe, dev: torch.device, *, shuffle: bool) -> DataLoader:
    n = len(dataset)  # type: ignore[arg-type]
    # A last training batch of one sample breaks BatchNorm in train mode; drop that one sample instead.
    drop_last = shuffle and n % recipe.batch_size == 1 and n > 1
    if drop_last:
        log.info("dropping the last training batch (1 of %d samples) so BatchNorm sees > 1 sample", n)
    return DataLoader(
        dataset,
        batch_size=recipe.batch_size,
        shuffle=shuffle,
        drop_last=drop_last,
        num_workers=recipe.num_workers,
        worker_init_fn=_seed_worker if recipe.num_workers else None,
        generator=torch.Generator() if shuffle else None,
        pin_memory=dev.type == "cuda",
    )


@contextlib.contextmanager
def _determinism(enabled: bool, dev: torch.device) -> Iterator[None]:
    """Deterministic kernels (and no cuDNN autotuning) while training; the previous settings come back."""
    cudnn = torch.backends.cudnn
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        cudnn.deterministic,
        cudnn.benchmark,
    )
    try:
        if enabled:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True, warn_only=True)
            cudnn.deterministic, cudnn.benchmark = True, False
        else:
            cudnn.benchmark = dev.type == "cuda"
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        cudnn.deterministic, cudnn.benchmark = saved[2], saved[3]


def _write_log(path: Path, history: list[dict[str, Any]]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(LOG_COLUMNS)
        for row in history:
            writer.writerow(["" if row[c] is None else row[c] for c in LOG_COLUMNS])


class _LogLines:
    """A text stream for tqdm that logs each refreshed bar as one line (job logs are files, not terminals)."""

    def write(self, text: str) -> None:
        text = text.strip("\r\n ")
        if text:
            log.info("%s", text)

    def flush(self) -> None:
        pass


def _epoch_progress(done: int, epochs: int) -> tqdm:
    """Epochs done / total with elapsed time and ETA, one log line per finished epoch."""
    bar = "{desc}: {n_fmt}/{total_fmt} epochs [{elapsed}<{remaining}, {rate_fmt}]"
    return tqdm(total=epochs, initial=done, desc="training", unit="epoch", file=_LogLines(), mininterval=0,
                leave=False, bar_format=bar)  # fmt: skip


def _log_epoch(row: Mapping[str, Any], epochs: int) -> None:
    test = (
        "" if row["test_acc"] is None else f" test_loss {row['test_loss']:.4f} test_acc {row['test_acc']:.4f}"
    )
    log.info(
        "epoch %d/%d train_loss %.4f train_acc %.4f%s lr %.4g time %.2fs",
        row["epoch"],
        epochs,
        row["train_loss"],
        row["train_acc"],
        test,
        row["lr"],
        row["epoch_time_s"],
    )


def _metrics(
    model: nn.Module,
    masks: Mapping[str, torch.Tensor] | None,
    history: list[dict[str, Any]],
    recipe: Recipe,
    dev: torch.device,
    fingerprint: Mapping[str, Any],
) -> dict[str, Any]:
    evaluated = [r for r in history if r["test_acc"] is not None]
    best = max(evaluated, key=lambda r: r["test_acc"])  # first epoch reaching the best accuracy
    total = sum(p.numel() for p in prunable_parameters(model).values())
    pruned = sum(int((~m).sum()) for m in masks.values()) if masks else 0
    train_time = sum(r["train_time_s"] for r in history)
    return {
        "final_accuracy": history[-1]["test_acc"],
        "final_test_loss": history[-1]["test_loss"],
        "final_train_loss": history[-1]["train_loss"],
        "final_train_accuracy": history[-1]["train_acc"],
        "best_accuracy": best["test_acc"],
        "best_epoch": best["epoch"],
        "epochs": len(history),
        "wall_time_s": sum(r["epoch_time_s"] for r in history),
        "images_per_s": sum(r["train_images"] for r in history) / train_time if train_time > 0 else None,
        "device": device_name(dev),
        "achieved_sparsity": zero_fraction(model),
        "mask_sparsity": pruned / total,
        "masks_checksum": fingerprint["mask"],
        "model": fingerprint["model"]["class"],
        "dataset": fingerprint["dataset"]["name"],
        "seed": fingerprint["seed"],
        "recipe": recipe.as_dict(),
    }
