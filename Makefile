# Every target that needs the environment creates .venv on first use: `make train`, `analyze`, `ui` and
# `server` install the runtime dependencies only; `make test`, `lint` and `bench` add the dev extra.
SHELL := /bin/bash
BOOTSTRAP_PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
# An index to take torch (and for the dev extra torchvision) from before the rest, e.g.
# https://download.pytorch.org/whl/cpu: CPU-only wheels, without the CUDA libraries (README, "Install").
# The install remembers it in .venv/torch-index, so that a later one (the dev extra, a changed
# pyproject.toml) does not replace that torch with PyPI's.
TORCH_INDEX_URL ?= $(shell cat $(VENV)/torch-index 2>/dev/null)

HOST ?= 127.0.0.1
PORT ?= 5000
BACKEND_STORE_URI ?= sqlite:///mlruns/mlflow.db
ARTIFACTS_DESTINATION ?= ./mlruns/artifacts
ALLOWED_HOSTS ?=
WORKERS ?= 2
POSTGRES_DIR ?= mlruns/postgres
TRAIN_ARGS ?=
ANALYZE_ARGS ?=
PYTEST_ARGS ?=
# `make train`'s variables: each is the option of python -m experiments.train named after it in lower case,
# `_` as `-` (BATCH_SIZE is --batch-size), passed only when set, on the command line or in the environment:
# every default is python -m experiments.train's, held once, in lottery/hparams.py (and RaySettings).
TRAIN_VARIABLES := DATASET MODEL CONTROLS TRIALS ROUNDS EPOCHS BATCH_SIZE LR SEED DATA_DIR EXECUTOR \
	CPUS_PER_TRIAL GPUS_PER_TRIAL RAY_ADDRESS
# Values reach the commands through the environment and are quoted there ("$$VAR"), so the shell never
# interprets them: any value, quotes and semicolons included, arrives as typed. *_ARGS are split into words
# by experiments.launch (quotes honoured, nothing evaluated). Not under `make test`: its tests start `make
# server`, `make ui` and `make train` as a user's shell does, where these keep the defaults above.
export PYTEST_ARGS TORCH_INDEX_URL
ifeq ($(filter test,$(MAKECMDGOALS)),)
export $(TRAIN_VARIABLES) HOST PORT BACKEND_STORE_URI ARTIFACTS_DESTINATION ALLOWED_HOSTS WORKERS POSTGRES_DIR \
	TRAIN_ARGS ANALYZE_ARGS
# The variables given on make's command line: experiments.make_variables refuses one that `make train` or
# `make analyze` does not read but that looks like one it does (EPOCH for EPOCHS), which make would ignore.
export MAKE_COMMAND_LINE := $(strip $(foreach v,$(.VARIABLES),$(if $(findstring command line,$(origin $(v))),$(v))))
endif
train_option = $(if $($(1)),--$(subst _,-,$(shell tr A-Z a-z <<< $(1))) "$$$(1)")
TRAIN_OPTIONS = $(strip $(foreach v,$(TRAIN_VARIABLES),$(call train_option,$(v))))

.PHONY: install install-dev train analyze ui server postgres test bench bench-gpu lint clean-venv

install: $(STAMP)
install-dev: $(DEV_STAMP)

# torch (for the dev extra: torchvision) from TORCH_INDEX_URL when it is set, before the rest from PyPI.
from_torch_index = $(if $(TORCH_INDEX_URL),$(PYTHON) -m pip install --quiet $(1) --index-url "$$TORCH_INDEX_URL")

$(STAMP): pyproject.toml
	@test -x $(PYTHON) || $(BOOTSTRAP_PYTHON) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(call from_torch_index,torch)
	$(PYTHON) -m pip install --quiet -e .
	@printf '%s' "$$TORCH_INDEX_URL" > $(VENV)/torch-index
	@touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(call from_torch_index,torchvision)
	$(PYTHON) -m pip install --quiet -e '.[dev]'
	@touch $(DEV_STAMP)

# The recipes of train and analyze are not echoed: their first line is the configuration, or the refusal.
train: $(STAMP)
	@$(PYTHON) -m experiments.make_variables train $(TRAIN_VARIABLES) TRAIN_ARGS
	@$(PYTHON) -m experiments.launch TRAIN_ARGS experiments.train $(TRAIN_OPTIONS)

# A variable like one of make train's is refused by make analyze with this fix.
ANALYZE_HINT := its options go in ANALYZE_ARGS, e.g. ANALYZE_ARGS="--datasets digits --pairs 50" \
	(python -m analysis --help lists them)
analyze: $(STAMP)
	@$(PYTHON) -m experiments.make_variables analyze ANALYZE_ARGS --others $(TRAIN_VARIABLES) --hint '$(ANALYZE_HINT)'
	@$(PYTHON) -m experiments.launch ANALYZE_ARGS analysis

# `make ui` browses MLFLOW_TRACKING_URI, else the local store. It passes WORKERS only if set (command line or
# environment): its default, 1, is python -m experiments.ui's; the 2 above is `make server`'s.
UI_WORKERS = $(if $(filter-out default file,$(origin WORKERS)),--workers "$$WORKERS")
# VERBOSE=1: every request logged, and MLflow's start-up notes.
SERVER_VERBOSE = $(if $(filter-out 0,$(VERBOSE)),--verbose)
ui: $(STAMP)
	$(PYTHON) -m experiments.ui $(UI_WORKERS) --host "$$HOST" --port "$$PORT" --allowed-hosts "$$ALLOWED_HOSTS" \
		$(SERVER_VERBOSE)

server: $(STAMP)
	$(PYTHON) -m experiments.server --host "$$HOST" --port "$$PORT" --workers "$$WORKERS" \
		--backend-store-uri "$$BACKEND_STORE_URI" --artifacts-destination "$$ARTIFACTS_DESTINATION" \
		--allowed-hosts "$$ALLOWED_HOSTS" $(SERVER_VERBOSE)

# A local PostgreSQL for `make server` (data under POSTGRES_DIR); it prints the BACKEND_STORE_URI to use.
postgres: $(STAMP)
	$(PYTHON) -m experiments.postgres --folder "$$POSTGRES_DIR"

# Tests run on every core, a module's tests on one worker (at most 4 workers; PYTEST_ARGS="-n 0" runs them
# all in this process, e.g. for --pdb), the slowest modules first: in the order of tests/conftest.py, not
# xdist's (most tests first).
test: $(DEV_STAMP)
	$(PYTHON) -m experiments.launch PYTEST_ARGS pytest -n auto --maxprocesses 4 --dist loadfile --no-loadscope-reorder

bench: $(DEV_STAMP)
	$(PYTHON) -m bench

# What decides the next speed step on a GPU (about 5 minutes on one); without CUDA, one line and exit 0.
bench-gpu: $(DEV_STAMP)
	$(PYTHON) -m bench.gpu

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean-venv:
	rm -rf $(VENV)
