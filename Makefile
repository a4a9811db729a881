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

# The interpreter that builds .venv, found before .venv/bin goes first on PATH.
BASE_PYTHON := $(or $(shell command -v $(PYTHON) 2>/dev/null),$(PYTHON))

# Stages run `python -m churn.<room>.<stage>` from this checkout's sources, whichever
# virtualenv provides the dependencies.
export PATH := $(BIN):$(PATH)
export PYTHONPATH := $(CURDIR)/src

.PHONY: FORCE help install install-key repro next-month model-card test test-fast lint format dag metrics plots recompute \
	clean base-cache report gate lint-workflows act-train doc-images pull push bench bench-suite bench-tiny package serve \
	lock notebook

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  make %-15s %s\n", $$1, $$2}'

# The lock `make install` installs from, every package pinned with its hashes:
# pip itself, then everything the package and its pipeline, report and dev extras
# need. The bench extra (MLflow, the benchmark's peer) has a lock of its own, in
# step with the first, which only the targets that run the benchmark install.
LOCKS := requirements/pip.txt requirements/dev.txt
BENCH_LOCK := requirements/bench.txt
BENCH_STAMP := $(VENV)/.installed-bench

# Each stamp holds a digest of what its install was made of: the files it read, the
# Python that ran it, and where the virtualenv lives (its scripts name their own
# path). A checkout or a restored cache makes the files look newer than the stamp
# without changing them; then the digests agree and the stamp is only touched. A
# stamp whose digest disagrees is remade whatever the files' times say. The digest
# is taken again as the recipe runs, after any target that rewrote the lock. CI
# names its cache of the virtualenv after it (`make install-key`); the install
# recipe itself is not in it, and ci.yml's test job always installs from scratch.
digest = $(shell $(BASE_PYTHON) -c 'import hashlib, os, sys; \
	h = hashlib.sha256(repr((sys.version, os.path.realpath(sys.executable), sys.argv[1])).encode()); \
	[h.update(open(f, "rb").read()) for f in sys.argv[2:]]; print(h.hexdigest()[:20])' \
	'$(1)' $(2) 2>/dev/null)
install_key = $(call digest,$(abspath $(VENV)),pyproject.toml $(LOCKS))
bench_key = $(call digest,$(1),$(BENCH_LOCK))
# Non-empty when stamp $(2) holds digest $(1); empty when there is no stamp, or
# when the digest could not be taken: then the install runs.
same = $(and $(1),$(filter $(1),$(shell cat $(2) 2>/dev/null)))
# The bench extra goes on top of the install: with that redone, it is redone too.
# $(1) is the install's digest; $(2) the bench extra's, taken from $(1) if not given.
both = $(and $(call same,$(1),$(STAMP)),$(call same,$(or $(2),$(call bench_key,$(1))),$(BENCH_STAMP)))
# As make starts, for the prerequisites. Each recipe takes the digests again, once,
# into KEY (and BENCH_KEY) as make expands it, before its first line runs.
STARTING_KEY := $(install_key)
take_key = $(eval KEY := $(install_key))
take_bench_key = $(take_key)$(eval BENCH_KEY := $(call bench_key,$(KEY)))

