#!/usr/bin/env bash
# The causal model cmkt-gtcrn-debian (what `cmkt enhance -` streams with; the default before cmkt-gtcrn-ssl-kd-debian),
# from nothing: corpus -> prepare -> fine-tune GTCRN's published DNS3 weights on the corpus with augmentation
# (resumable) -> export the model file, interpolated with GTCRN-DNS3.
#   bash recipes/debian_corpus/train_gtcrn.sh [CORPUS_DIR] [WORKDIR]
# Rerun the same command after any interruption: every step skips what is done and training resumes.
# About 1.5 CPU-hours on 2 cores (4000 steps at ~1.15 s each with one thread), plus the corpus and prepare.
source "$(dirname "$0")/prepare_corpus.sh" "$@"
# GTCRN's authors' checkpoint (MIT): ../shared/data/interop/gtcrn/ here, or github.com/Xiaobin-Rong/gtcrn
GTCRN_DNS3=${GTCRN_DNS3:-../shared/data/interop/gtcrn/model_trained_on_dns3.tar}
RUN=gtcrn-default

resume=()
[ -f "$WORKDIR/train/$RUN/last.ckpt" ] && resume=(--resume)
# the GTCRN preset (48 k parameters) takes GTCRN-DNS3's weights whole; its hybrid loss (compressed complex and
# magnitude MSE + SI-SDR) is the backbone's default; each batch is remixed, a share reverberated (pyroomacoustics
# rooms), band-limited and gain-scaled (docs/model.md); best.ckpt by validation PESQ-WB on the valid voices
$CMKT train --modality a --init-from "$GTCRN_DNS3" --batch-size 16 --crop-frames 126 --lr 3e-4 --max-steps 4000 \
    --lr-decay-steps 2000 --validate-every 250 --val-utterances 32 --select-by pesq \
    --augment remix,reverb,bandlimit,gain --seed 0 --run-name "$RUN" --workdir "$WORKDIR" "${resume[@]}"
# the inference-only model file the package ships: 0.75 x the fine-tuned weights + 0.25 x GTCRN-DNS3's (WiSE-FT; 0.75
# was the best share on the valid voices of 0, 0.25, 0.5, 0.75 and 1, on PESQ-WB, ESTOI and SI-SDR alike:
# bench/results/wise-ft-valid.json); one network evaluation, no attenuation limit; the card holds the data, the
# licences (GTCRN's MIT notice comes from the checkpoint's provenance) and the measured quality
$CMKT export "$WORKDIR/train/$RUN/best.ckpt" -o pipelines/weights/cmkt-gtcrn-debian.pt --sampler predictive \
    --interpolate-with "$GTCRN_DNS3" --alpha 0.75 --attenuation-limit inf --force --card recipes/debian_corpus/card.json
