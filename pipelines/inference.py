"""Enhancing whole recordings of any length with bounded memory.

Each recording is scaled by its peak (as in training; models whose front end keeps the level
are fed it as it is), cut into overlapping chunks of at most `chunk_seconds`, and the chunks of
several recordings are enhanced together in batches of equal-length chunks only: padding a shorter
chunk would change what the network hears at its end, so a file's output would depend on which files
shared its batch. Outputs are overlap-added with linear cross-fades and scaled back. With an attenuation
limit, a share of the noisy input is mixed back into each output. A long file goes through
`enhance_long_recording`, which reads, enhances and yields it block by block with the same chunks, so
its memory depends on the chunk and batch sizes, not on its length. (Causal models skip the chunking:
pipelines/enhancing.py enhances each of their recordings whole, block by block.)
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Callable, Iterable, Iterator

import numpy as np
import torch

from pipelines.diffusion.sampling import CORRECTORS, SAMPLERS, STEP_RULES
from pipelines.enhancer import SpeechEnhancer
from pipelines.errors import BadInput, check_choice
from pipelines.speedups import autocast
from pipelines.video.lip_track import LipTrack, video_context


STEP_RULE_TAGS = {"t_eps": "teps", "1/N": "invN"}  # in output folder names: no '/'
# chunks enhanced together (outputs do not depend on it): on 2 CPU cores 4 were 3 % faster than 2 and held 65 MB
# more for the default model (docs/performance.md)
BATCH_SIZE = 2


@dataclass(frozen=True)
class SamplingOptions:
    # "pc" (predictor-corrector reverse diffusion), "ode" (probability-flow ODE, deterministic) or
    # "predictive" (denoiser only); `corrector` and `snr` are PC's
    sampler: str = "pc"
    steps: int = 30
    corrector: str = "ald"
    snr: float = 0.5
    t_start: float = 1.0  # pc and ode: the reverse process starts at this time (1 = T) from the denoiser's estimate
    # pc: the predictor's step sizes (diffusion/sampling.py STEP_RULES; "t_eps" SGMSE, "1/N" StoRM); None: the
    # model card's (pipelines/stages/enhance.py), "grid" without one
    step_rule: str | None = "grid"
    # dB: noise is attenuated by at most this much, by mixing the noisy input back (DeepFilterNet's attenuation
    # limit): output = enhanced + 10^(-dB/20) (noisy - enhanced). It keeps weak speech an over-suppressing model
    # would remove. inf: no limit; None: the model card's (no limit without one).
    attenuation_limit: float | None = None

    def __post_init__(self) -> None:
        """Checked once, here, against the sampler registry: a bad choice is one line and exit 2 wherever it comes
        from (an option, a model card)."""
        check_choice("--sampler", self.sampler, SAMPLERS.names())
        check_choice("--corrector", self.corrector, CORRECTORS)
        if self.step_rule is not None:
            check_choice("--step-rule", self.step_rule, STEP_RULES)
        if self.attenuation_limit is not None and not self.attenuation_limit >= 0:
            raise BadInput(f"--attenuation-limit must be at least 0 dB (inf: no limit), got {self.attenuation_limit}")

    @property
    def noisy_share(self) -> float:
        """The share of the noisy input mixed back into the output (0 without an attenuation limit)."""
        if self.attenuation_limit is None or math.isinf(self.attenuation_limit):
            return 0.0
        return 10.0 ** (-self.attenuation_limit / 20.0)

    def sampler_kwargs(self) -> dict:
        if self.sampler == "pc":
            return {"num_steps": self.steps, "corrector": self.corrector, "snr": self.snr, "t_start": self.t_start,
                    "step_rule": self.step_rule}
        if self.sampler == "ode":
            return {"num_steps": self.steps, "t_start": self.t_start}
        return {}

    @property
    def tag(self) -> str:
        """A short name for outputs: 'pc30ald', 'ode10', 'pc5ald-t0.5', 'predictive', 'predictive-lim12dB'."""
        limit = f"-lim{self.attenuation_limit:g}dB" if self.noisy_share else ""
        if self.sampler == "predictive":
            return self.sampler + limit
        start = "" if self.t_start == 1.0 else f"-t{self.t_start:g}"
        rule = "" if self.sampler != "pc" or self.step_rule == "grid" else f"-{STEP_RULE_TAGS[self.step_rule]}"
        name = f"pc{self.steps}{self.corrector}" if self.sampler == "pc" else f"ode{self.steps}"
        return name + start + rule + limit

    def to_dict(self) -> dict:
        """The cache key's part; t_start, step_rule and attenuation_limit only when not the defaults, so outputs
        cached before they existed stay valid (and a JSON card never holds inf)."""
        values = asdict(self)
        if self.t_start == 1.0:
            del values["t_start"]
        if self.step_rule == "grid":
            del values["step_rule"]
        if not self.noisy_share:
            del values["attenuation_limit"]
        return values

    @classmethod
    def from_dict(cls, values: dict) -> "SamplingOptions":
        return cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Chunk:
    recording: int
    start: int
    stop: int


def plan_chunks(lengths: list[int], chunk: int, overlap: int) -> list[Chunk]:
    """Chunks of at most `chunk` samples, consecutive ones overlapping by `overlap`."""
    hop = chunk - overlap
    chunks = []
    for index, length in enumerate(lengths):
        if length <= chunk:
            chunks.append(Chunk(index, 0, length))
            continue
        starts = list(range(0, length - overlap, hop))
        if starts[-1] + chunk < length:
            starts.append(length - chunk)
        chunks += [Chunk(index, s, min(s + chunk, length)) for s in starts]
    return chunks


def enhance_recordings(model: SpeechEnhancer, recordings: list[np.ndarray], options: SamplingOptions,
                       batch_size: int = BATCH_SIZE, chunk_seconds: float = 8.0, overlap_seconds: float = 0.5,
                       sample_rate: int = 16_000, seed: int = 0,
                       on_batch: Callable[[int], None] | None = None,
                       lips: list[LipTrack | None] | None = None,
                       precision: str = "fp32") -> tuple[list[np.ndarray], int]:
    """Enhance float32 recordings (16 kHz mono, non-silent); returns outputs and the network evaluations used.

    `lips`: each recording's lip embeddings, for av/avl models (each chunk gets the frames
    inside it); None, or None for a recording, enhances it without video. `precision`:
    "bf16" runs the networks under bf16 autocast (pipelines/speedups.py).
    """
    chunk, overlap = _chunk_sizes(chunk_seconds, overlap_seconds, sample_rate)
    scales = [_scale(model, float(np.max(np.abs(r)))) for r in recordings]
    chunks = plan_chunks([len(r) for r in recordings], chunk, overlap)
    # whole-length buffers in float32, normalised in place: 4 bytes a sample each, like the input
    outputs = [np.zeros(len(r), dtype=np.float32) for r in recordings]
    weights = [np.zeros(len(r), dtype=np.float32) for r in recordings]
    evaluations = 0
    for batch in _batches(chunks, batch_size):
        pieces = [recordings[c.recording][c.start:c.stop] for c in batch]
        video = None
        if model.config.uses_video and lips is not None:
            video = video_context([lips[c.recording] for c in batch],
                                  [(c.start / sample_rate, (c.stop - c.start) / sample_rate) for c in batch],
                                  (model.config.visual_dim,))
        enhanced, nfe = _enhance_pieces(model, pieces, [scales[c.recording] for c in batch], options, seed, video,
                                        precision)
        evaluations += nfe
        for row, c in enumerate(batch):
            fade = _fade(c, len(recordings[c.recording]), overlap)
            outputs[c.recording][c.start:c.stop] += fade * enhanced[row]
            weights[c.recording][c.start:c.stop] += fade
        if on_batch is not None:
            on_batch(len(batch))
    for output, weight, scale, recording in zip(outputs, weights, scales, recordings):
        _finish(output, weight, scale, recording, options.noisy_share)
    return outputs, evaluations


def enhance_long_recording(model: SpeechEnhancer, blocks: Iterable[np.ndarray], length: int, peak: float,
                           options: SamplingOptions, batch_size: int = BATCH_SIZE, chunk_seconds: float = 8.0,
                           overlap_seconds: float = 0.5, sample_rate: int = 16_000, seed: int = 0,
                           precision: str = "fp32") -> Iterator[np.ndarray]:
    """One non-silent recording of `length` samples and peak `peak`, read as `blocks`: the output
    `enhance_recordings` gives for it whole, yielded as each part of it is final. Memory is bounded by a batch of
    chunks, not by the recording, so hours of audio enhance in the memory a minute takes."""
    chunk, overlap = _chunk_sizes(chunk_seconds, overlap_seconds, sample_rate)
    scale = _scale(model, peak)
    blocks = iter(blocks)
    noisy = np.zeros(0, dtype=np.float32)  # the input from sample `done` on
    output = np.zeros(0, dtype=np.float32)  # the overlap-added output from `done` on, and its fade weights
    weight = np.zeros(0, dtype=np.float32)
    done = 0  # every output sample before it is final and was yielded
    batches = list(_batches(plan_chunks([length], chunk, overlap), batch_size))  # one recording: in time order
    for number, batch in enumerate(batches):
        while done + len(noisy) < batch[-1].stop:
            block = next(blocks, None)
            if block is None:
                raise BadInput(f"the recording ended after {done + len(noisy)} of the {length} samples it declared")
            noisy = np.concatenate([noisy, block])
        enhanced, _ = _enhance_pieces(model, [noisy[c.start - done:c.stop - done] for c in batch],
                                      [scale] * len(batch), options, seed, None, precision)
        grow = batch[-1].stop - done - len(output)
        output, weight = np.pad(output, (0, grow)), np.pad(weight, (0, grow))
        for row, c in enumerate(batch):
            fade = _fade(c, length, overlap)
            output[c.start - done:c.stop - done] += fade * enhanced[row]
            weight[c.start - done:c.stop - done] += fade
        final = batches[number + 1][0].start - done if number + 1 < len(batches) else length - done
        yield _finish(output[:final], weight[:final], scale, noisy[:final], options.noisy_share)
        noisy, output, weight, done = noisy[final:], output[final:], weight[final:], done + final


def _chunk_sizes(chunk_seconds: float, overlap_seconds: float, sample_rate: int) -> tuple[int, int]:
    chunk = max(int(chunk_seconds * sample_rate), 1)
    return chunk, min(int(overlap_seconds * sample_rate), chunk // 2)


def _scale(model: SpeechEnhancer, peak: float) -> float:
    """What a recording of peak `peak` is divided by before the network hears it: the peak for peak-normalised
    models, nothing for the others."""
    return peak if model.config.normalisation == "peak" else 1.0


def _enhance_pieces(model: SpeechEnhancer, pieces: list[np.ndarray], scales: list[float], options: SamplingOptions,
                    seed: int, video: dict | None, precision: str) -> tuple[np.ndarray, int]:
    """One batch of equal-length chunks through the networks: their (scaled) outputs and the evaluations used."""
    device = next(model.parameters()).device
    noisy = torch.stack([torch.from_numpy(piece) / scale for piece, scale in zip(pieces, scales)])
    generator = [chunk_generator(piece, seed, device) for piece in pieces]
    if video is not None:
        video = {name: value.to(device) for name, value in video.items()}
    with torch.inference_mode(), autocast(device, precision):
        enhanced, nfe = model.enhance(noisy.to(device), options.sampler, generator, video, **options.sampler_kwargs())
    return enhanced.float().cpu().numpy(), nfe


def _finish(output: np.ndarray, weight: np.ndarray, scale: float, noisy: np.ndarray, share: float) -> np.ndarray:
    """Overlap-added chunks made final, in place: divided by their fade weights, scaled back, the attenuation
    limit's share of the noisy input mixed back."""
    output /= np.maximum(weight, 1e-8, out=weight)
    output *= scale
    if share:
        mix_noisy_back(output, noisy, share)
    return output


