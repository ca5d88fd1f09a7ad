#!/usr/bin/env bash
# The speech-encoder models (issues 21 and 26), from nothing: the corpus with the volunteers' voices -> prepare ->
# the states of Whisper tiny.en's encoder (featurize --ssl) -> fine-tune GTCRN's published DNS3 weights with the
# frozen states of encoder layers 2, 3 and 4 fused at its bottleneck (resumable) -> export the model file.
#   VARIANT=distilled bash recipes/debian_corpus/train_ssl.sh [CORPUS_DIR] [WORKDIR]   # the default model,
#       cmkt-gtcrn-ssl-kd-debian: also keeps close to GTCRN-DNS3's outputs (output KD, weight 0.3), seed 1
#   VARIANT=frozen bash recipes/debian_corpus/train_ssl.sh ...                          # cmkt-gtcrn-ssl-debian
# Rerun the same command after any interruption: every step skips what is done and training resumes.
# About 40 CPU-minutes (1500 steps at ~1.2 s each with one thread, ~1.5 s with the teacher), plus the corpus,
# prepare and the encoder's states (6 minutes, 7 GB in WORKDIR/artifacts).
VOICES=all source "$(dirname "$0")/prepare_corpus.sh" "${1:-work/corpus-all}" "${2:-work/ssl}"
GTCRN_DNS3=${GTCRN_DNS3:-../shared/data/interop/gtcrn/model_trained_on_dns3.tar}
case "${VARIANT:-distilled}" in
    # seed 1: of the three seeds of this recipe, all above GTCRN-DNS3 on both test sets, the one the valid voices
    # ranked first (docs/results.md, "The default since 2026-12-06")
    distilled) RUN=ssl-frozen-top-kd; NAME=cmkt-gtcrn-ssl-kd-debian; CARD=card_ssl_kd.json; SEED=1
               EXTRA=(--teacher "$GTCRN_DNS3" --kd output --kd-weight 0.3) ;;
    frozen) RUN=ssl-frozen-top; NAME=cmkt-gtcrn-ssl-debian; CARD=card_ssl.json; SEED=0; EXTRA=() ;;
    *) echo "VARIANT is distilled or frozen" >&2; exit 2 ;;
esac

# the encoder's states of every training and valid crop, once (cached): frozen states need no encoder pass per step
$CMKT featurize --ssl --split train --split valid --workdir "$WORKDIR" -q
resume=()
[ -f "$WORKDIR/train/$RUN/last.ckpt" ] && resume=(--resume)
# layers 2,3,4: the SSL seed's top-CN layers, ranked by clean-noisy distance on the valid voices (`cmkt ssl-layers`,
# docs/results.md); no augmentation: the cached states are of the prepared mixtures
$CMKT train --modality a --init-from "$GTCRN_DNS3" --ssl frozen --ssl-layers 2,3,4 "${EXTRA[@]}" --batch-size 16 \
    --crop-frames 126 --lr 3e-4 --max-steps 1500 --lr-decay-steps 750 --validate-every 250 --val-utterances 32 \
    --select-by pesq --seed "$SEED" --run-name "$RUN" --workdir "$WORKDIR" "${resume[@]}"
# not interpolated with GTCRN-DNS3: alpha 1 beat 0.75 on the valid voices for both variants (docs/results.md); the
# model file embeds the encoder's weights (float16), so it enhances with nothing else installed
$CMKT export "$WORKDIR/train/$RUN/best.ckpt" -o "pipelines/weights/$NAME.pt" --sampler predictive \
    --attenuation-limit inf --force --card "recipes/debian_corpus/$CARD"
