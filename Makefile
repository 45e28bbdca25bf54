# scalinglab — `make help` lists the targets.
#
# Every target depends on the virtual environment, so `make reproduce` and `make test`
# each work on a fresh machine by themselves. The environment is built once and rebuilt
# only when requirements*.txt change.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_BOOT ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-stamp
CLUSTER_STAMP := $(VENV)/.requirements-cluster-stamp

# make reproduce variables (see README): PAPERS=a,b PROFILE=ci|cpu|gpu JOBS=n FORCE=1
# EXECUTOR=local|dask|ray|slurm WORKERS=n DEVICE=auto|cpu|cuda|mps
# PARAMS="name=value ..." sets notebook parameters (each selected notebook must declare them)
export PAPERS PROFILE JOBS FORCE EXECUTOR WORKERS DEVICE PARAMS

# Cluster settings for sweeps (docs/cluster.md); short names on the make command line.
export SCALINGLAB_DASK_ADDRESS ?= $(DASK_ADDRESS)
export SCALINGLAB_RAY_ADDRESS ?= $(RAY_ADDRESS)
export SCALINGLAB_SLURM_PARTITION ?= $(SLURM_PARTITION)
export SCALINGLAB_SLURM_TIME ?= $(SLURM_TIME)
export SCALINGLAB_SLURM_ACCOUNT ?= $(SLURM_ACCOUNT)
export SCALINGLAB_SLURM_GPUS_PER_JOB ?= $(SLURM_GPUS_PER_JOB)

# Published data: a local mirror when one sits beside the checkout, else downloads
# pinned by commit and sha256 (data/remote.yaml).
MIRROR := $(abspath ../shared/mirror)
ifeq ($(origin SCALINGLAB_DATA_MIRROR), undefined)
ifneq ($(wildcard $(MIRROR)/MANIFEST.tsv),)
export SCALINGLAB_DATA_MIRROR := $(MIRROR)
endif
endif

NBVAL := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
         --nbval-cell-timeout=600 --nbval-kernel-startup-timeout=120
TEST_JOBS ?= 2

.PHONY: help setup setup-cluster test test-unit test-notebooks reproduce record record-check golden golden-check lab site serve site-check \
        bench new-paper clean distclean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-16s %s\n", $$1, $$2}'

$(STAMP): requirements.txt pyproject.toml
	@if [ -f $(STAMP) ]; then echo "requirements changed: updating $(VENV)"; fi
	@$(PYTHON_BOOT) -c 'import sys; assert sys.version_info >= (3, 11), "scalinglab needs Python >= 3.11"'
	$(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

# MathJax for the static site, served from the site itself (no CDN); from the npm registry.
MATHJAX := node_modules/mathjax/es5/tex-chtml.js
$(MATHJAX): package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the site's pages will lack MathJax and its tests will skip"; fi

$(CLUSTER_STAMP): requirements-cluster.txt $(STAMP)
	$(PY) -m pip install --quiet -r requirements-cluster.txt
	@touch $(CLUSTER_STAMP)

setup: $(STAMP) ## build the virtual environment (.venv) from requirements.txt

setup-cluster: $(CLUSTER_STAMP) ## add the Dask/Ray/Slurm executors to .venv

test: $(STAMP) $(CLUSTER_STAMP) $(MATHJAX) ## unit tests, then every notebook under nbval at the ci profile
	$(PY) -m pytest tests -n $(TEST_JOBS) --dist loadfile -q
	$(PY) -m pytest notebooks $(NBVAL) -n $(TEST_JOBS) --dist loadfile -q -p no:cacheprovider

test-unit: $(STAMP) $(CLUSTER_STAMP) $(MATHJAX) ## unit tests only
	$(PY) -m pytest tests -n $(TEST_JOBS) --dist loadfile -q

test-notebooks: $(STAMP) ## nbval over notebooks/ at the ci profile
	$(PY) -m pytest notebooks $(NBVAL) -n $(TEST_JOBS) --dist loadfile -q -p no:cacheprovider

reproduce: $(STAMP) ## run the notebooks (PAPERS= PROFILE= JOBS= FORCE=1) and write the scorecard
	$(PY) -m scalinglab.cli reproduce

record: $(STAMP) ## run the notebooks at PROFILE=cpu (gpu on a GPU) and write the committed results of record under results/<profile>/ (PAPERS=)
	$(PY) -m scalinglab.cli record

record-check: $(STAMP) ## list notebooks whose record is missing or older than their code
	$(PY) -m scalinglab.cli record --check

golden: $(STAMP) ## re-execute notebooks in place at the ci profile (the outputs nbval checks); run golden-check on them before committing
	$(PY) -m scalinglab.cli golden

golden-check: $(STAMP) ## do the stored ci outputs survive other threads, CPU kernels, tiny perturbations? (PAPERS= VARIANTS=)
	$(PY) -m scalinglab.cli golden-check $(if $(VARIANTS),--variants $(VARIANTS))

# make lab: the project's Jupyter configuration in lab/ (the ci profile's kernel environment,
# no autosave); extra options with LAB_ARGS="--no-browser --port 8899".
LAB_ARGS ?=
lab: $(STAMP) ## open JupyterLab on notebooks/ (kernels as at the ci profile, no autosave)
	JUPYTER_CONFIG_DIR="$(CURDIR)/lab" JUPYTER_PATH="$(CURDIR)/lab$${JUPYTER_PATH:+:$$JUPYTER_PATH}" \
	  $(VENV)/bin/jupyter lab notebooks $(LAB_ARGS)

# make site: the pages show the results of record under results/ (the highest recorded
# profile; PROFILE=cpu|gpu picks one), and the ci run, refreshed first (the runner skips
# unchanged notebooks), on a smoke-test page of its own. SMOKE=0 skips the ci run.
SITE_PROFILE = $(filter cpu gpu,$(PROFILE))
site: $(STAMP) $(MATHJAX) ## build the static site from the record under results/ (PROFILE=cpu|gpu), with the ci run as its smoke test
	@if [ "$(SMOKE)" != "0" ]; then PAPERS= $(PY) -m scalinglab.cli reproduce --profile ci || \
	  echo "site: some ci notebooks failed; the smoke-test page shows which"; fi
	$(PY) -m scalinglab.site build $(if $(SITE_PROFILE),--profile $(SITE_PROFILE))

serve: $(STAMP) ## serve the built site on localhost
	$(PY) -m scalinglab.site serve

site-check: $(STAMP) ## load every page of the built site in headless chromium, 1400 and 390 px wide (screenshots in build/screenshots)
	$(PY) -m scalinglab.site check

bench: $(STAMP) $(CLUSTER_STAMP) ## speed and accuracy benchmarks (ratios against references run alongside)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

new-paper: $(STAMP) ## scaffold a notebook: make new-paper ID=smith2024_topic TITLE="..."
	$(PY) -m scalinglab.cli new-paper "$(ID)" --title "$(TITLE)"

clean: ## remove build outputs
	rm -rf build site/_build

distclean: clean ## also remove the virtual environment
	rm -rf $(VENV) node_modules
