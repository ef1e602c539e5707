# Every target that needs the environment creates .venv on first use.
SHELL := /bin/bash
BOOTSTRAP_PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed

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
# Values reach the commands through the environment and are quoted there ("$$VAR"), so the shell never
# interprets them: any value, quotes and semicolons included, arrives as typed. *_ARGS are split into words
# by experiments.launch (quotes honoured, nothing evaluated).
export DATASET MODEL CONTROLS TRIALS ROUNDS EPOCHS BATCH_SIZE LR SEED DATA_DIR HOST PORT BACKEND_STORE_URI \
	ARTIFACTS_DESTINATION ALLOWED_HOSTS WORKERS POSTGRES_DIR EXECUTOR CPUS_PER_TRIAL GPUS_PER_TRIAL RAY_ADDRESS \
	TRAIN_ARGS ANALYZE_ARGS PYTEST_ARGS
# `make train` passes an option only for a variable that is set (on the command line or in the environment):
# every default is python -m experiments.train's, held once, in lottery/hparams.py (and RaySettings).
train_option = $(if $($(1)),--$(2) "$$$(1)")
TRAIN_OPTIONS = $(strip $(call train_option,DATASET,dataset) $(call train_option,MODEL,model) \
	$(call train_option,CONTROLS,controls) $(call train_option,TRIALS,trials) \
	$(call train_option,ROUNDS,rounds) $(call train_option,EPOCHS,epochs) \
	$(call train_option,BATCH_SIZE,batch-size) $(call train_option,LR,lr) $(call train_option,SEED,seed) \
	$(call train_option,DATA_DIR,data-dir) $(call train_option,EXECUTOR,executor) \
	$(call train_option,CPUS_PER_TRIAL,cpus-per-trial) $(call train_option,GPUS_PER_TRIAL,gpus-per-trial) \
	$(call train_option,RAY_ADDRESS,ray-address))

.PHONY: install train analyze ui server postgres test bench lint clean-venv

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PYTHON) || $(BOOTSTRAP_PYTHON) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

train: $(STAMP)
	$(PYTHON) -m experiments.launch TRAIN_ARGS experiments.train $(TRAIN_OPTIONS)

analyze: $(STAMP)
	$(PYTHON) -m experiments.launch ANALYZE_ARGS analysis

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
# all in this process, e.g. for --pdb).
test: $(STAMP)
	$(PYTHON) -m experiments.launch PYTEST_ARGS pytest -n auto --maxprocesses 4 --dist loadfile

bench: $(STAMP)
	$(PYTHON) -m bench

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean-venv:
	rm -rf $(VENV)
