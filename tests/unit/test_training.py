"""Masked training: mask invariance, resume-after-kill bitwise, outputs, checkpoint errors, divergence."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset, TensorDataset

import snntopo
from snntopo.errors import CheckpointError, InvalidValueError, TrainingDivergedError
from snntopo.models import init_model, prunable_parameters
from snntopo.pruning import load_masks
from snntopo.training import (
    CHECKPOINT,
    DST_LOG,
    FINAL_MASK,
    LOG,
    LOG_COLUMNS,
    METRICS,
    MODEL,
    SNAPSHOT_DIR,
    MaskApplier,
    TrainStep,
    load_checkpoint,
    load_mask_snapshots,
    recipe_for,
    run_fingerprint,
    train,
)
from snntopo.utils import tensors_checksum

JOB_PATH = Path(__file__).with_name("_train_job.py")
_spec = importlib.util.spec_from_file_location("_train_job", JOB_PATH)
job = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(job)


def random_masks(model: nn.Module, density: float, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: torch.rand(p.shape, generator=g) < density for k, p in prunable_parameters(model).items()}


def tiny_bundle(n_train: int = 96, n_test: int = 32, seed: int = 0) -> types.SimpleNamespace:
    g = torch.Generator().manual_seed(seed)
    return types.SimpleNamespace(
        name="tiny",
        train=job.make_data(n_train, g),
        test=job.make_data(n_test, g),
        input_shape=job.SHAPE,
        num_classes=job.CLASSES,
    )


def tiny_model(seed: int = 0) -> nn.Module:
    return init_model("cnn", job.SHAPE, job.CLASSES, seed=seed)


def tiny_recipe(**overrides):
    return recipe_for("digits", "cnn", {"epochs": 2, "batch_size": 32, **overrides})


# --- masking -------------------------------------------------------------------------------------------


def test_masked_sgd_step_matches_hand_computation():
    """Two SGD steps (momentum 0.9, wd 0.1) on a 2×2 weight with loss sum(W @ x): closed form per entry."""
    lin = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    mask = torch.tensor([[True, False], [False, True]])
    applier = MaskApplier(lin, {"weight": mask})
    applier.apply()
    opt = torch.optim.SGD(lin.parameters(), lr=0.5, momentum=0.9, weight_decay=0.1)
    x = torch.tensor([1.0, -2.0])
    for _ in range(2):
        opt.zero_grad()
        lin(x).sum().backward()  # dL/dW[i, j] = x[j]
        applier.mask_grads()
        opt.step()
        applier.apply()
    # kept w00: g=1 → d1 = 1 + .1·1 = 1.1, w = 1 − .55 = .45; d2 = 1 + .045 = 1.045,
    # buf = .99 + 1.045 = 2.035, w = .45 − 1.0175 = −.5675.
    # kept w11: g=−2 → d1 = −2 + .4 = −1.6, w = 4.8; d2 = −2 + .48 = −1.52,
    # buf = −1.44 − 1.52 = −2.96, w = 4.8 + 1.48 = 6.28.
    expected = torch.tensor([[-0.5675, 0.0], [0.0, 6.28]])
    assert torch.allclose(lin.weight, expected, atol=1e-6)
    buf = opt.state[lin.weight]["momentum_buffer"]
    assert torch.allclose(buf, torch.tensor([[2.035, 0.0], [0.0, -2.96]]), atol=1e-6)
    assert buf[~mask].eq(0).all() and lin.weight[~mask].eq(0).all()


def test_mask_holds_after_many_steps_with_momentum_and_weight_decay():
    model = tiny_model()
    masks = random_masks(model, 0.3, seed=1)
    init = {k: p.detach().clone() for k, p in prunable_parameters(model).items()}
    step = TrainStep(model, masks, tiny_recipe(weight_decay=5e-4, nesterov=True), torch.device("cpu"))
    g = torch.Generator().manual_seed(5)
    for _ in range(25):
        step(torch.randn(16, *job.SHAPE, generator=g), torch.randint(0, job.CLASSES, (16,), generator=g))
    for name, p in prunable_parameters(model).items():
        m = masks[name]
        assert p[~m].eq(0).all(), name  # exactly 0.0, not merely small
        assert step.optimizer.state[p]["momentum_buffer"][~m].eq(0).all(), name
        assert not torch.equal(p[m], init[name][m]), f"{name}: kept weights did not train"
    assert step.applier.max_pruned_magnitude() == 0.0


def test_weight_remask_alone_leaves_momentum_in_pruned_entries():
    """Control for the test above: without gradient masking the pruned momentum is non-zero, so the
    zero-momentum assertion is a real check of mask_grads, not a property of SGD."""
    model = tiny_model()
    masks = random_masks(model, 0.3, seed=1)
    step = TrainStep(model, masks, tiny_recipe(), torch.device("cpu"))
    step.applier.mask_grads = lambda: None  # disable gradient masking only
    g = torch.Generator().manual_seed(5)
    for _ in range(3):
        step(torch.randn(16, *job.SHAPE, generator=g), torch.randint(0, job.CLASSES, (16,), generator=g))
    p = prunable_parameters(model)["conv1.weight"]
    assert p[~masks["conv1.weight"]].eq(0).all()
    assert step.optimizer.state[p]["momentum_buffer"][~masks["conv1.weight"]].abs().sum() > 0


def test_bad_masks_are_rejected_by_name():
    model = tiny_model()
    with pytest.raises(InvalidValueError, match=re.escape("conv9.weight")):
        MaskApplier(model, {"conv9.weight": torch.ones(3, dtype=torch.bool)})
    with pytest.raises(InvalidValueError, match=re.escape("conv1.weight")):
        MaskApplier(model, {"conv1.weight": torch.ones(2, 2, dtype=torch.bool)})
    with pytest.raises(InvalidValueError, match=re.escape("bn1.weight")):  # only Conv/Linear biases besides
        MaskApplier(model, {"bn1.weight": torch.ones_like(model.bn1.weight, dtype=torch.bool)})


def test_bias_masks_hold_pruned_biases_at_zero_through_steps():
    """Pruners that prune biases (the study's Uniform, SynFlow) give bias masks; training honours them."""
    model = tiny_model()
    with torch.no_grad():
        model.linear.bias.fill_(0.5)
    masks = random_masks(model, 0.5, seed=1)
    masks["linear.bias"] = torch.tensor([True, False] * (model.linear.bias.numel() // 2))
    step = TrainStep(model, masks, tiny_recipe(freeze_biases=False), torch.device("cpu"))
    assert model.linear.bias[~masks["linear.bias"]].eq(0).all()  # zeroed when the step is built
    g = torch.Generator().manual_seed(5)
    for _ in range(3):
        step(*job.make_data(32, g).tensors)
    bias = model.linear.bias.detach()
    assert bias[~masks["linear.bias"]].eq(0).all()
    assert bias[masks["linear.bias"]].ne(0.5).all()  # the kept biases did train


# --- outputs ---------------------------------------------------------------------------------------------


def test_outputs_metrics_log_and_model(tmp_path):
    model = tiny_model()
    masks = random_masks(model, 0.5, seed=2)
    metrics = train(
        model, masks, tiny_bundle(), tiny_recipe(epochs=3, eval_every=2), tmp_path, seed=0, device="cpu"
    )
    on_disk = json.loads((tmp_path / METRICS).read_text())
    assert on_disk == json.loads(json.dumps(metrics))
    total = sum(m.numel() for m in masks.values())
    assert metrics["mask_sparsity"] == pytest.approx(sum(int((~m).sum()) for m in masks.values()) / total)
    # every pruned weight is zero; kept weights are (almost surely) not, so the two sparsities agree
    assert metrics["achieved_sparsity"] == pytest.approx(metrics["mask_sparsity"], abs=1e-3)
    assert metrics["achieved_sparsity"] >= metrics["mask_sparsity"]
    assert metrics["epochs"] == 3 and metrics["device"] == "cpu"
    assert 0 <= metrics["final_accuracy"] <= metrics["best_accuracy"] <= 1
    assert metrics["best_epoch"] in (2, 3)  # only epochs 2 and 3 were evaluated
    rows = list(csv.DictReader((tmp_path / LOG).open()))
    assert tuple(rows[0]) == LOG_COLUMNS and [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert rows[0]["test_acc"] == "" and rows[1]["test_acc"] != ""
    assert float(rows[2]["test_acc"]) == metrics["final_accuracy"]
    assert float(rows[0]["lr"]) == 0.05 and float(rows[1]["lr"]) < 0.05  # cosine schedule moved
    saved = torch.load(tmp_path / MODEL, weights_only=True)
    for name, m in masks.items():
        assert saved["state_dict"][name][~m].eq(0).all()
        assert torch.equal(saved["state_dict"][name], model.state_dict()[name])
    assert saved["masks_checksum"] == metrics["masks_checksum"]
    # calling train again on a finished run rewrites the outputs from the checkpoint, without training
    again = train(
        tiny_model(),
        masks,
        tiny_bundle(),
        tiny_recipe(epochs=3, eval_every=2),
        tmp_path,
        seed=0,
        device="cpu",
    )
    assert again == metrics


def test_dense_run_has_no_mask_and_learns(tmp_path):
    metrics = train(
        tiny_model(), None, tiny_bundle(n_train=256), tiny_recipe(epochs=4), tmp_path, seed=0, device="cpu"
    )
    assert metrics["masks_checksum"] == "dense" and metrics["mask_sparsity"] == 0.0
    assert metrics["achieved_sparsity"] < 1e-3
    rows = list(csv.DictReader((tmp_path / LOG).open()))
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])
    assert metrics["best_accuracy"] > 1 / job.CLASSES


# --- resume after kill -----------------------------------------------------------------------------------


def _launch(out_dir: Path, marker_dir: Path, stop_at: int = 0, mode: str = "pai") -> subprocess.Popen:
    marker_dir.mkdir()
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(
            [str(Path(snntopo.__file__).parents[1]), os.environ.get("PYTHONPATH", "")]
        ),
    )
    return subprocess.Popen(
        [sys.executable, str(JOB_PATH), str(out_dir), str(marker_dir), str(stop_at), mode],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


# Ceilings against hangs only (a loaded machine can take minutes to start torch and reach the marker).
HANG_S = 900


def _kill_at(proc: subprocess.Popen, marker: Path, timeout: float = HANG_S) -> None:
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if proc.poll() is not None:
            raise AssertionError(f"job ended before {marker.name}: {proc.stderr.read().decode()[-2000:]}")
        assert time.monotonic() < deadline, f"timed out waiting for {marker}"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=HANG_S) == -signal.SIGKILL


@pytest.mark.parametrize("mode", ["pai", "dst"])
def test_resume_after_kill_is_bitwise_identical(tmp_path, mode):
    # uninterrupted reference, in this process
    model, masks, bundle, recipe = job.make_job(mode=mode)
    ref_metrics = train(model, masks, bundle, recipe, tmp_path / "ref", seed=job.SEED, device="cpu")
    ref_state = model.state_dict()

    out = tmp_path / "killed"
    # 1st process: killed half-way through epoch 2 (its 2nd pass over the data)
    _kill_at(_launch(out, tmp_path / "m1", stop_at=2, mode=mode), tmp_path / "m1" / "mid-2")
    fp = run_fingerprint(job.make_job()[0], masks, recipe, job.SEED, bundle)  # model at its init
    assert load_checkpoint(out / CHECKPOINT, fp)["epoch"] == 1
    # 2nd process resumes after epoch 1 and is killed half-way through epoch 3 (its 2nd pass)
    _kill_at(_launch(out, tmp_path / "m2", stop_at=2, mode=mode), tmp_path / "m2" / "mid-2")
    assert load_checkpoint(out / CHECKPOINT, fp)["epoch"] == 2
    assert not (out / METRICS).exists()
    # 3rd process finishes
    proc = _launch(out, tmp_path / "m3", mode=mode)
    assert proc.wait(timeout=HANG_S) == 0, proc.stderr.read().decode()[-2000:]

    state = torch.load(out / MODEL, weights_only=True)["state_dict"]
    assert state.keys() == ref_state.keys()
    for k, v in ref_state.items():
        assert torch.equal(state[k], v), k
    metrics = json.loads((out / METRICS).read_text())
    timing = {"wall_time_s", "images_per_s"}
    assert {k: v for k, v in metrics.items() if k not in timing} == json.loads(
        json.dumps({k: v for k, v in ref_metrics.items() if k not in timing})
    )
    cols = [c for c in LOG_COLUMNS if c != "epoch_time_s"]
    logs = [
        [{c: r[c] for c in cols} for r in csv.DictReader((d / LOG).open())] for d in (out, tmp_path / "ref")
    ]
    assert logs[0] == logs[1] and len(logs[0]) == 3
    if mode == "dst":  # the evolved masks, their snapshots and the update log match too
        assert metrics["dst"]["updates"] == 7  # steps 5, 10, …, 35 of 36 (12 batches × 3 epochs)
        final = [load_masks(d / FINAL_MASK) for d in (out, tmp_path / "ref")]
        assert tensors_checksum(final[0]) == tensors_checksum(final[1]) != tensors_checksum(masks)
        snaps = [load_mask_snapshots(d / SNAPSHOT_DIR) for d in (out, tmp_path / "ref")]
        assert [s for s, _ in snaps[0]] == [s for s, _ in snaps[1]] == [0, 5, 10, 15, 20, 25, 30, 35]
        assert [tensors_checksum(m) for _, m in snaps[0]] == [tensors_checksum(m) for _, m in snaps[1]]
        assert (out / DST_LOG).read_text() == (tmp_path / "ref" / DST_LOG).read_text()


# --- checkpoint errors -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("finished")
    model = tiny_model()
    masks = random_masks(model, 0.5, seed=2)
    train(model, masks, tiny_bundle(), tiny_recipe(epochs=1), out, seed=0, device="cpu")
    return out, masks


def _copy_run(src: Path, dst: Path) -> Path:
    dst.mkdir()
    (dst / CHECKPOINT).write_bytes((src / CHECKPOINT).read_bytes())
    return dst


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_corrupt_checkpoint_is_named_and_restart_recovers(finished_run, tmp_path, damage):
    src, masks = finished_run
    out = _copy_run(src, tmp_path / "run")
    raw = (out / CHECKPOINT).read_bytes()
    damaged = {
        "truncate": raw[: len(raw) // 2],
        "garbage": b"not a checkpoint",
        "flip": raw[:-100] + bytes([raw[-100] ^ 0x01]) + raw[-99:],
    }[damage]
    (out / CHECKPOINT).write_bytes(damaged)
    with pytest.raises(CheckpointError, match=re.escape(str(out / CHECKPOINT))):
        train(tiny_model(), masks, tiny_bundle(), tiny_recipe(epochs=1), out, seed=0, device="cpu")
    assert (out / CHECKPOINT).read_bytes() == damaged  # never overwritten without being told
    metrics = train(
        tiny_model(), masks, tiny_bundle(), tiny_recipe(epochs=1), out, seed=0, device="cpu", restart=True
    )
    assert metrics["epochs"] == 1 and load_checkpoint(out / CHECKPOINT)["epoch"] == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [("mask", "mask"), ("recipe", "recipe.lr"), ("seed", "seed"), ("init", "init"), ("model", "model.class")],
)
def test_checkpoint_of_another_run_is_refused(finished_run, tmp_path, change, field):
    src, masks = finished_run
    out = _copy_run(src, tmp_path / "run")
    model, recipe, seed = tiny_model(), tiny_recipe(epochs=1), 0
    if change == "mask":
        masks = random_masks(model, 0.5, seed=3)
    elif change == "recipe":
        recipe = tiny_recipe(epochs=1, lr=0.01)
    elif change == "seed":
        seed = 1
    elif change == "init":
        model = tiny_model(seed=7)
    else:
        model = init_model("mlp", job.SHAPE, job.CLASSES, seed=0)
        masks = None
    with pytest.raises(CheckpointError, match=re.escape(str(out / CHECKPOINT))) as err:
        train(model, masks, tiny_bundle(), recipe, out, seed=seed, device="cpu")
    assert f"{field}: checkpoint" in str(err.value)


def test_kill_during_checkpoint_write_leaves_old_checkpoint_and_stale_temp_is_removed(finished_run, tmp_path):
    src, masks = finished_run
    out = _copy_run(src, tmp_path / "run")
    stale = out / f".{CHECKPOINT}.abc123.tmp"  # what atomic_path leaves when killed mid-write
    stale.write_bytes((out / CHECKPOINT).read_bytes()[:1000])
    metrics = train(tiny_model(), masks, tiny_bundle(), tiny_recipe(epochs=1), out, seed=0, device="cpu")
    assert metrics["epochs"] == 1 and not stale.exists()


def test_existing_checkpoint_without_resume_is_an_error(finished_run, tmp_path):
    src, masks = finished_run
    out = _copy_run(src, tmp_path / "run")
    with pytest.raises(CheckpointError, match="resume=False"):
        train(
            tiny_model(), masks, tiny_bundle(), tiny_recipe(epochs=1), out, seed=0, device="cpu", resume=False
        )


# --- divergence ------------------------------------------------------------------------------------------


class PoisonAfter(Dataset):
    """Returns an all-inf image once more than ``after`` samples have been fetched."""

    def __init__(self, inner: TensorDataset, after: int):
        self.inner, self.after, self.fetched = inner, after, 0

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, i: int):
        self.fetched += 1
        x, y = self.inner[i]
        return (torch.full_like(x, float("inf")) if self.fetched > self.after else x), y


