# Sourced by the training recipes (train_ssl.sh, train_gtcrn.sh, ...) with their arguments [CORPUS_DIR]
# [WORKDIR]: the settings they share, the corpus and its prepared workdir; both steps skip what is done.
# The corpus: VOICES=games-prompts (the default: game dialogue and telephony prompts, 3.5 h of training speech) or
# VOICES=all (+ the volunteers' voices, 6.3 h; train_ssl.sh); what the volunteers' voices buy is in
# docs/results.md, "What the corpus additions bought".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
CORPUS=${1:-work/corpus}
WORKDIR=${2:-work/default}
PY=${PY:-.venv/bin/python}
CMKT=${CMKT:-.venv/bin/cmkt}
$PY recipes/debian_corpus/build_corpus.py --out "$CORPUS" --voices "${VOICES:-games-prompts}"
$CMKT prepare "$CORPUS/speech" --noise "$CORPUS/noise" --snr=-5,0,5,10,15 --seed 0 \
    --speaker-splits "$CORPUS/speaker_splits.tsv" --transcripts "$CORPUS/transcripts.tsv" --workdir "$WORKDIR" --jobs 2
