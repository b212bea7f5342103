"""A small training job shared by tests/unit/test_training.py and the subprocesses it kills.

Run as ``python _train_job.py OUT_DIR MARKER_DIR [STOP_AT [MODE]]``: trains the tiny CNN under a random
mask on a synthetic, learnable data set; MODE ``pai`` (default) keeps the mask fixed, ``dst`` evolves it
(random growth from the DST generator and momentum redistribution from the gradient moving average, so
that both must be restored on resume). The training set writes ``MARKER_DIR/mid-<k>`` when this
process has fetched half of its k-th pass over the data; at ``mid-<STOP_AT>`` it then waits (sleeps) to
be killed, so the test kills it in the middle of an epoch without any race. It also flips images at
random from the global RNG, so that resuming must restore RNG states.
"""

from __future__ import annotations

import sys
import time
import types
from pathlib import Path

import torch
from torch.utils.data import Dataset, TensorDataset

from snntopo.models import init_model, prunable_parameters
from snntopo.training import recipe_for

SEED, SHAPE, CLASSES = 3, (1, 8, 8), 4
N_TRAIN, N_TEST = 384, 96


class MarkedDataset(Dataset):
    """Wraps a data set; creates a marker file at the middle of every pass (process-local count).

    Also flips images horizontally with probability 1/2 from torch's global RNG, like an augmentation,
    so that a resumed run matches only if the RNG state was restored.
    """

    def __init__(self, inner: Dataset, marker_dir: str | None = None, stop_at: int = 0):
        self.inner, self.marker_dir, self.stop_at, self.fetched = inner, marker_dir, stop_at, 0

    def __len__(self) -> int:
        return len(self.inner)  # type: ignore[arg-type]

    def __getitem__(self, i: int):
        self.fetched += 1
        n = len(self)
        if self.marker_dir and self.fetched % n == n // 2:
            k = self.fetched // n + 1
            Path(self.marker_dir, f"mid-{k}").touch()
            if k == self.stop_at:
                time.sleep(3600)  # wait here, mid-epoch, for the test's SIGKILL
        x, y = self.inner[i]
        return (x.flip(-1) if torch.rand(()) < 0.5 else x), y


def make_data(n: int, generator: torch.Generator) -> TensorDataset:
    """Gaussian images; the label is the argmax of a fixed random linear read-out (learnable, not trivial)."""
    x = torch.randn(n, *SHAPE, generator=generator)
    readout = torch.randn(CLASSES, x[0].numel(), generator=torch.Generator().manual_seed(99))
    y = (x.flatten(1) @ readout.T).argmax(1)
    return TensorDataset(x, y)


DST_OPTIONS = {"algorithm": "set", "update_interval": 5, "redistribution": "momentum"}


def make_job(marker_dir: str | None = None, stop_at: int = 0, mode: str = "pai"):
    """(model, masks, bundle, recipe) — identical in every process."""
    g = torch.Generator().manual_seed(0)
    train, test = make_data(N_TRAIN, g), make_data(N_TEST, g)
    bundle = types.SimpleNamespace(
        name="synthetic",
        train=MarkedDataset(train, marker_dir, stop_at),
        test=test,
        input_shape=SHAPE,
        num_classes=CLASSES,
    )
    model = init_model("cnn", SHAPE, CLASSES, seed=SEED)
    mg = torch.Generator().manual_seed(1)
    masks = {k: torch.rand(p.shape, generator=mg) > 0.6 for k, p in prunable_parameters(model).items()}
    overrides = {"epochs": 3, "batch_size": 32, "lr": 0.05}
    if mode == "dst":
        overrides.update(mode="dst", dst=DST_OPTIONS)
    return model, masks, bundle, recipe_for("digits", "cnn", overrides)


if __name__ == "__main__":
    from snntopo.training import train

    torch.set_num_threads(1)  # same as tests/conftest.py, so in-process and subprocess runs match bitwise
    out_dir, marker_dir = sys.argv[1], sys.argv[2]
    stop_at = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    mode = sys.argv[4] if len(sys.argv) > 4 else "pai"
    model, masks, bundle, recipe = make_job(marker_dir, stop_at=stop_at, mode=mode)
    train(model, masks, bundle, recipe, out_dir, seed=SEED, device="cpu")