def test_nan_loss_stops_with_clear_error_and_keeps_last_checkpoint(tmp_path):
    bundle = tiny_bundle()
    n = len(bundle.train)
    bundle.train = PoisonAfter(bundle.train, after=n + 40)  # second epoch, second batch
    model = tiny_model()
    masks = random_masks(model, 0.5, seed=2)
    recipe = tiny_recipe(epochs=3)
    fp = run_fingerprint(model, masks, recipe, 0, bundle)
    with pytest.raises(
        TrainingDivergedError, match=r"epoch 2, step 2 of 3.*" + re.escape(str(tmp_path / CHECKPOINT))
    ):
        train(model, masks, bundle, recipe, tmp_path, seed=0, device="cpu")
    state = load_checkpoint(tmp_path / CHECKPOINT, fp)
    assert state["epoch"] == 1 and all(torch.isfinite(v).all() for v in state["model"].values())
    assert not (tmp_path / METRICS).exists() and not (tmp_path / MODEL).exists()


def test_huge_learning_rate_diverges(tmp_path):
    with pytest.raises(TrainingDivergedError, match="non-finite"):
        train(
            tiny_model(),
            None,
            tiny_bundle(),
            tiny_recipe(epochs=3, lr=1e30, scheduler="constant"),
            tmp_path,
            seed=0,
            device="cpu",
        )


