# Handoff — the two set-up commands are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian packages the project needs at run time (pyzbar loads libzbar through ctypes).
APT_PACKAGES := libzbar0 fonts-wqy-microhei libusb-1.0-0
DEMO_DB := var/demo.db

.PHONY: run test lint bench-ingest bench-decode bench-cssd bench-routing bench-agent soak system-packages venv clean

run: venv ## Start the server with a fresh demo county on SQLite at http://127.0.0.1:8000
	@rm -f $(DEMO_DB) $(DEMO_DB)-wal $(DEMO_DB)-shm
	HANDOFF_DATABASE_URL=sqlite:///$(DEMO_DB) $(BIN)/handoff demo
	HANDOFF_DATABASE_URL=sqlite:///$(DEMO_DB) $(BIN)/handoff serve --host 127.0.0.1 --port 8000

test: APT_PACKAGES += chromium
test: venv ## Run the whole suite (SQLite and PostgreSQL); browser tests use Debian's chromium
	$(BIN)/pytest -n 2 --dist loadgroup

lint: venv ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy server labels routing scanner_agent web bench tests

bench-ingest: venv ## Ingest throughput and custody lookup latency on PostgreSQL
	$(BIN)/python -m bench.ingest

bench-decode: venv ## Camera decoding over ../shared/bench/decode (zxing-cpp as a comparison)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench.decode

bench-cssd: venv ## A year of a busy CSSD on PostgreSQL: board, recall report, pack history
	$(BIN)/python -m bench.cssd

soak: venv ## Ten minutes of a county day at 20x: 42 real agents, 4 workers, fresh PostgreSQL database
	$(BIN)/python -m bench.soak $(ARGS)

bench-agent: venv ## Scanner agent: scan-to-commit latency, drain of 100,000 queued events (PostgreSQL)
	$(BIN)/python -m bench.agent $(ARGS)

bench-routing: venv ## Route planning vs PyVRP and VROOM on ../shared/bench/routing (ARGS="--full" for all)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench.routing $(ARGS)

venv: system-packages $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Handoff needs Python 3.11 or newer; found " + sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
	  echo "could not create a virtualenv; on Debian/Ubuntu run: sudo apt-get install -y python3-venv"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,hid]'
	@touch $@

system-packages:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else \
	    echo "Handoff needs these Debian packages. Run:"; \
	    echo "  sudo apt-get install -y --no-install-recommends$$missing"; \
	    exit 1; \
	  fi; \
	fi

clean:
	rm -rf $(VENV) var build *.egg-info .pytest_cache .mypy_cache .ruff_cache
