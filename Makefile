# The two commands: `make book` builds the HTML book, `make test` checks everything.
# Both start from a machine with only Python 3: they make .venv and install what they need.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
# Arguments for the benchmark, e.g. make bench BENCH_ARGS=--quick
BENCH_ARGS ?=
HTML   := _build/html
CHROMIUM ?= /usr/bin/chromium

# Pytest without its cache folder (and without _build's copies of notebooks: see pyproject.toml).
PYTEST := $(BIN)/python -m pytest -p no:cacheprovider
# jupyter-book through a wrapper that keeps Sphinx's colour codes out of files and CI logs.
JB     := $(BIN)/python tools/build_book.py build . --all -W -n --keep-going

.DEFAULT_GOAL := help
.PHONY: help venv install install-book chromium warm lint unit notebooks build browser execute \
        book test bench bench-ab serve clean distclean

help:
	@echo "make book    build the HTML book into $(HTML)"
	@echo "make test    lint, unit tests, notebooks (nbval), strict book build, browser test"
	@echo "make bench   run the engine benchmark (make bench-ab REF=main: against a revision)"
	@echo "make serve   serve $(HTML) on http://127.0.0.1:$(PORT)/"
	@echo "make clean   remove build outputs (make distclean also removes $(VENV))"
	@echo "make execute re-run the chapters in place, storing outputs (NB=book/NN_topic.ipynb for one)"

# ---------------------------------------------------------------- setting up

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check --quiet --upgrade pip

# The stamps make a second `make` skip pip entirely until pyproject.toml changes.
# PYTHONWARNINGS quiets setuptools' banner about editable installs (it warns every build).
PIP := PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install --disable-pip-version-check --quiet
$(VENV)/.stamp-book: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -c constraints.txt -e '.[book]'
	touch $@

$(VENV)/.stamp-test: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -c constraints.txt -e '.[book,test]'
	touch $@ $(VENV)/.stamp-book

# Kernels in .venv log at ERROR and above: ipykernel 7 warns at every start that its local
# TCP socket is unencrypted, which fills the log of `make test` with lines that are not ours.
KERNEL_CONFIG := $(VENV)/etc/ipython/ipython_kernel_config.py
$(KERNEL_CONFIG): | $(BIN)/python
	mkdir -p $(@D)
	echo 'c.IPKernelApp.log_level = "ERROR"   # written by the Makefile' > $@

venv: $(BIN)/python
install-book: $(VENV)/.stamp-book $(KERNEL_CONFIG)
install: $(VENV)/.stamp-test $(KERNEL_CONFIG)

# Matplotlib builds its font cache on first import and says so on stderr; do that
# here, once, so that no notebook's output depends on whether it is a first run.
warm:
	@$(BIN)/python -c "import matplotlib.pyplot" 2>/dev/null || true

# The browser test drives the system's Chromium (never a downloaded one).
chromium:
	@if [ -x "$(CHROMIUM)" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing Chromium for the browser test (apt-get install -y chromium)"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	    || echo "*** apt-get could not install chromium: the browser test will fail."; \
	else \
	  echo "*** The browser test needs Chromium at $(CHROMIUM). Install it with:"; \
	  echo "***     sudo apt-get install chromium"; \
	  echo "*** (or run with CHROMIUM=/path/to/chromium). The other checks run anyway."; \
	fi

# ---------------------------------------------------------------- the steps of `make test`

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy ad

unit: install
	$(PYTEST) tests || { status=$$?; [ $$status -eq 5 ] && echo "(no unit tests collected)" || exit $$status; }

notebooks: install warm
	$(PYTEST) --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg book/

build: install warm
	$(JB)

browser: install chromium
	CHROMIUM=$(CHROMIUM) $(PYTEST) -m browser tests/test_browser.py

# ---------------------------------------------------------------- the commands

book: install-book warm
	$(JB)
	@echo
	@echo "The book is in $(HTML)/index.html (or: make serve)"

# Every step runs even when an earlier one fails, so one run reports everything;
# the browser test needs a fresh build, so it runs only when the build passed.
test: install chromium warm
	@failed=""; \
	for step in lint unit notebooks build; do \
	  echo; echo "==== make $$step"; \
	  $(MAKE) --no-print-directory $$step || failed="$$failed $$step"; \
	done; \
	case "$$failed" in \
	  *build*) failed="$$failed browser(not run: the book did not build)";; \
	  *) echo; echo "==== make browser"; \
	     $(MAKE) --no-print-directory browser || failed="$$failed browser";; \
	esac; \
	echo; \
	if [ -n "$$failed" ]; then echo "make test: FAILED:$$failed"; exit 1; fi; \
	echo "make test: all checks passed"

bench: install
	$(BIN)/python benchmarks/bench_engine.py $(BENCH_ARGS)

# Today's engine against git revision REF (default main), e.g. make bench-ab REF=HEAD~1
REF ?= main
bench-ab: install
	$(BIN)/python benchmarks/bench_ab.py $(REF)

serve:
	@test -f $(HTML)/index.html || { echo "No book in $(HTML): run make book first"; exit 1; }
	@echo "Serving the book on http://127.0.0.1:$(PORT)/ (Ctrl-C to stop)"
	$(PYTHON) -m http.server $(PORT) --bind 127.0.0.1 --directory $(HTML)

clean:
	rm -rf _build .pytest_cache .ruff_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
	find . -path ./$(VENV) -prune -o -name .ipynb_checkpoints -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) *.egg-info

# Re-execute chapters in place, storing their outputs (NB=book/02_sixteen_lines.ipynb for one).
NB ?= book/*.ipynb
execute: install warm
	$(BIN)/python tools/execute_notebooks.py $(NB)
