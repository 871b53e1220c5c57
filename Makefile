# The two commands of the README: `make hello` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Every distribution of the repository: the core, then the plugins under plugins/.
PLUGINS := $(wildcard plugins/*/setup.cfg)

.PHONY: install hello test bench clean

$(BIN)/.installed: setup.cfg pyproject.toml $(PLUGINS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]' $(foreach p,$(PLUGINS),-e ./$(dir $(p)))
	touch $@

install: $(BIN)/.installed

## hello: set up, write the embedded defaults to ~/.tandem, run the two-service hello-world
## (examples/hello-world: an order service and a client, each beside its own sidecar)
hello: install
	$(BIN)/tandem init
	$(BIN)/python examples/hello-world/run.py

## test: set up and run the whole test suite (what CI runs)
test: install
	$(BIN)/python -m pytest -n 2 -q

## bench: the benchmarks under bench/ (ratios against a baseline measured in the same run)
bench: install
	$(BIN)/python bench/state.py
	$(BIN)/python bench/invoke.py
	$(BIN)/python bench/pubsub.py
	$(BIN)/python bench/actors.py
	$(BIN)/python -m pip install --quiet "faststream[redis]" && $(BIN)/python bench/on_redis.py

clean:
	rm -rf $(VENV) *.egg-info build
