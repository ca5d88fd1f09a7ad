#!/usr/bin/env bash
# cmkt-gtcrn-ssl-debian (issues 21 and 26), from nothing: the corpus with the volunteers' voices -> prepare -> the
# states of Whisper tiny.en's encoder (featurize --ssl) -> fine-tune GTCRN's published DNS3 weights with the frozen
# states of encoder layers 2, 3 and 4 fused at its bottleneck (resumable) -> export the model file.
#   bash recipes/debian_corpus/train_ssl.sh [CORPUS_DIR] [WORKDIR]
# Rerun the same command after any interruption: every step skips what is done and training resumes.
# About 40 CPU-minutes (1500 steps at ~1.2-1.5 s each with one thread), plus the corpus, prepare and the encoder's
# states (6 minutes, 7 GB in WORKDIR/artifacts).
VOICES=all source "$(dirname "$0")/prepare_corpus.sh" "${1:-work/corpus-all}" "${2:-work/ssl}"
GTCRN_DNS3=${GTCRN_DNS3:-../shared/data/interop/gtcrn/model_trained_on_dns3.tar}
RUN=ssl-frozen-top

# the encoder's states of every training and valid crop, once (cached): frozen states need no encoder pass per step
$CMKT featurize --ssl --split train --split valid --workdir "$WORKDIR" -q
resume=()
[ -f "$WORKDIR/train/$RUN/last.ckpt" ] && resume=(--resume)
# layers 2,3,4: the SSL seed's top-CN layers, ranked by clean-noisy distance on the valid voices (`cmkt ssl-layers`,
# docs/results.md); no augmentation: the cached states are of the prepared mixtures
$CMKT train --modality a --init-from "$GTCRN_DNS3" --ssl frozen --ssl-layers 2,3,4 --batch-size 16 --crop-frames 126 \
    --lr 3e-4 --max-steps 1500 --lr-decay-steps 750 --validate-every 250 --val-utterances 32 --select-by pesq \
    --seed 0 --run-name "$RUN" --workdir "$WORKDIR" "${resume[@]}"
# not interpolated with GTCRN-DNS3: alpha 1 beat 0.75 on the valid voices (docs/results.md); the model file embeds
# the encoder's weights (float16), so it enhances with nothing else installed
$CMKT export "$WORKDIR/train/$RUN/best.ckpt" -o pipelines/weights/cmkt-gtcrn-ssl-debian.pt --sampler predictive \
    --attenuation-limit inf --force --card recipes/debian_corpus/card_ssl.json
