#!/usr/bin/env bash
# The former default model (cmkt-a-small-debian, NCSN++ small), from nothing: corpus -> prepare -> train (resumable) -> fine-tune the denoiser with a
# magnitude term in its loss (resumable) -> export the model file with its attenuation limit.
#   bash recipes/debian_corpus/train_ncsnpp_small.sh [CORPUS_DIR] [WORKDIR]
# Rerun the same command after any interruption: every step skips what is done and training resumes.
source "$(dirname "$0")/prepare_corpus.sh" "$@"
RUN=ncsnpp-small
MAX_STEPS=${MAX_STEPS:-1000}
DECAY_STEPS=${DECAY_STEPS:-500}
FINETUNE=magnitude

resume=()
[ -f "$WORKDIR/train/$RUN/last.ckpt" ] && resume=(--resume)
$CMKT train --modality a --preset small --batch-size 8 --crop-frames 128 --lr 1e-3 --max-steps "$MAX_STEPS" \
    --lr-decay-steps "$DECAY_STEPS" \
    --validate-every 100 --val-sampler predictive --val-utterances 24 --seed 0 --run-name "$RUN" \
    --workdir "$WORKDIR" "${resume[@]}"
# the denoiser alone (--omega 1: the score network is not run and keeps its weights), its loss (1 - m) complex MSE
# + m magnitude MSE: the complex MSE alone over-suppresses weak speech and costs ESTOI (docs/results.md)
resume=()
[ -f "$WORKDIR/train/$FINETUNE/last.ckpt" ] && resume=(--resume)
$CMKT train --modality a --init-from "$WORKDIR/train/$RUN/best.ckpt" --omega 1 --magnitude-weight 0.7 \
    --batch-size 8 --crop-frames 128 --lr 5e-4 --max-steps 900 --lr-decay-steps 450 \
    --validate-every 50 --val-sampler predictive --val-utterances 24 --select-by estoi --seed 1 \
    --run-name "$FINETUNE" --workdir "$WORKDIR" "${resume[@]}"
# the inference-only model file the package ships, enhancing with the sampler and attenuation limit measured best
# for it on the valid voices (docs/results.md); the card holds the data, licences and measured quality
$CMKT export "$WORKDIR/train/$FINETUNE/best.ckpt" -o pipelines/weights/cmkt-a-small-debian.pt --sampler predictive \
    --attenuation-limit 10 --card recipes/debian_corpus/card_ncsnpp_small.json
