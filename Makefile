# snntopo — two commands do everything on a fresh Debian machine:
#   make run    set up, then run the default sweep end to end on the embedded digits dataset
#   make test   set up, then run the test suite
# Set-up is idempotent: a stamp keyed on the hash of requirements.txt and pyproject.toml skips it.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV   := .venv
PY     := $(VENV)/bin/python
SYS_PY := /usr/bin/python3
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
HASH   := $(shell cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)
STAMP  := .stamps/setup-$(HASH)
CORES  ?= $(shell nproc)
PYTEST_ARGS ?=

.PHONY: help setup run published test test-fast test-slurm slurm-up slurm-down bench lint format clean

help:
	@echo "make run    - set up, then run the default sweep (config/config.yaml) into results/"
	@echo "make published TABLES=DIR - analysis and report of the MGE study's published tables into results/external/"
	@echo "make test   - set up, then run the tests (unit, workflow, slurm)"
	@echo "make test-slurm - only the tests against a real single-node SLURM (root or sudo; installs slurm-wlm)"
	@echo "make slurm-up / slurm-down - start/stop that single-node SLURM to try profiles/slurm locally"
	@echo "make bench  - benchmarks (JSON on stdout)"
	@echo "make lint   - ruff, snakefmt --check, snakemake --lint"

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@echo "[setup] graph-tool (Debian python3-graph-tool) ..."
	@if ! $(SYS_PY) -c 'import graph_tool' 2>/dev/null; then \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-graph-tool; \
	fi
	@$(SYS_PY) -c 'import graph_tool; print("[setup] graph-tool", graph_tool.__version__)'
	@[ -x $(PY) ] || { echo "[setup] creating $(VENV) (system site packages, for graph-tool)"; \
	  $(SYS_PY) -m venv --system-site-packages $(VENV); }
	@echo "[setup] pip install -r requirements.txt (exact pins; numpy 1.x: Debian's graph-tool is built against it)"
	@$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	@$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	@$(PY) -c 'import graph_tool, numpy, torch, snakemake, snntopo; assert numpy.__version__ < "2"; \
	  print("[setup] ok: numpy", numpy.__version__, "torch", torch.__version__, "snakemake", snakemake.__version__)'
	@rm -rf .stamps && mkdir -p .stamps && touch $(STAMP)

run: setup
	@echo "[run] snakemake (config/config.yaml; workflow profile profiles/default) ..."
	@echo "[run] progress: snakemake prints 'N of M steps (P%) done' after each job; a training job's epochs"
	@echo "[run]   and ETA are in its log, e.g. tail -f results/logs/train/digits/cnn/seed0/*/s*/train.log"
	@source $(VENV)/bin/activate && snakemake --cores $(CORES)
	@echo "[run] report: results/report.html ..."
	@source $(VENV)/bin/activate && snakemake --cores 1 --report results/report.html
	@echo "[run] done: results/ and results/report.html (see README, 'What make run produces')"

# The published-tables route: import, analysis and report in one snakemake call, all under results/external/.
published: setup
	@[ -n "$(TABLES)" ] || { echo "usage: make published TABLES=/path/to/mge-snn/graph_data" >&2; exit 2; }
	@source $(VENV)/bin/activate && snakemake --cores $(CORES) --config external_tables=$(TABLES) \
	  --report results/external/report.html --report-after-run
	@echo "[published] done: results/external/ and results/external/report.html"

test: setup
	@echo "[test] pytest (unit, workflow, slurm) ..."
	@source $(VENV)/bin/activate && python -m pytest $(PYTEST_ARGS)

test-fast: setup
	@source $(VENV)/bin/activate && python -m pytest -m "not slow and not workflow and not slurm" $(PYTEST_ARGS)

# The SLURM tests start their own single-node cluster (scripts/slurm-local.sh, installs slurm-wlm and munge
# with apt-get when missing) and stop it afterwards; a cluster that is already up is used and left up.
test-slurm: setup
	@source $(VENV)/bin/activate && python -m pytest -m slurm tests/slurm $(PYTEST_ARGS)

slurm-up:
	@scripts/slurm-local.sh up

slurm-down:
	@scripts/slurm-local.sh down

bench: setup
	@source $(VENV)/bin/activate && for b in bench/*.py; do echo "[bench] $$b"; python $$b; done

lint: setup
	@source $(VENV)/bin/activate && ruff check src tests bench scripts && ruff format --check src tests bench scripts \
	  && snakefmt --check Snakefile rules && snakemake --lint --cores 1

format: setup
	@source $(VENV)/bin/activate && ruff format src tests bench scripts && ruff check --fix src tests bench scripts \
	  && snakefmt Snakefile rules

clean:
	rm -rf .snakemake results .pytest_cache .ruff_cache
