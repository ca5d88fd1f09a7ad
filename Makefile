# Everything a fresh machine needs: `make demo` (end-to-end run on the sample data) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CMKT := $(VENV)/bin/cmkt
DATA ?= ../shared/data
DEMO_WORKDIR ?= work/demo

.PHONY: install demo test test-all clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

demo: install
	$(CMKT) run $(DATA)/speech_en $(DATA)/grid --noise $(DATA)/noise --transcripts $(DATA)/transcripts.tsv \
		--snr 0,5,10 --seed 0 --workdir $(DEMO_WORKDIR)

test: install
	$(PY) -m pytest

test-all: install
	$(PY) -m pytest -m ""

clean:
	rm -rf $(VENV) work build *.egg-info