def test_device_cuda_without_gpu_is_refused(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(InvalidValueError, match="CUDA is not available"):
        train(tiny_model(), None, tiny_bundle(), tiny_recipe(), tmp_path, seed=0, device="cuda")


def test_data_loader_workers_give_the_same_run(tmp_path):
    """Worker processes load the same batches in the same order (order comes from the main process)."""
    runs = []
    for workers in (0, 1):
        model = tiny_model()
        train(
            model,
            None,
            tiny_bundle(),
            tiny_recipe(num_workers=workers),
            tmp_path / str(workers),
            seed=0,
            device="cpu",
        )
        runs.append(model.state_dict())
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])


@pytest.mark.slow
def test_digits_resnet20_dense_reaches_90_percent_with_default_recipe(tmp_path):
    """Acceptance: the embedded default (digits at 8×8, the config's default size) trains ResNet-20 dense
    to > 90 % test accuracy with the default digits recipe (≈ 30 s on one idle core)."""
    from snntopo.data import load_dataset

    bundle = load_dataset("digits", size=8)
    model = init_model("resnet20", bundle.input_shape, bundle.num_classes, seed=0)
    metrics = train(model, None, bundle, recipe_for("digits", "resnet20"), tmp_path, seed=0, device="cpu")
    assert metrics["final_accuracy"] > 0.90
    assert metrics["epochs"] == recipe_for("digits", "resnet20").epochs