def chunk_generator(samples: np.ndarray, seed: int, device: torch.device) -> torch.Generator:
    """The random draws of a stochastic sampler for one chunk, seeded by `seed` and the chunk's samples: the same
    input gives the same output whatever its batch, its position in it, or the order of the files."""
    digest = hashlib.blake2b(np.ascontiguousarray(samples).tobytes(), digest_size=8, key=str(seed).encode())
    return torch.Generator(device=device).manual_seed(int.from_bytes(digest.digest(), "little") >> 1)


def mix_noisy_back(enhanced: np.ndarray, noisy: np.ndarray, share: float) -> np.ndarray:
    """The attenuation limit, in place: enhanced + share (noisy - enhanced) (`SamplingOptions.noisy_share`)."""
    enhanced += share * (noisy - enhanced)
    return enhanced


def _batches(chunks: list[Chunk], batch_size: int) -> Iterator[list[Chunk]]:
    """Batches of chunks of one length, longest first: no padding, so no chunk's output depends on another's.
    Long recordings are cut into full-length chunks, which batch together; a file shorter than a chunk is
    enhanced alone unless another has its exact length."""
    by_length: dict[int, list[Chunk]] = defaultdict(list)
    for c in chunks:
        by_length[c.stop - c.start].append(c)
    for length in sorted(by_length, reverse=True):
        group = by_length[length]
        for first in range(0, len(group), batch_size):
            yield group[first:first + batch_size]


def _fade(c: Chunk, total: int, overlap: int) -> np.ndarray:
    """Linear ramps over the parts shared with the neighbouring chunks; 1 elsewhere."""
    fade = np.ones(c.stop - c.start, dtype=np.float32)
    if overlap > 0:
        ramp = np.linspace(0.0, 1.0, overlap + 2, dtype=np.float32)[1:-1]
        if c.start > 0:
            fade[:overlap] = ramp
        if c.stop < total:
            fade[-overlap:] = ramp[::-1]
    return fade
