"""Shared plumbing for the Snakemake script entry points: logging to the rule's log file."""

from __future__ import annotations

import logging
import sys
from pathlib import Path


def setup_logging(snakemake) -> logging.Logger:  # noqa: ANN001 - Snakemake's injected object
    """Send log records (and uncaught exceptions) to the rule's log file as well as to stderr."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if snakemake.log:
        Path(snakemake.log[0]).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(snakemake.log[0], mode="w"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", handlers=handlers,
                        force=True)  # fmt: skip
    logger = logging.getLogger(f"snntopo.{snakemake.rule}")

    def log_uncaught(exc_type, exc, tb):  # noqa: ANN001
        logger.error("%s failed", snakemake.rule, exc_info=(exc_type, exc, tb))

    sys.excepthook = log_uncaught
    return logger
