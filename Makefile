# make        : set up .venv, install, run the whole pipeline at the default (quick) scale
# make test   : set up .venv, install, run lint and the test suite (what CI runs)
# make test-fast : the same without the tests marked slow (pipeline runs, calibration loops)
# make rerun CLAIM=tau_max : rerun one claim, the claims reading its data, and the summary
# make publish SCALE=paper ONLY=tau_max,rate_shape : the pipeline, timed, for these claims
#               (ONLY: default every claim), then its small outputs published under
#               published/<scale>/ with the run record (what README calls "the results")
# make clean  : remove pipeline outputs (keeps data/raw, data/README.md and .venv)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SCALE  ?= quick
CORES  ?= all

.PHONY: all setup test test-fast lint pipeline rerun publish bench clean

all: pipeline

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[pipeline,test]"
	$(BIN)/python -m ipykernel install --prefix $(VENV) --name python3 > /dev/null
	touch $(STAMP)

setup: $(STAMP)

pipeline: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores $(CORES) --config scale=$(SCALE)

rerun: $(STAMP)
	@test -n "$(CLAIM)" || { echo "make rerun: name the claim, e.g. make rerun CLAIM=tau_max"; exit 2; }
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/clipasgd rerun $(CLAIM) --scale $(SCALE) --cores $(CORES)

publish: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m clipasgd.publish --record logs/$(SCALE)/run.json -- \
		$(BIN)/snakemake --cores $(CORES) --config scale=$(SCALE) $(if $(ONLY),only=[$(ONLY)])
	$(BIN)/python -m clipasgd.pipeline publish --scale $(SCALE) --run-record logs/$(SCALE)/run.json

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

test: $(STAMP) lint
	$(BIN)/python -m pytest -q

test-fast: $(STAMP) lint
	$(BIN)/python -m pytest -q -m "not slow"

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_engine.py

clean:
	rm -rf .snakemake logs notebooks/executed results assess runs report.html figures/*/
	find data -mindepth 1 -maxdepth 1 ! -name raw ! -name README.md -exec rm -rf {} +
	@echo "make clean: kept data/raw (fetched data sets), data/README.md and $(VENV)"
