# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
APT_STAMP := .apt-installed

.PHONY: demo test test-all lint bench clean venv system

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first and pinned exactly: anything else would pull a CUDA build.
	$(BIN)/pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	$(BIN)/pip install -q --no-deps open_clip_torch==3.3.0  # only for its CLIP BPE vocabulary file (text tokenizer); never imported
	$(BIN)/pip install -q --no-deps resemblyzer==0.1.4  # only for the speaker expert's weights (pretrained.pt); never imported
	touch $(STAMP)

venv: $(STAMP)

# Debian tools used by tests and the demo to generate media (speech, sounds) and by browser tests.
system:
	@bash scripts/install-system.sh

demo: $(STAMP) system
	$(BIN)/openbind demo

test: $(STAMP) system
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

test-all: $(STAMP) system
	$(BIN)/python -m pytest -q -m ''

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

bench: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
