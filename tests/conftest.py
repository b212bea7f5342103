"""Shared test settings: keep torch to one thread (the CI machine has about one core of throughput)."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import torch

torch.set_num_threads(1)
