# Every target that runs code first makes sure the virtualenv is installed.
# `make` alone lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
MODEL_VERSION ?= 0.0.0-dev

# Stages run `python -m churn.<room>.<stage>` from this checkout's sources, whichever
# virtualenv provides the dependencies.
export PATH := $(BIN):$(PATH)
export PYTHONPATH := $(CURDIR)/src

.PHONY: help install repro next-month model-card test lint format dag metrics plots \
	clean report gate lint-workflows act-train pull push bench bench-tiny package serve

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  make %-15s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	@touch $@

install: $(STAMP) ## create .venv and install the package with its dev and benchmark tools

repro: $(STAMP) ## reproduce the pipeline on the bundled data (dvc repro), write the model card
	dvc repro
	python -m churn model-card
	dvc metrics show metrics/metrics.json metrics/validation.json

next-month: $(STAMP) ## a new month of data arrives: include one more month in params.yaml
	python -m churn next-month

model-card: $(STAMP) ## write reports/model_card.{md,json} for the current model
	python -m churn model-card

test: $(STAMP) ## run the whole test suite
	python -m pytest

lint: $(STAMP) ## ruff lint and format check
	ruff check .
	ruff format --check .

format: $(STAMP) ## apply ruff's formatting and safe fixes
	ruff check --fix .
	ruff format .

dag: $(STAMP) ## draw the pipeline
	dvc dag

metrics: $(STAMP) ## show metrics, and their change against main
	dvc metrics show
	dvc metrics diff main

plots: $(STAMP) ## render the plots to dvc_plots/index.html
	dvc plots show

# The revision a pull request is compared with (CI passes origin/<base branch>).
# It reaches the recipes as the environment variable "$$BASE", never as text of
# the command line, and `$(value ...)` keeps make from expanding what it holds:
# `make gate BASE='x;touch y'` asks churn about a revision named `x;touch y`, which
# git rev-parse --verify does not find.
BASE ?= main
override BASE := $(value BASE)
export BASE
# FIRST_MODEL=1: the base has no model yet; RECOMPUTE=1: rerun evaluate first.
REVIEW_FLAGS = $(if $(value FIRST_MODEL),--first-model) $(if $(value RECOMPUTE),--recompute)

report: $(STAMP) ## write report.md, report-plots/ and the verdict report.json: this checkout against BASE
	python -m churn report --base="$$BASE" --out report.md $(REVIEW_FLAGS)

gate: $(STAMP) ## the quality gate against BASE: 0 pass, 1 fail, 2 cannot judge (reads report.json if present)
	python -m churn gate --base="$$BASE" $(REVIEW_FLAGS) \
		$$([ -f report.json ] && echo --verdict report.json)

lint-workflows: $(STAMP) ## actionlint and zizmor (offline) on .github/workflows
	actionlint
	zizmor --offline .github/workflows

act-train: $(STAMP) ## run the train workflow with act on a PR setting PARAM=key=value
	python tests/workflows/actrun.py --venv $(abspath $(VENV)) \
		$(foreach p,$(PARAM),--param $(p)) $(if $(WORK),--work $(WORK)) \
		$(if $(FORK),--fork)

pull: $(STAMP) ## fetch data and models from the DVC remote (.dvc/config)
	dvc pull --allow-missing

push: $(STAMP) ## send data and models to the DVC remote
	dvc push

package: $(STAMP) ## check the release floor and build the model package in dist/ (MODEL_VERSION=1.2.0)
	python -m churn package --version $(MODEL_VERSION)

serve: $(STAMP) ## serve this checkout's model on 127.0.0.1 (PORT=8000)
	python -m churn serve --port $(PORT)

clean: ## remove the virtualenv and caches (not the DVC cache)
	rm -rf $(VENV) .pytest_cache .ruff_cache dvc_plots dist

BENCH_OUT ?= benchmarks/.work/tiny

bench: $(STAMP) ## benchmark the pipeline (bundled, 100k, 1M rows) and serving vs MLflow (~10 min); writes benchmarks/RESULTS.md
	python benchmarks/run.py

bench-tiny: $(STAMP) ## the benchmark at small sizes, one repetition; writes to benchmarks/.work/tiny (BENCH_OUT=...)
	python benchmarks/run.py --tiny --out $(BENCH_OUT)
