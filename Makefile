# Veille — the two commands: `make demo` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
GAZETTEER := classifiers/data/build/gazetteer.json.gz

.PHONY: demo test install lint typecheck bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(GAZETTEER): $(STAMP) classifiers/gazetteer_build.py classifiers/places_data.py
	$(PY) -m classifiers.gazetteer_build --out $(GAZETTEER)

install: $(STAMP) $(GAZETTEER)

demo: install
	$(VENV)/bin/veille demo

test: install
	$(VENV)/bin/ruff check bot classifiers tests bench
	$(VENV)/bin/mypy
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check bot classifiers tests bench

typecheck: install
	$(VENV)/bin/mypy

bench: install
	$(PY) bench/poll.py --feeds 1000
	$(PY) bench/classify.py

clean:
	rm -rf $(VENV) classifiers/data/build state/veille.db* state/models
