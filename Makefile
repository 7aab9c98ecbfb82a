# petdns: `make run` starts the local cluster with the example PetSet, `make test` runs every check.
# Both set themselves up on a fresh clone: a virtualenv in .venv and the Debian tools they need.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
API ?= 127.0.0.1:6443
LISTEN ?= 127.0.0.1:5353
STATE ?= .petdns
EXAMPLE ?= config/examples/petset.yaml

.PHONY: run test lint typecheck pytest bench bench-quick dig tools bench-tools clean

$(STAMP): pyproject.toml setup.py petdns/_fastloop.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# apt-get install PKG when COMMAND is missing (daemons live in /usr/sbin, often not on a user's PATH):
# $(call need,COMMAND,PKG...)
need = command -v $(1) >/dev/null 2>&1 || test -x /usr/sbin/$(1) || { $(SUDO) apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(2) >/dev/null; }

dig:
	@$(call need,dig,bind9-dnsutils)

# knot: the local upstream of the forwarding tests; etcd: the etcd pets of the --run-pods tests
tools: dig
	@$(call need,knotd,knot)
	@$(call need,etcd,etcd-server)

bench-tools: tools
	@$(call need,dnsperf,dnsperf)
	@$(call need,nsd,nsd)

run: $(STAMP) dig
	@echo "The project's kubectl is $(BIN)/kubectl; in another shell: export PATH=$$PWD/$(BIN):\$$PATH"
	$(BIN)/petdns local -f $(EXAMPLE) --api $(API) --dns $(LISTEN) --state $(STATE)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# the agreement tests run against both loops in every run; the servers' own tests once more with the
# pure-Python loop (PETDNS_PURE=1), as where the extension is not built
pytest: $(STAMP) tools
	$(BIN)/pytest
	PETDNS_PURE=1 $(BIN)/pytest tests/petdns/test_server.py tests/petdns/test_workers.py

test: lint typecheck pytest

bench: $(STAMP) bench-tools
	$(BIN)/python bench/run.py
	$(BIN)/python bench/scaling.py --json bench/out/scaling.json

bench-quick: $(STAMP) bench-tools
	$(BIN)/python bench/run.py --quick

clean:
	rm -rf $(VENV) bench/out .mypy_cache .ruff_cache .pytest_cache
