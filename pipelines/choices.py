"""Every named choice of an option or config, declared once: name -> the line the CLI's help shows for it.

Standard library only, so the CLI builds its help from here without loading torch. The registries
and name tuples of the library take their names from here too (a registry refuses a name not
declared here), and tests/test_option_help.py checks that every declared name is implemented:
a new sampler, say, is its class with `@register_sampler("name")` plus its line in SAMPLERS.
"""

BACKBONES = {
    "ncsnpp": "the NCSN++ U-Net of SGMSE+ and StoRM: denoiser and score network",
    "crn": "a causal dual-path conv-recurrent network, GTCRN's design in sizes: predictive, one evaluation",
}
PRESETS = {  # network sizes; each names its backbone (pipelines/models/ncsnpp.py, crn.py)
    "small": "NCSN++ for CPUs, ~5 M parameters per network",
    "paper": "the SGMSE NCSN++, ~65.6 M",
    "gtcrn": "conv-recurrent, GTCRN's own size, 48 k: a real-time student; imports its checkpoints",
    "crn-m": "conv-recurrent, 0.12 M: 32 channels, 3 dual-path blocks",
    "crn-l": "conv-recurrent, 0.93 M: 96 channels, 4 dual-path blocks; a teacher",
}
SDES = {"ouve": "Ornstein-Uhlenbeck with variance exploding noise, as SGMSE+ and StoRM"}
SAMPLERS = {
    "pc": "predictor-corrector reverse diffusion",
    "ode": "deterministic probability-flow ODE, Heun: 2 x steps - 1 score evaluations",
    "predictive": "the denoiser alone: one network evaluation",
}
CORRECTORS = {  # the pc sampler's
    "ald": "annealed Langevin dynamics",
    "none": "predictor steps only",
}
STEP_RULES = {  # the pc sampler's predictor step sizes
    "grid": "the grid spacing every step, cmkt's",
    "t_eps": "the spacing, then a last step of t_eps to 0: SGMSE+",
    "1/N": "StoRM, SGMSE+ before mid-2024",
}
MODALITIES = {
    "a": "audio",
    "av": "+ lips: needs `featurize --lips`",
    "avl": "+ lips, and learns from text: also give --transfer ot|mhca",
}
ALIGNERS = {  # how the cross-modal transfer aligns audio with the transcript's BERT features
    "ot": "optimal transport",
    "mhca": "cross-attention",
}
FUSIONS = {"none": "no transfer", **ALIGNERS}  # EnhancerConfig.fusion: an aligner, or none
DENOISER_LOSSES = {
    "spec_mse": "(1 - m) complex + m magnitude MSE on the model's spectrogram (--magnitude-weight m)",
    "hybrid": "GTCRN's: complex and magnitude MSE of 0.3-compressed spectra, plus SI-SDR",
}
DISTILLATIONS = {  # `train --teacher MODEL --kd KIND` (pipelines/training/distillation.py)
    "none": "no teacher",
    "output": "the student also matches the teacher's enhanced output",
    "tfckd": "layer-by-layer feature distillation with time-frequency calibration (I2SRF-TFCKD; a conv-recurrent "
             "teacher)",
    "subband": "each band matches its elite sub-band teacher's (--teacher T1,...,TN: `--subband-teacher K/N` runs)",
}
SSL_MODES = {  # `train --ssl` (pipelines/models/ssl_fusion.py): a speech encoder's states beside the spectrogram
    "none": "the spectrogram alone",
    "frozen": "the encoder's weights stay fixed; training reads `featurize --ssl`'s cache",
    "finetune": "the encoder runs in training and learns with the enhancer",
}
AUGMENTATIONS = {  # `train --augment` (pipelines/training/augment.py)
    "remix": "each step mixes speech with another crop's noise at a random SNR",
    "reverb": "simulated rooms on 30 % of the crops; the target keeps the first 50 ms",
    "bandlimit": "speech low-passed at 3.4-7 kHz on 20 % of the crops",
    "gain": "a random level (-25 to +5 dB peak)",
}
DENOISER_OUTPUTS = {
    "direct": "y_hat = D(y), as StoRM",
    "residual": "y_hat = y + D(y): starts as the identity",
    "none": "no denoiser, y_hat = y, as SGMSE+",
}
SCORE_PARAMETRISATIONS = {
    "noise": "the score network predicts the noise, s = -net/std(t)",
    "direct": "s = net",
    "sgmse": "s = -(net/t + b) with a learnt bias b, the form of SGMSE+ and StoRM",
}
SCORE_CONDITIONS = {
    "denoised": "the score network sees [x_t, y_hat]",
    "both": "it sees [x_t, y, y_hat], as StoRM",
}
LIP_ENCODERS = {
    "frozen": "the cached lip embeddings",
    "finetune": "train the lip encoder with the model, from the cached mouth crops",
}
PRECISIONS = {
    "fp32": "full precision",
    "bf16": "autocast of the networks; slower on CPUs without bf16 units: docs/performance.md",
}
SPLIT_UNITS = {  # what `prepare --split-by` deals out to the splits
    "speaker": "no speaker in two splits",
    "file": "each file on its own",
}
VALIDATION_METRICS = {  # what training validation measures; `train --select-by` picks best.ckpt by one of them
    "pesq": "PESQ-WB",
    "estoi": "extended STOI",
    "si_sdr": "scale-invariant SDR",
}
