"""The enhancement model: STFT front end, predictive denoiser, score network and OUVE SDE.

The backbone (pipelines/models/registry.py) decides what the model can be: with a
generative one (NCSN++) it is DLAV-SE's denoiser + score network; with a predictive one
(the conv-recurrent family) it is the denoiser alone, trained on L_denoiser only and run
with one evaluation. The backbone also brings the front end it is designed for, which the
config copies, so every checkpoint rebuilds its own STFT.

This module says what the model *is* (its parts, its losses, one sampling call);
how it is trained (training/), checkpointed, and run over long files (inference/)
live elsewhere. Everything needed to rebuild it is in `EnhancerConfig`, which every
checkpoint embeds.

The score network is conditioned on the denoiser's estimate y_hat (StoRM-style): the
forward SDE drifts from clean speech towards y_hat and reverse diffusion starts near
it. During training y_hat is detached for the score loss, so L_score trains only the
score network and L_denoiser only the denoiser; omega weighs the two. The options that
the published SGMSE+ and StoRM models need (pipelines/interop/, docs/interop.md) are
config values too: no denoiser (y_hat = y, SGMSE+), a score network that also sees y
(`score_condition` "both", StoRM), SGMSE's output form (`score_parametrisation` "sgmse"),
uncentred inputs and a denoiser without time input.

With `fusion` "ot" or "mhca", a cross-modal transfer module sits at the bottleneck of
both networks (pipelines/models/cross_modal_transfer.py). Training batches that carry
BERT features add alpha * (L_align + L_OPT), averaged over the two networks; enhancement
never sees text.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch
from torch import Tensor, nn

from pipelines import choices
from pipelines.diffusion.losses import denoiser_loss, denoising_score_matching_loss
from pipelines.diffusion.sampling import build_sampler
from pipelines.diffusion.sde import SDES, build_sde, per_item
from pipelines.errors import BadInput, check_choice
from pipelines.models import BACKBONES, backbone_of_preset
from pipelines.audio_io import SAMPLE_RATE
from pipelines.models.cross_modal_transfer import ALIGNER_PREFIX, CrossModalTransfer
from pipelines.models.lip_resnet import LipResNet, embed_frames, normalise_crops
from pipelines.models.ssl_fusion import SSLFusion
from pipelines.models.subbands import band_mask
from pipelines.models.tf_calibrated_kd import TeacherOutput, TimeFrequencyCalibratedKD
from pipelines.models.visual_cross_attention import AudioVisualCrossAttention
from pipelines.video.lip_track import LipTrack
from pipelines.ssl.encoders import SSLModel, embedded_ssl_model, load_ssl_model, states_at_frames
from pipelines.spectral import NORMALISATIONS, WINDOWS, FrontEnd, SpecTransform, crop_frames, pad_frames


FUSIONS = tuple(choices.FUSIONS)
DENOISER_OUTPUTS = tuple(choices.DENOISER_OUTPUTS)
DENOISER_LOSSES = tuple(choices.DENOISER_LOSSES)
DISTILLATIONS = tuple(choices.DISTILLATIONS)
SCORE_PARAMETRISATIONS = tuple(choices.SCORE_PARAMETRISATIONS)
SCORE_CONDITIONS = tuple(choices.SCORE_CONDITIONS)
MODALITIES = tuple(choices.MODALITIES)
ALIGN_WEIGHTS = {"none": 0.0, "ot": 0.01, "mhca": 0.2}
LEGACY_NAMES = {"alpha": "spec_exponent", "beta": "spec_factor"}  # config keys of checkpoints before the rename


@dataclass
class EnhancerConfig:
    preset: str = "small"
    backbone: str = ""  # "": the preset's (preset names are unique across backbones)
    # the front end (pipelines/spectral.py FrontEnd); 0 or "": the backbone's. spec_exponent and spec_factor are the
    # STFT amplitude compression beta |c|^alpha (SPEC's alpha and beta; SGMSE's spec_abs_exponent, spec_factor),
    # named apart from the transfer weight (align_weight, "alpha" in the CMKT loss) and adapter_beta
    n_fft: int = 0
    hop_length: int = 0
    window: str = ""
    spec_exponent: float = 0.0
    spec_factor: float = 0.0
    normalisation: str = ""
    sde: str = "ouve"
    sigma_min: float = 0.05
    sigma_max: float = 0.5
    eta: float = 1.5
    t_eps: float = 0.03
    omega: float = 0.5  # weight of L_denoiser; L_score gets 1 - omega (1: the denoiser alone trains)
    denoiser_loss: str = ""  # "": the backbone's (diffusion/losses.py DENOISER_LOSSES)
    denoiser_magnitude_weight: float = 0.0  # m in the spec_mse loss: (1 - m) complex MSE + m magnitude MSE
    # knowledge distillation in training (training/distillation.py): L_denoiser + weight * L(student, teacher)
    distillation: str = "none"
    distillation_weight: float = 1.0
    teacher_taps: dict = field(default_factory=dict)  # tfckd: the teacher's layer widths by stage (from the teacher)
    # [K, N]: an elite sub-band teacher, which sees and enhances band K of N alone (models/subbands.py); []: full band
    subband: list = field(default_factory=list)
    # "noise": s = -net / std(t), the network predicts the unit-variance noise; "direct": s = net; "sgmse":
    # s = -(net / t + b) with a learnt complex bias b, SGMSE+'s and StoRM's form (their scale_by_sigma divides by t,
    # then a 1x1 layer adds its bias). Same loss, same optimum; see docs/model.md for why "noise" is the default.
    score_parametrisation: str = "noise"
    # "direct": y_hat = Denoiser(y), as in StoRM; "residual": y_hat = y + Denoiser(y), so the untrained network (whose
    # read-out starts at zero) passes the input through and learns only what to remove (docs/pretrained.md: it
    # learns faster on a CPU budget); "none": no denoiser, y_hat = y (SGMSE+)
    denoiser_output: str = "direct"
    score_condition: str = "denoised"  # the score net sees [x_t, y_hat]; "both": [x_t, y, y_hat] (StoRM)
    # NCSN++ shape overrides of the preset for both networks (nf, ch_mult, ...; an imported model's own shape),
    # whether their inputs are centred, whether the denoiser has a time input, and the frame padding (0: the
    # U-Net's multiple; SGMSE and StoRM pad to 64, which changes what the edge frames see)
    network: dict = field(default_factory=dict)
    centered: bool = True
    denoiser_time: bool = True
    pad_multiple: int = 0
    modality: str = "a"
    # cross-modal knowledge transfer (training only)
    fusion: str = "none"  # none | ot | mhca
    text_dim: int = 0  # d_s of the text model, read from the `featurize --text` artifact
    text_vocab_size: int = 0
    transfer_dim: int = 0  # d_t of FC1; 0 means text_dim
    adapter_beta: float = 0.1
    zero_adapter: bool = False  # FC2 starts at zero (runs started from a trained audio model: `train --init-from`)
    align_weight: float | None = None  # alpha; None means the paper's value for the fusion (ALIGN_WEIGHTS)
    ot_beta: float = 0.5
    mhca_layers: int = 6
    mhca_heads: int = 4
    # audio-visual cross-attention (modality av / avl)
    visual_dim: int = 0  # width of the lip embeddings, read from the `featurize --lips` artifact
    lip_encoder: str = ""  # which encoder made them ("untrained" or the LRW weights' checksum)
    av_dim: int = 256
    av_heads: int = 4
    # `train --lip-encoder finetune`: the lip encoder is part of the model and trains with it from the mouth crops,
    # normalised with the train split's crop mean and std (of pixel / 255)
    lip_finetune: bool = False
    lip_activation: str = "prelu"
    roi_mean: float = 0.0
    roi_std: float = 1.0
    # a speech encoder's hidden states fused at the bottleneck (the SSL seed; models/ssl_fusion.py): "none",
    # "frozen" or "finetune" (choices.SSL_MODES); which encoder (pipelines/ssl/encoders.py: a name the loader takes,
    # and what it was: checksum, layers, width, frame length) and which of its layers
    ssl: str = "none"
    ssl_model: str = ""
    ssl_identity: dict = field(default_factory=dict)
    ssl_layers: list = field(default_factory=list)

    def __post_init__(self) -> None:
        """Checked once, here, against the registries: a bad choice is one line and exit 2 wherever the config comes
        from (options, a checkpoint, an import)."""
        self.backbone = self.backbone or backbone_of_preset(self.preset)
        check_choice("--backbone", self.backbone, BACKBONES.names())
        network = BACKBONES.get(self.backbone)
        check_choice("--preset", self.preset, list(network.presets))
        for name, value in vars(network.front_end).items():  # what the config leaves open is the backbone's
            if not getattr(self, name):
                setattr(self, name, value)
        check_choice("window", self.window, WINDOWS)
        check_choice("normalisation", self.normalisation, NORMALISATIONS)
        if self.denoiser_loss:
            check_choice("--denoiser-loss", self.denoiser_loss, DENOISER_LOSSES)
        if not network.generative:
            if self.denoiser_output == "none":
                raise BadInput(f"the {self.backbone} backbone is the denoiser: --denoiser-output none leaves nothing")
            self.omega = 1.0  # a predictive model has L_denoiser alone
        check_choice("--sde", self.sde, SDES.names())
        check_choice("--score-parametrisation", self.score_parametrisation, SCORE_PARAMETRISATIONS)
        check_choice("--denoiser-output", self.denoiser_output, DENOISER_OUTPUTS)
        check_choice("--score-condition", self.score_condition, SCORE_CONDITIONS)
        check_choice("--transfer", self.fusion, FUSIONS)
        check_choice("--modality", self.modality, MODALITIES)
        check_choice("--kd", self.distillation, DISTILLATIONS)
        check_choice("--ssl", self.ssl, choices.SSL_MODES)
        if not self.distillation_weight >= 0:
            raise BadInput(f"--kd-weight must be at least 0, got {self.distillation_weight}")
        for flag, value in (("--omega", self.omega), ("--magnitude-weight", self.denoiser_magnitude_weight)):
            if not 0.0 <= value <= 1.0:
                raise BadInput(f"{flag} must be between 0 and 1, got {value}")
        if self.modality == "avl" and self.fusion == "none":
            raise BadInput("--modality avl adds the text branch: give --transfer ot or --transfer mhca")
        if self.modality == "av" and self.fusion != "none":
            raise BadInput(f"lips and text together are --modality avl (with --transfer {self.fusion})")

    @property
    def uses_video(self) -> bool:
        return self.modality in ("av", "avl")

    @property
    def front_end(self) -> FrontEnd:
        return FrontEnd(self.n_fft, self.hop_length, self.window, self.spec_exponent, self.spec_factor,
                        self.normalisation)

    @property
    def loss(self) -> str:
        """The denoiser's loss: the one chosen, or the backbone's (left open in the config, so a run started from
        another model with `--init-from` takes that model's backbone's)."""
        return self.denoiser_loss or BACKBONES.get(self.backbone).default_loss

    @property
    def generative(self) -> bool:
        """Whether the model has a score network (else it is predictive: the denoiser alone)."""
        return BACKBONES.get(self.backbone).generative

    @property
    def transfer_weight(self) -> float:
        return ALIGN_WEIGHTS[self.fusion] if self.align_weight is None else self.align_weight

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "EnhancerConfig":
        known = {f.name for f in fields(cls)}
        values = {"score_parametrisation": "direct", **values}  # checkpoints older than the option were direct
        values = {LEGACY_NAMES.get(k, k): v for k, v in values.items()}
        return cls(**{k: v for k, v in values.items() if k in known})


class SpeechEnhancer(nn.Module):
    def __init__(self, config: EnhancerConfig, training_parts: bool = True, weights: dict | None = None):
        """training_parts=False builds the inference model: the parts only training uses (the text aligners, the
        feature-distillation projections) are left out. `weights`: the state dict about to be loaded, where it
        holds the speech encoder's (a model file), so its encoder is shaped from them and not read from its source."""
        super().__init__()
        self.config = config
        self.spec = SpecTransform.of(config.front_end)
        backbone = BACKBONES.get(config.backbone)
        self.denoiser = (None if config.denoiser_output == "none" else
                         backbone.build(config, in_complex=1, time_conditional=config.denoiser_time))
        self.score_net = (backbone.build(config, in_complex=3 if config.score_condition == "both" else 2,
                                         time_conditional=True) if config.generative else None)
        # SGMSE's 1x1 output layer's bias, added after the division by t, so it cannot fold into the read-out
        self.score_bias = nn.Parameter(torch.zeros(2)) if config.score_parametrisation == "sgmse" else None
        if config.uses_video:
            self._attach_visual_attention()
        self.lip_encoder = LipResNet(config.lip_activation) if config.uses_video and config.lip_finetune else None
        self.ssl_model = self._attach_speech_encoder(weights or {}) if config.ssl != "none" else None
        self.speech_encoder_seconds = 0.0  # spent in the encoder since an enhancement run began: its cost, for the card
        if config.fusion != "none":
            self._attach_transfer_modules(training_parts)
        self.feature_distiller = (TimeFrequencyCalibratedKD(self.tap_widths(), config.teacher_taps)
                                  if config.distillation == "tfckd" and training_parts else None)
        self.sde = build_sde(config.sde, sigma_min=config.sigma_min, sigma_max=config.sigma_max, eta=config.eta,
                             t_eps=config.t_eps)

    def _attach_visual_attention(self) -> None:
        """Cross-attention to the lips at the deepest level of both U-Nets, so H is audio-visual."""
        config = self.config
        if config.visual_dim <= 0:
            raise ValueError("modality av/avl needs visual_dim (from the featurize --lips artifact)")
        for network in self.networks:
            channels, bins, stride = network.bottleneck_geometry(config.n_fft // 2 + 1)
            network.attach_visual(AudioVisualCrossAttention(channels, bins, config.visual_dim,
                                                            config.hop_length * stride / SAMPLE_RATE,
                                                            config.av_dim, config.av_heads))

    def _attach_speech_encoder(self, weights: dict) -> SSLModel:
        """The encoder (part of the model: a frozen one keeps its weights, a fine-tuned one learns them) and the
        fusion of its chosen layers at the bottleneck of each network."""
        config = self.config
        model = (embedded_ssl_model(config.ssl_model, config.ssl_identity, weights)
                 or load_ssl_model(config.ssl_model or None))
        if config.ssl_identity and (model.layers, model.width) != (config.ssl_identity["layers"],
                                                                   config.ssl_identity["width"]):
            raise BadInput(f"the model was trained with the speech encoder {config.ssl_model} of "
                           f"{config.ssl_identity['layers']} layers of {config.ssl_identity['width']}; the one found "
                           f"has {model.layers} of {model.width}")
        self.ssl_encoder = model.encoder
        self.ssl_encoder.requires_grad_(config.ssl == "finetune")
        for network in self.networks:
            channels, _, stride = network.bottleneck_geometry(config.n_fft // 2 + 1)
            network.bottleneck_modules.append(SSLFusion(channels, len(config.ssl_layers), model.width, stride))
        return model

    def speech_states(self, y: Tensor) -> Tensor:
        """The chosen encoder layers' states (B, L, T, D) at the spectrogram's frames, from the waveform the
        spectrogram y (B, 1, F, T) holds: so every path that has a spectrogram (enhancement, a teacher, fine-tuning)
        feeds the encoder the same input."""
        frames = y.shape[-1]
        wave = self.spec.to_wave(y, (frames - 1) * self.config.hop_length)
        started = time.perf_counter()
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.config.ssl == "finetune"):
            states = states_at_frames(self.ssl_model, wave, self.config.ssl_layers, frames, self.config.hop_length)
        self.speech_encoder_seconds += time.perf_counter() - started
        return states

    def _attach_transfer_modules(self, with_aligner: bool) -> None:
        config = self.config
        if config.text_dim <= 0 or config.text_vocab_size <= 0:
            raise ValueError("fusion needs text_dim and text_vocab_size (from the featurize --text artifact)")
        for network in self.networks:
            channels, bins, _ = network.bottleneck_geometry(config.n_fft // 2 + 1)
            network.bottleneck_modules.append(CrossModalTransfer(
                channels, bins, config.fusion, config.text_dim,
                config.text_vocab_size, config.transfer_dim or config.text_dim, config.adapter_beta, with_aligner,
                zero_adapter=config.zero_adapter,
                beta=config.ot_beta, layers=config.mhca_layers, heads=config.mhca_heads))

    @property
    def networks(self) -> tuple[nn.Module, ...]:
        """The backbones: the denoiser and the score network, whichever the model has."""
        return tuple(network for network in (self.denoiser, self.score_net) if network is not None)

    @property
    def frame_multiple(self) -> int:
        return self.config.pad_multiple or max(network.multiple for network in self.networks)

    @property
    def causal(self) -> bool:
        """Whether each output frame depends on input frames up to it only, so the model can stream: a predictive
        causal backbone that does not look at the lips (their attention sees the whole chunk)."""
        return not self.why_not_causal

    @property
    def why_not_causal(self) -> str:
        """What makes an output frame depend on later input, in words ('' when nothing does)."""
        config = self.config
        reasons = [(config.generative, "it is generative"), (config.uses_video, "it looks at the lips"),
                   (config.ssl != "none", "its speech encoder attends over whole chunks"),
                   (self.denoiser is None or not self.denoiser.causal, f"backbone {config.backbone} is not causal")]
        return next((reason for applies, reason in reasons if applies), "")

    def tap_widths(self) -> dict[str, list[int]]:
        """The channels of each layer the denoiser taps for feature distillation, by stage (a dry run on 8 frames)."""
        if not getattr(self.denoiser, "taps_layers", False):
            raise BadInput(f"--kd tfckd distils layer by layer: the {self.config.backbone} backbone does not expose "
                           "its layers (use --kd output)")
        bins = self.config.n_fft // 2 + 1
        context: dict = {"taps": {}}
        with torch.no_grad():
            self.denoise(torch.zeros(1, 1, bins, 8, dtype=torch.complex64), context)
        return {stage: [h.shape[1] for h in tensors] for stage, tensors in context["taps"].items()}

    def denoise(self, y: Tensor, context: dict | None = None, stream: dict | None = None) -> Tensor:
        """The predictive estimate y_hat = Denoiser(y) (or y + Denoiser(y); y without a denoiser), the network run
        with t fixed to 1. `stream` (causal models): the state carried from the previous block of frames of the same
        recordings, updated in place, so consecutive blocks give what the whole spectrogram gives."""
        if self.denoiser is None:
            return y
        band = band_mask(y.shape[-2], *self.config.subband, y.device) if self.config.subband else None
        if band is not None:
            y = y * band
        if self.ssl_model is not None and "ssl" not in (context or {}):
            context = {**(context or {}), "ssl": self.speech_states(y)}
        t = torch.ones(y.shape[0], device=y.device, dtype=y.real.dtype)
        output = self.denoiser(y, t, context) if stream is None else self.denoiser(y, t, context, stream=stream)
        output = y + output if self.config.denoiser_output == "residual" else output
        return output if band is None else output * band

    def score(self, x: Tensor, y: Tensor, y_hat: Tensor, t: Tensor, context: dict | None = None) -> Tensor:
        """The score at x_t given the noisy y and the denoiser's y_hat (the net sees y only with score_condition
        "both")."""
        inputs = [x, y, y_hat] if self.config.score_condition == "both" else [x, y_hat]
        output = self.score_net(torch.cat(inputs, dim=1), t, context)
        form = self.config.score_parametrisation
        if form == "noise":
            return -output / per_item(self.sde.std(t), output)
        if form == "sgmse":
            return -(output / per_item(t, output) + torch.view_as_complex(self.score_bias))
        return output

    def losses(self, clean: Tensor, noisy: Tensor, generator: torch.Generator | None = None,
               text: dict[str, Tensor] | None = None, video: dict[str, Tensor] | None = None,
               teacher: TeacherOutput | None = None, transfer_scale: float = 1.0,
               speech_states: Tensor | None = None) -> dict[str, Tensor]:
        """The joint loss on waveform crops (B, N): omega L_denoiser + (1 - omega) L_score
        [+ transfer_scale alpha L_transfer] [+ kd weight L_kd].

        `text` (from `pipelines.training.text_targets.text_batch`) holds the crops' BERT
        features; without it, or with fusion "none", the transfer term is absent. `video`
        (from `pipelines.video.lip_features.video_context`) holds the crops' lip frames: embeddings, or
        with `lip_finetune` the mouth crops, which the model's own encoder embeds. `teacher`: what a teacher
        made of the same crops (training/distillation.py), the target of L_kd: its enhanced crops, and for tfckd
        the outputs of its layers. `transfer_scale` (0..1): the share of alpha in force, for a transfer weight that
        warms up over the first steps (training/loop.py). `speech_states`: the crops' cached encoder states
        (`--ssl frozen`, from `featurize --ssl`); without them an SSL model runs its encoder on the noisy crops.
        """
        x, frames = pad_frames(self.spec.to_spec(clean), self.frame_multiple)
        y, _ = pad_frames(self.spec.to_spec(noisy), self.frame_multiple)
        if self.config.subband:  # an elite sub-band teacher learns its band alone
            x = x * band_mask(x.shape[-2], *self.config.subband, x.device)
            clean = self.spec.to_wave(crop_frames(x, frames), clean.shape[-1])
        if video is not None and self.lip_encoder is not None:  # mouth crops: the encoder trains too
            crops = normalise_crops(video["video"], self.config.roi_mean, self.config.roi_std)
            video = {**video, "video": self.lip_encoder(crops[:, None])}
        context = {**(video or {}), "transfer_losses": []}
        if speech_states is not None:
            context["ssl"] = speech_states
        if text is not None and self.config.fusion != "none":
            context.update(text)
        if self.feature_distiller is not None:
            context["taps"] = {}
        y_hat = self.denoise(y, context)
        loss_denoiser = denoiser_loss(self.config.loss, y_hat, x, self.spec, frames, clean,
                                      self.config.denoiser_magnitude_weight)
        omega = self.config.omega if self.denoiser is not None else 0.0  # without a denoiser L_denoiser is constant
        losses = {"loss": omega * loss_denoiser, "loss_denoiser": loss_denoiser}
        if teacher is not None:
            losses["loss_kd"] = self._distillation_loss(teacher, y_hat, frames, context)
            losses["loss"] = losses["loss"] + omega * self.config.distillation_weight * losses["loss_kd"]
        if omega < 1.0:  # omega 1 trains the denoiser alone: the score network (if any) is not run at all
            losses["loss_score"] = denoising_score_matching_loss(
                lambda xt, yh, t: self.score(xt, y, yh, t, context), self.sde, x, y_hat.detach(), generator)
            losses["loss"] = losses["loss"] + (1.0 - omega) * losses["loss_score"]
        if context["transfer_losses"]:
            parts = context["transfer_losses"]
            losses["loss_align"] = torch.stack([p["align"] for p in parts]).mean()
            if self.config.fusion == "ot":
                losses["loss_ot"] = torch.stack([p["extra"] for p in parts]).mean()
            transfer = losses["loss_align"] + losses.get("loss_ot", 0.0)
            losses["loss"] = losses["loss"] + transfer_scale * self.config.transfer_weight * transfer
        return losses

    def _distillation_loss(self, teacher: TeacherOutput, y_hat: Tensor, frames: int, context: dict) -> Tensor:
        """L_kd: the student's layers against the teacher's (tfckd), or its output against the teacher's enhanced
        crops (output; subband, whose target is the elite teachers' bands put together)."""
        if self.feature_distiller is not None:
            return self.feature_distiller(context["taps"], teacher.taps)
        target, _ = pad_frames(self.spec.to_spec(teacher.enhanced), self.frame_multiple)
        return denoiser_loss(self.config.loss, y_hat, target, self.spec, frames, teacher.enhanced,
                             self.config.denoiser_magnitude_weight)

    def enhance(self, noisy: Tensor, sampler: str = "pc",
                generator: torch.Generator | list[torch.Generator] | None = None,
                video: dict[str, Tensor] | None = None, **sampler_options: Any) -> tuple[Tensor, int]:
        """Enhance peak-normalised waveforms (B, N) -> (B, N); returns the number of network evaluations.
        `generator`: the stochastic samplers' draws, one for the batch or one per waveform.

        Call under torch.inference_mode(). One denoiser pass, then the sampler's score
        evaluations. `video`: the lip frames of each waveform (av/avl models; optional).
        """
        if self.score_net is None and sampler != "predictive":
            raise BadInput(f"this is a predictive model (backbone {self.config.backbone}, no score network): it "
                           f"enhances with --sampler predictive only, not {sampler}")
        length = noisy.shape[-1]
        y, frames = pad_frames(self.spec.to_spec(noisy), self.frame_multiple)
        y_hat = self.denoise(y, video)
        run = build_sampler(sampler, self.sde, **sampler_options)
        x0, score_evaluations = run(lambda x, yh, t: self.score(x, y, yh, t, video), y_hat, generator)
        return self.spec.to_wave(crop_frames(x0, frames), length), score_evaluations + int(self.denoiser is not None)

    def embed_track(self, track: LipTrack | None) -> LipTrack | None:
        """A recording's lip frames as embeddings: mouth crops through the fine-tuned encoder (`lip_finetune`),
        embeddings as they are. Enhancement embeds each recording once, before it is cut into chunks."""
        if track is None or self.lip_encoder is None:
            return track
        frames = normalise_crops(torch.from_numpy(track.frames), self.config.roi_mean, self.config.roi_std).numpy()
        return LipTrack(embed_frames(self.lip_encoder, frames), track.fps)


def count_parameters(module: nn.Module, inference_only: bool = False) -> int:
    """All parameters, or (inference_only) those an enhancement run loads: no training-only aligners."""
    return sum(p.numel() for name, p in module.named_parameters()
               if not (inference_only and is_training_only(name)))


TRAINING_ONLY_PREFIXES = (ALIGNER_PREFIX, "feature_distiller.")  # state-dict keys export and inference leave out


def is_training_only(parameter_name: str) -> bool:
    return any(f".{prefix}" in f".{parameter_name}" for prefix in TRAINING_ONLY_PREFIXES)


# the parts a model adds on top of its audio backbone (lips, text transfer, a speech encoder): an audio model it was
# initialised from lacks their weights (`train --init-from`, `export --interpolate-with`)
ADDED_BRANCH_PREFIXES = ("level_modules.", "visual_module.", "bottleneck_modules.", "lip_encoder.", "ssl_encoder.")


def is_added_branch(parameter_name: str) -> bool:
    return any(f".{prefix}" in f".{parameter_name}" for prefix in ADDED_BRANCH_PREFIXES)
