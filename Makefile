# Two entry points, each doing all of its own set-up:
#   make demo   install, simulate the embedded demo campaign if absent, run `all` on it
#   make test   install with the test extra (jwst==3.0.0 as the oracle) and run the suite
#   make lint   ruff, snakefmt --check and snakemake --lint (the test extra brings them)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
CORES  ?= all
DEMO   ?= demo
# the demo verifies this fraction of its exposures (plus one of every mode) against the
# official calwebb_image2, installing the verify extra (jwst==3.0.0); VERIFY=0: neither
VERIFY ?= 0.1
PIP     = $(VENV)/bin/python -m pip

.PHONY: demo test lint install install-test clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.installed: $(VENV)/bin/python pyproject.toml constraints.txt
	$(PIP) install -q -c constraints.txt -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install -q -c constraints.txt -e '.[test]'
	touch $@

$(VENV)/.installed-verify: $(VENV)/.installed
	$(PIP) install -q -c constraints.txt -e '.[verify]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: $(VENV)/.installed $(if $(filter-out 0 0.0,$(VERIFY)),$(VENV)/.installed-verify)
	test -f $(DEMO)/crds/mappings/jwst/jwst_0001.pmap || $(VENV)/bin/snakewebb simulate $(DEMO)
	# The demo's own cache and newest context, whatever CRDS_* the user's shell sets.
	env -u CRDS_CONTEXT -u CRDS_SERVER_URL $(VENV)/bin/snakemake --cores $(CORES) all \
	    --config asn='["$(DEMO)/asn/*_asn.json"]' crds_path=$(DEMO)/crds \
	    'verify={fraction: $(VERIFY), seed: 0}'

test: $(VENV)/.installed-test
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# ruff: pyflakes, pycodestyle, import order, numpydoc docstrings (pyproject.toml);
# snakefmt: the Snakefile and rules/*.smk; snakemake --lint: on a one-exposure fixture
lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/snakefmt --check Snakefile rules/
	$(VENV)/bin/python .ci/workflow_lint.py $(VENV)/bin/snakemake

clean:
	rm -rf $(VENV) $(DEMO) results logs .snakemake

# SLURM: the executor plugin (the `slurm` extra) in its own venv layered on $(VENV) (a
# .pth file adds $(VENV)'s packages), so that no other snakemake call pays the plugin's
# `scontrol show config` at start-up. The SLURM tests run $(SLURM_VENV)/bin/snakemake.
SLURM_VENV ?= $(VENV)-slurm
.PHONY: install-slurm
$(SLURM_VENV)/.installed: $(VENV)/.installed pyproject.toml
	$(PYTHON) -m venv $(SLURM_VENV)
	$(SLURM_VENV)/bin/python .ci/layer_venv.py $(VENV) pyproject.toml slurm
	$(SLURM_VENV)/bin/python -m pip install -q -c constraints.txt -r $(SLURM_VENV)/requirements.txt
	touch $@
install-slurm: $(SLURM_VENV)/.installed
