# Entry points. `make lab` is the main job, `make test` the whole test suite;
# both install what they need on a fresh Debian 12 machine (run as root).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV        := $(CURDIR)/.venv
BIN         := $(VENV)/bin
BUILD       := $(CURDIR)/.build
COLLECTIONS := $(BUILD)/collections
INSTALLED   := $(COLLECTIONS)/ansible_collections/selfhost/langgraph
SITE_PACKAGES = $(shell $(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')

# Our collection as installed from this checkout first, then the collections
# the `ansible` package from PyPI bundles (community.docker, ansible.posix, ...).
export ANSIBLE_COLLECTIONS_PATH = $(COLLECTIONS):$(SITE_PACKAGES)
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH = false
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
# A private Ansible home: Molecule installs the checkout's collection into
# $ANSIBLE_HOME/collections, and ansible-lint looks there before anything else,
# so a shared ~/.ansible would let one checkout's copy shadow another's.
export ANSIBLE_HOME := $(BUILD)/ansible-home

COLLECTION_SOURCES := galaxy.yml meta/runtime.yml README.md $(shell find plugins roles playbooks tests/sanity changelogs -type f 2>/dev/null)

.PHONY: help venv collection lab lab-down lab-clean test test-sanity test-lint test-unit test-lab test-lab-suites test-lab-fleet test-lab-integration test-molecule bench

help:
	@echo "make lab        bring up the local lab fleet, install it and deploy the demo LangGraph server"
	@echo "make lab-down   remove every container, network, volume and key the lab made"
	@echo "make test       the whole test suite (sanity, lint, unit, lab, molecule)"
	@echo "make bench      benchmarks against the lab (figures printed, never asserted)"

venv: $(VENV)/.installed
$(VENV)/.installed: requirements-dev.txt
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# Build the collection tarball from this checkout and install it (never from a network source).
collection: $(INSTALLED)/MANIFEST.json
$(INSTALLED)/MANIFEST.json: $(VENV)/.installed $(COLLECTION_SOURCES)
	mkdir -p $(BUILD)/dist $(COLLECTIONS)
	$(BIN)/ansible-galaxy collection build --force --output-path $(BUILD)/dist . >/dev/null
	$(BIN)/ansible-galaxy collection install --force --no-deps -p $(COLLECTIONS) \
	  $(BUILD)/dist/selfhost-langgraph-$$(sed -n 's/^version: //p' galaxy.yml).tar.gz >/dev/null
	@echo "installed selfhost.langgraph into $(COLLECTIONS)"

lab: collection
	lab/up.sh

lab-down: venv
	lab/down.sh

lab-clean: lab-down
	lab/down.sh --images

# The static checks need no lab, and bringing the lab up mostly waits on
# downloads and image builds: the two run side by side. The lab suites then run
# one after another (several stop or restart shared lab services, and
# tests/lab times roll-outs under load, so it runs alone); Molecule has
# containers of its own and runs beside the integration suites.
test: collection
	$(MAKE) --no-print-directory -j2 --output-sync=target test-sanity test-lint test-unit lab
	$(MAKE) --no-print-directory test-lab-fleet
	$(MAKE) --no-print-directory -j2 --output-sync=target test-lab-integration test-molecule
	@echo "make test: all passed"

# ansible-test lists files with git when it finds a repository above the
# collection, and .build is ignored by git here: so sanity runs on a copy of
# the installed collection outside the checkout. Its pip bootstrap script
# cannot be downloaded here; tools/ansible-test-get-pip.py stands in for it.
SANITY_ROOT      ?= /var/tmp/selfhost-langgraph-sanity
ANSIBLE_TEST_PIP := 24.2
test-sanity: collection
	mkdir -p $(HOME)/.ansible/test/cache
	cp tools/ansible-test-get-pip.py $(HOME)/.ansible/test/cache/get_pip_$(subst .,_,$(ANSIBLE_TEST_PIP)).py
	rm -rf $(SANITY_ROOT) && mkdir -p $(SANITY_ROOT)/ansible_collections/selfhost
	cp -a $(INSTALLED) $(SANITY_ROOT)/ansible_collections/selfhost/langgraph
	# tests/ is not shipped (galaxy.yml build_ignore): sanity needs its ignore
	# files, and checks the unit tests too.
	mkdir -p $(SANITY_ROOT)/ansible_collections/selfhost/langgraph/tests
	cp -a tests/sanity tests/unit $(SANITY_ROOT)/ansible_collections/selfhost/langgraph/tests/
	cd $(SANITY_ROOT)/ansible_collections/selfhost/langgraph && \
	  $(BIN)/ansible-test sanity --venv --python 3.11 --color no 2>&1 | grep -av '^WARNING: Location'

test-lint: venv
	$(BIN)/ansible-lint --profile production --offline

test-unit: collection
	$(BIN)/pytest -q tests/unit

# Tests against the lab fleet: each folder is its own pytest run (each has its own conftest).
LAB_INTEGRATION_DIRS := tests/integration/stores tests/integration/haproxy tests/integration/app
# --durations: the slowest tests show in every CI log, to see where the time goes.
LAB_PYTEST := $(BIN)/pytest -q -p no:cacheprovider --durations=15
test-lab: lab
	$(MAKE) --no-print-directory test-lab-suites
test-lab-suites:
	$(MAKE) --no-print-directory test-lab-fleet
	$(MAKE) --no-print-directory test-lab-integration
test-lab-fleet:
	$(LAB_PYTEST) tests/lab
test-lab-integration:
	for dir in $(LAB_INTEGRATION_DIRS); do $(LAB_PYTEST) $$dir || exit 1; done

test-molecule: collection
	tests/run-molecule.sh

# The lab's store addresses and (lab-only) passwords, as in lab/inventory/group_vars/all.yml.
bench: export BENCH_PG_HOST = 172.30.213.11
bench: export BENCH_REDIS_HOST = 172.30.213.12
bench: export BENCH_ADMIN_PASSWORD = lab-admin-Pw:/@%\#?&
bench: export BENCH_REDIS_PASSWORD = lab-redis-Pw:/@%\#?&
bench: collection
	lab/up.sh >/dev/null
	for bench in benchmarks/*.py; do echo "== $$bench"; $(BIN)/python $$bench || exit 1; done