# A fresh virtualenv every time, so that it holds the lock and nothing else. A VENV
# that is a link is refused: its digest names the link, not the virtualenv's own
# stamp, and clearing it would empty whatever virtualenv it points at. The
# package itself goes in last, without its dependencies (the lock has them) and with
# the locked setuptools as its build backend; `pip check` fails the install when
# pyproject.toml asks for something the lock lacks.
define fresh_install
@$(BASE_PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required") if sys.version_info < (3, 11) else None'
@if [ -L "$(VENV)" ]; then echo "$(VENV) is a link to $$(readlink -f "$(VENV)"): a fresh install would empty that virtualenv; pass VENV=$$(readlink -f "$(VENV)") to use it, or remove the link" >&2; exit 1; fi
$(BASE_PYTHON) -m venv --clear $(VENV)
$(BIN)/python -m pip install --require-hashes -r requirements/pip.txt
$(BIN)/python -m pip install --require-hashes -r requirements/dev.txt
$(BIN)/python -m pip install --no-deps --no-build-isolation -e .
$(BIN)/python -m pip check
@echo '$(KEY)' > $@
endef

define fresh_bench
$(BIN)/python -m pip install --require-hashes -r $(BENCH_LOCK)
$(BIN)/python -m pip check
@echo '$(BENCH_KEY)' > $@
endef

$(STAMP): pyproject.toml $(LOCKS) $(if $(call same,$(STARTING_KEY),$(STAMP)),,FORCE)
	$(take_key)$(if $(call same,$(KEY),$@),@echo "$(VENV) already holds this lock: nothing to install",$(fresh_install))
	$(if $(call same,$(KEY),$@),@touch $@)

install: $(STAMP) ## create .venv from the hash-checked lock in requirements/: the package, pipeline, report and dev tools

install-key: ## the digest .venv's install stamp holds (CI names its cache of .venv after it)
	@echo '$(install_key)'

# On top of the installed lock; `venv --clear` above removes this stamp with the rest.
$(BENCH_STAMP): $(STAMP) $(BENCH_LOCK) $(if $(call both,$(STARTING_KEY)),,FORCE)
	$(take_bench_key)$(if $(call both,$(KEY),$(BENCH_KEY)),@touch $@,$(fresh_bench))

FORCE:

# pip-tools runs from a throwaway virtualenv, never from .venv, with Python 3.11 (what
# CI runs), for which the lock's markers are evaluated. LOCK_ARGS passes more options
# to pip-compile: --upgrade moves every pin to the newest release that fits,
# --upgrade-package NAME just one; by default the pins stay as they are.
PIP_TOOLS := pip-tools==7.6.2
LOCK_ARGS ?=
LOCK_FLAGS := --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
	--no-emit-find-links --no-emit-trusted-host $(LOCK_ARGS)

# pip-compile writes the dev extra's `churn[pipeline,report]` as a line of its own,
# `churn @ file:///<this checkout>`, which pins nothing and names this machine: drop it.
define DROP_SELF
import re, sys
path = sys.argv[1]
text = open(path, encoding="utf-8").read()
self_line = r"(# WARNING: pip install will require.*\n#.*\n)?churn @ file:.*\n(    #.*\n)*"
open(path, "w", encoding="utf-8").write(re.sub(self_line, "", text))
endef
export DROP_SELF

lock: ## recompile the lock in requirements/ from pyproject.toml (LOCK_ARGS=--upgrade: newest releases)
	@$(PYTHON) -c 'import sys; sys.exit("The lock is compiled with Python 3.11") if sys.version_info[:2] != (3, 11) else None'
	set -e; tools="$$(mktemp -d)"; trap 'rm -rf "$$tools" src/churn.egg-info' EXIT; \
	$(PYTHON) -m venv "$$tools"; \
	"$$tools/bin/python" -m pip install --require-hashes -r requirements/pip.txt; \
	"$$tools/bin/python" -m pip install $(PIP_TOOLS); \
	export CUSTOM_COMPILE_COMMAND="make lock"; \
	echo pip | "$$tools/bin/pip-compile" $(LOCK_FLAGS) --no-annotate \
		--output-file requirements/pip.txt -; \
	"$$tools/bin/pip-compile" $(LOCK_FLAGS) --extra dev \
		--build-deps-for editable --output-file requirements/dev.txt pyproject.toml; \
	"$$tools/bin/python" -c "$$DROP_SELF" requirements/dev.txt; \
	"$$tools/bin/pip-compile" $(LOCK_FLAGS) --extra bench --constraint requirements/dev.txt \
		--output-file $(BENCH_LOCK) pyproject.toml

repro: $(STAMP) ## reproduce the pipeline on the bundled data (dvc repro), write the model card
	dvc repro
	python -m churn model-card
	dvc metrics show metrics/metrics.json metrics/validation.json

next-month: $(STAMP) ## a new month of data arrives: include one more month in params.yaml
	python -m churn next-month

notebook: $(STAMP) ## write levels/0-manual/train_churn.ipynb from its script, executed, with the outputs
	python levels/0-manual/build_notebook.py

model-card: $(STAMP) ## write reports/model_card.{md,json} for the current model
	python -m churn model-card

# The suite runs the benchmark at its smallest, MLflow included: the bench extra too.
# One worker per core (pytest-xdist), each test file on one worker, so that a file's
# shared clone or pipeline run is built once. TEST_JOBS=1 runs in one process.
TEST_JOBS ?= auto
TEST_FLAGS = -n $(TEST_JOBS) --dist loadfile

test: $(BENCH_STAMP) ## run the whole test suite (installs the bench extra: it runs a tiny benchmark)
	python -m pytest $(TEST_FLAGS)

test-fast: $(STAMP) ## the tests not marked slow: no pipeline runs, workflows or benchmark (the edit loop)
	python -m pytest $(TEST_FLAGS) -m "not slow"

lint: $(STAMP) ## ruff lint and format check
	ruff check .
	ruff format --check .

format: $(STAMP) ## apply ruff's formatting and safe fixes
	ruff check --fix .
	ruff format .

dag: $(STAMP) ## draw the pipeline
	dvc dag

# One line per metric, so the table fits a terminal however many metrics there are.
metrics: $(STAMP) ## show every metric: its value on main, here, and the change
	dvc metrics diff main --all

plots: $(STAMP) ## draw every plot on one page that works offline: dvc_plots/index.html (OPEN=1 opens it)
	python -m churn plots $(if $(OPEN),--open)

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

# The base's predictions live in the DVC cache, by the md5 its dvc.lock records.
# When this clone's cache lacks them (the base never reproduced here, or a CI cache
# without them), the base is reproduced from its own code in a temporary git
# worktree that shares this cache; the check after it fails when even that did not
# put them there.
PREDICTIONS_OUT := metrics/predictions.csv
READABLE = python -m churn lineage --readable $(PREDICTIONS_OUT) --base="$$BASE"

base-cache: $(STAMP) ## put BASE's predictions in the DVC cache for report and gate (reproduces BASE in a temporary worktree when missing)
	@if $(READABLE); then exit 0; fi; \
	set -e; cache="$$(dvc cache dir)"; work="$$(mktemp -d)"; \
	trap 'git worktree remove --force "$$work/base" 2> /dev/null; rm -rf "$$work"' EXIT; \
	commit="$$(git rev-parse --verify --quiet --end-of-options "$$BASE^{commit}")"; \
	echo "reproducing $$BASE ($$commit) in $$work/base, with the DVC cache $$cache"; \
	git worktree add --quiet --detach "$$work/base" "$$commit"; \
	(cd "$$work/base" && dvc cache dir --local "$$cache" && PYTHONPATH="$$work/base/src" dvc repro evaluate); \
	$(READABLE)

report: $(STAMP) ## write report.md, report-plots/ and the verdict report.json: this checkout against BASE
	python -m churn report --base="$$BASE" --out report.md $(REVIEW_FLAGS)

gate: $(STAMP) ## the quality gate against BASE: 0 pass, 1 fail, 2 cannot judge (reads report.json if present)
	python -m churn gate --base="$$BASE" $(REVIEW_FLAGS) \
		$$([ -f report.json ] && echo --verdict report.json)

# What the report, the gate and the package read is written again from the model
# this checkout has: a commit can carry edited metrics with their hashes in
# dvc.lock, which `dvc repro` then keeps as up to date. A stage that REPRO_LOG
# (what `make repro` printed in this same job) shows running wrote its files from
# that model already and is not run twice; without the log, both run again.
RECOMPUTED := drift evaluate
REPRO_LOG ?=
export REPRO_LOG

recompute: $(STAMP) ## write the metrics again from this checkout's model (drift, evaluate), except what REPRO_LOG shows `make repro` ran
	@stale=""; \
	for stage in $(RECOMPUTED); do \
		if grep -qsx "Running stage '$$stage':" "$$REPRO_LOG"; then \
			echo "$$stage ran in this job's make repro: its files are this model's"; \
		else stale="$$stale $$stage"; fi; \
	done; \
	if [ -n "$$stale" ]; then echo "dvc repro --force --single-item$$stale"; \
		dvc repro --force --single-item $$stale; fi

lint-workflows: $(STAMP) ## actionlint and zizmor (offline, auditor persona) on .github/workflows
	actionlint
	zizmor --offline --persona=auditor .github/workflows

act-train: $(STAMP) ## run the train workflow with act on a PR setting PARAM=key=value (after main's push saved its DVC cache; COLD=1: without)
	python tests/workflows/actrun.py --venv $(abspath $(VENV)) \
		$(foreach p,$(PARAM),--param $(p)) $(if $(WORK),--work $(WORK)) \
		$(if $(FORK),--fork) $(if $(COLD),--cold-cache)

# The example is the `act-train` run of C=0.3; WORK=dir reuses one of this commit.
doc-images: $(STAMP) ## redraw the docs' plots and the level-2 example report from real runs (act, pipeline; ~2 min)
	python tests/docimages.py --venv $(abspath $(VENV)) \
		$(if $(WORK),--work $(WORK)) $(if $(OUT),--out $(OUT))

pull: $(STAMP) ## fetch data and models from the DVC remote (.dvc/config)
	dvc pull --allow-missing

push: $(STAMP) ## send data and models to the DVC remote
	dvc push

package: $(STAMP) ## check the release floor and build the model package in dist/ (MODEL_VERSION=1.2.0)
	python -m churn package --model-version $(MODEL_VERSION)

serve: $(STAMP) ## serve this checkout's model on 127.0.0.1 (PORT=8000)
	python -m churn serve --port $(PORT)

clean: ## remove the virtualenv and caches (not the DVC cache)
	rm -rf $(VENV) .pytest_cache .ruff_cache dvc_plots dist

BENCH_OUT ?= benchmarks/.work/tiny

bench: $(BENCH_STAMP) ## benchmark the pipeline (bundled, 100k, 1M rows), serving vs MLflow and a pull request under act (~15 min; installs the bench extra); writes benchmarks/RESULTS.md
	python benchmarks/run.py

bench-suite: $(BENCH_STAMP) ## run the whole suite once and write its time per test folder to benchmarks/suite.json and RESULTS.md
	python benchmarks/suite.py -- $(TEST_FLAGS)

bench-tiny: $(BENCH_STAMP) ## the benchmark at small sizes, one repetition; writes to benchmarks/.work/tiny (BENCH_OUT=...)
	python benchmarks/run.py --tiny --out $(BENCH_OUT)
