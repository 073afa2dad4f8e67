# The two commands: `make lab` (open the course in JupyterLab) and `make test` (the whole suite).
# Both create or update .venv only when pyproject.toml changed, so they are fast when nothing did.
# Students also have `make scorecard`; instructors `make instructor` (the formgrader).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.course-kit-installed
PORT ?= 8888
PYTEST_ARGS ?=
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json
# The students' lab: nbgrader's server and lab extensions off (jupyter/student/), opened on
# the start page. The venv keeps nbgrader for `make instructor`.
STUDENT_CONFIG := $(CURDIR)/jupyter/student
START_PAGE := START_HERE.md
LAB_ARGS := --ServerApp.ip=127.0.0.1 --ServerApp.port=$(PORT) $(ALLOW_ROOT)

.PHONY: lab instructor scorecard test bench release grade-demo lint venv clean

venv: $(STAMP) $(LAB_SETTINGS)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed; found " + sys.version.split()[0] + ". Run: make PYTHON=/path/to/python3.11 ...")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

# Project-wide JupyterLab settings (no news pop-up for students).
$(LAB_SETTINGS): jupyter/lab-overrides.json $(STAMP)
	@mkdir -p $(dir $@)
	cp $< $@

lab: venv
	@echo "Opening the course in JupyterLab at http://127.0.0.1:$(PORT)/lab (the URL with its token is printed below); start with $(START_PAGE)."
	JUPYTER_CONFIG_PATH=$(STUDENT_CONFIG) $(BIN)/jupyter lab $(LAB_ARGS) --ServerApp.root_dir=notebooks --LabApp.default_url=/lab/tree/$(START_PAGE)

# The instructor's lab: nbgrader's formgrader on the kit's course directory (course/).
instructor: venv
	@echo "Opening nbgrader's formgrader on course/ at http://127.0.0.1:$(PORT)/formgrader (the URL with its token is printed below)."
	cd course && ../$(BIN)/jupyter lab $(LAB_ARGS) --ServerApp.root_dir=. --LabApp.default_url=/formgrader

# Every saved notebook in notebooks/, scored (a self-assessment; see README).
scorecard: venv
	@$(BIN)/python -m course_lib.course_scorecard notebooks

# One BLAS thread for the suite and every kernel it starts: the suite runs kernels, grader
# workers and JupyterLab side by side on 2 cores, and under that load the course's small
# matrix products (200x3073 @ 3073x10) ran 5-6x faster single-threaded (2.7 ms vs 16 ms).
# On a quiet machine two threads are a little faster (notebook 02: 34.7 s vs 42.2 s), so
# `make lab` leaves the default.
test: venv
	$(BIN)/ruff check .
	@OPENBLAS_NUM_THREADS=1 $(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: the suite is missing or was not found." >&2; fi; \
	exit $$rc

bench: venv
	$(BIN)/python -m benchmarks

release: venv
	$(BIN)/course-grade release

grade-demo: venv
	$(BIN)/course-grade demo

lint: venv
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info test-artifacts
