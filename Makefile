# Every target that needs the environment creates .venv on first use.
SHELL := /bin/bash
BOOTSTRAP_PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed

DATASET ?= digits
TRIALS ?= 20
ROUNDS ?= 11
EPOCHS ?= 10
BATCH_SIZE ?= 60
LR ?= 2e-4
SEED ?= 0
DATA_DIR ?= ./data
HOST ?= 127.0.0.1
PORT ?= 5000
BACKEND_STORE_URI ?= sqlite:///mlruns/mlflow.db
ARTIFACTS_DESTINATION ?= ./mlruns/artifacts
ALLOWED_HOSTS ?=
WORKERS ?= 2
EXECUTOR ?= local
CPUS_PER_TRIAL ?=
GPUS_PER_TRIAL ?=
RAY_ADDRESS ?=
TRAIN_ARGS ?=
ANALYZE_ARGS ?=
PYTEST_ARGS ?=
# Values reach the commands through the environment and are quoted there ("$$VAR"), so the shell never
# interprets them: any value, quotes and semicolons included, arrives as typed. *_ARGS are split into words
# by experiments.launch (quotes honoured, nothing evaluated).
export DATASET TRIALS ROUNDS EPOCHS BATCH_SIZE LR SEED DATA_DIR HOST PORT BACKEND_STORE_URI \
	ARTIFACTS_DESTINATION ALLOWED_HOSTS WORKERS EXECUTOR CPUS_PER_TRIAL GPUS_PER_TRIAL RAY_ADDRESS \
	TRAIN_ARGS ANALYZE_ARGS PYTEST_ARGS
# Only the Ray settings given (on the command line or in the environment) reach the command.
RAY_OPTIONS = $(strip $(if $(CPUS_PER_TRIAL),--cpus-per-trial "$$CPUS_PER_TRIAL") \
	$(if $(GPUS_PER_TRIAL),--gpus-per-trial "$$GPUS_PER_TRIAL") \
	$(if $(RAY_ADDRESS),--ray-address "$$RAY_ADDRESS"))

.PHONY: install train analyze ui server test bench lint clean-venv

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PYTHON) || $(BOOTSTRAP_PYTHON) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

train: $(STAMP)
	$(PYTHON) -m experiments.launch TRAIN_ARGS experiments.train --dataset "$$DATASET" --trials "$$TRIALS" \
		--rounds "$$ROUNDS" --epochs "$$EPOCHS" --batch-size "$$BATCH_SIZE" --lr "$$LR" --seed "$$SEED" \
		--data-dir "$$DATA_DIR" --executor "$$EXECUTOR" $(RAY_OPTIONS)

analyze: $(STAMP)
	$(PYTHON) -m experiments.launch ANALYZE_ARGS analysis

ui: $(STAMP)
	$(VENV)/bin/mlflow ui --backend-store-uri "$${MLFLOW_TRACKING_URI:-sqlite:///mlruns/mlflow.db}" \
		--host "$$HOST" --port "$$PORT"

server: $(STAMP)
	$(PYTHON) -m experiments.server --host "$$HOST" --port "$$PORT" --workers "$$WORKERS" \
		--backend-store-uri "$$BACKEND_STORE_URI" --artifacts-destination "$$ARTIFACTS_DESTINATION" \
		--allowed-hosts "$$ALLOWED_HOSTS"

test: $(STAMP)
	$(PYTHON) -m experiments.launch PYTEST_ARGS pytest

bench: $(STAMP)
	$(PYTHON) -m bench

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean-venv:
	rm -rf $(VENV)
