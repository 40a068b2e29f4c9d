# Veille — the two commands: `make demo` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
GAZETTEER := classifiers/data/build/gazetteer.json.gz
REGION_SHAPES := classifiers/data/build/regions.geo.json.gz
CHROMIUM ?= /usr/bin/chromium

.PHONY: demo test install browser lint typecheck bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(GAZETTEER): $(STAMP) classifiers/gazetteer_build.py classifiers/places_data.py
	$(PY) -m classifiers.gazetteer_build --out $(GAZETTEER)

$(REGION_SHAPES): $(STAMP) classifiers/region_shapes_build.py classifiers/places_data.py
	$(PY) -m classifiers.region_shapes_build --out $(REGION_SHAPES)

install: $(STAMP) $(GAZETTEER) $(REGION_SHAPES)

# The web window's tests drive Debian's chromium (Playwright, no browser download).
browser:
	@if [ ! -x $(CHROMIUM) ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "make test: installing Debian's chromium for the web window's browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi
	@test -x $(CHROMIUM) || { echo "make test: $(CHROMIUM) is missing; the web window's browser tests need Debian's chromium: apt-get install chromium (.ci/run installs it)" >&2; exit 1; }

demo: install
	$(VENV)/bin/veille demo

test: install browser
	$(VENV)/bin/ruff check bot classifiers tests bench
	$(VENV)/bin/mypy
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check bot classifiers tests bench

typecheck: install
	$(VENV)/bin/mypy

bench: install
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) bench/poll.py --feeds 1000
	$(PY) bench/classify.py
	$(PY) bench/map.py
	$(PY) bench/query.py --items 100000

clean:
	rm -rf $(VENV) classifiers/data/build state/veille.db* state/models
