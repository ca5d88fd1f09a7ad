#!/usr/bin/env bash
# The bundled default model, from nothing: corpus -> prepare -> train (resumable) -> export the model file.
#   bash recipes/debian_corpus/train_default.sh [CORPUS_DIR] [WORKDIR]
# Rerun the same command after any interruption: every step skips what is done and training resumes.
set -euo pipefail
cd "$(dirname "$0")/../.."
CORPUS=${1:-work/corpus}
WORKDIR=${2:-work/default}
PY=${PY:-.venv/bin/python}
CMKT=${CMKT:-.venv/bin/cmkt}
RUN=default
MAX_STEPS=${MAX_STEPS:-1000}
DECAY_STEPS=${DECAY_STEPS:-500}

$PY recipes/debian_corpus/build_corpus.py --out "$CORPUS"
$CMKT prepare "$CORPUS/speech" --noise "$CORPUS/noise" --snr=-5,0,5,10,15 --seed 0 \
    --speaker-splits "$CORPUS/speaker_splits.tsv" --transcripts "$CORPUS/transcripts.tsv" --workdir "$WORKDIR" --jobs 2
resume=()
[ -f "$WORKDIR/train/$RUN/last.ckpt" ] && resume=(--resume)
$CMKT train --modality a --preset small --batch-size 8 --crop-frames 128 --lr 1e-3 --max-steps "$MAX_STEPS" \
    --lr-decay-steps "$DECAY_STEPS" \
    --validate-every 100 --val-sampler predictive --val-utterances 24 --seed 0 --run-name "$RUN" \
    --workdir "$WORKDIR" "${resume[@]}"
# the inference-only model file the package ships, enhancing with the sampler measured best for it
# (docs/results.md, "Does the diffusion earn its cost?"); the card holds the data, licences and measured quality
$CMKT export "$WORKDIR/train/$RUN/best.ckpt" -o pipelines/weights/cmkt-a-small-debian.pt --sampler predictive \
    --card recipes/debian_corpus/card.json
