"""Speed and memory of the audio model on this machine: `make bench` (JSON), not a test.

Each measurement runs in its own process so its peak memory (ru_maxrss) is its own.
Figures: seconds per network evaluation (score network, batch 1, 256 x 256) for each
preset and memory format, seconds to enhance a 3-second utterance with the full sampler
(30 PC steps = 60 score evaluations + 1 denoiser pass), training steps per second, and
enhancement time and peak memory against input length (chunked inference); `--only
throughput`: seconds of audio trained on per second for each backbone preset, against the
time the data side of a step takes.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import resource
import statistics
import time
from pathlib import Path

import torch

from pipelines import __version__

THREADS = 2


def _timed(fn, repeats: int) -> list[float]:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def forward(preset: str, channels_last: bool, repeats: int) -> dict:
    from pipelines.models import NCSNpp

    net = NCSNpp(in_complex=2, preset=preset).eval()
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    x = torch.randn(1, 2, 256, 256, dtype=torch.cfloat)
    t = torch.ones(1)
    with torch.inference_mode():
        times = _timed(lambda: net(x, t), repeats)
    return {"median_s": statistics.median(times), "times_s": times}


def _config(preset: str, fusion: str):
    """A model config; fusions get the default text model's sizes (all-MiniLM-L6-v2: d_s 384, 30,522 tokens)."""
    from pipelines.enhancer import EnhancerConfig

    text = {"text_dim": 384, "text_vocab_size": 30_522} if fusion != "none" else {}
    return EnhancerConfig(preset=preset, fusion=fusion, **text)


def enhance_utterance(preset: str, seconds: float, steps: int, sampler: str, fusion: str = "none") -> dict:
    from pipelines.enhancer import SpeechEnhancer
    from pipelines.inference import SamplingOptions, enhance_recordings
    from pipelines.checkpoints import ready_for_inference  # as `enhance` loads a checkpoint

    model = ready_for_inference(SpeechEnhancer(_config(preset, fusion), training_parts=False), torch.device("cpu"))
    noisy = (0.1 * torch.randn(int(seconds * 16_000))).numpy()
    options = SamplingOptions(sampler=sampler, steps=steps)
    start = time.perf_counter()
    _, evaluations = enhance_recordings(model, [noisy], options, batch_size=1, chunk_seconds=8.0)
    elapsed = time.perf_counter() - start
    return {"elapsed_s": elapsed, "batched_network_passes": evaluations, "real_time_factor": elapsed / seconds}


def train_steps(preset: str, batch_size: int, crop_frames: int, steps: int, fusion: str = "none") -> dict:
    from pipelines.enhancer import SpeechEnhancer

    model = SpeechEnhancer(_config(preset, fusion)).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    samples = (crop_frames - 1) * model.config.hop_length
    clean = 0.1 * torch.randn(batch_size, samples)
    noisy = clean + 0.05 * torch.randn(batch_size, samples)
    tokens = 12  # about one second of speech
    text = None if fusion == "none" else {
        "text": torch.randn(batch_size, tokens, 384), "text_ids": torch.randint(0, 30_522, (batch_size, tokens)),
        "text_mask": torch.ones(batch_size, tokens, dtype=torch.bool), "has_text": torch.ones(batch_size, dtype=torch.bool)}

    def step():
        optimizer.zero_grad(set_to_none=True)
        model.losses(clean, noisy, text=text)["loss"].backward()
        optimizer.step()

    times = _timed(step, steps)
    audio_seconds = batch_size * samples / 16_000
    return {"median_s_per_step": statistics.median(times), "steps_per_s": 1.0 / statistics.median(times),
            "audio_s_per_step": audio_seconds, "audio_s_per_s": audio_seconds / statistics.median(times)}


def training_data(workdir: str, preset: str, batch_size: int, crop_frames: int, augment: str, steps: int) -> dict:
    """What the trainer spends per step on its data: random crops of a prepared split plus augmentation."""
    import tempfile

    from pipelines.artifacts import Workdir
    from pipelines.enhancer import EnhancerConfig
    from pipelines.training.augment import AugmentOptions, Augmenter
    from pipelines.training.data import WaveformPairs, random_crops

    config = EnhancerConfig(preset=preset)
    pairs = WaveformPairs(Workdir(Path(workdir)), "train")
    generator = torch.Generator().manual_seed(0)
    samples = (crop_frames - 1) * config.hop_length
    with tempfile.TemporaryDirectory() as folder:
        augmenter = Augmenter(AugmentOptions.parse(augment), Path(folder), 0)

        def step():
            order = torch.randperm(len(pairs), generator=generator)[:batch_size].tolist()
            clean, noisy, _ = random_crops(pairs, order, samples, generator, config.normalisation == "peak")
            augmenter(clean, noisy, generator)

        times = _timed(step, steps)
    return {"median_s_per_step": statistics.median(times)}


MEASUREMENTS = {
    "forward": forward,
    "enhance_utterance": enhance_utterance,
    "train_steps": train_steps,
    "training_data": training_data,
}


def _child(name: str, kwargs: dict, queue) -> None:
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    result = MEASUREMENTS[name](**kwargs)
    result["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    queue.put(result)


def measure(name: str, **kwargs) -> dict:
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(name, kwargs, queue))
    process.start()
    result = queue.get()
    process.join()
    print(json.dumps({"measurement": name, **kwargs, **{k: v for k, v in result.items() if k != "times_s"}}),
          flush=True)
    return {"measurement": name, "options": kwargs, **result}


def fusion_comparison() -> list[tuple[str, dict]]:
    """What knowledge transfer costs: inference with its adapters, and training with each aligner."""
    runs = [("enhance_utterance", {"preset": "small", "seconds": 3.0, "steps": 10, "sampler": "pc", "fusion": f})
            for f in ("none", "ot")]
    return runs + [("train_steps", {"preset": "small", "batch_size": 4, "crop_frames": 128, "steps": 3, "fusion": f})
                   for f in ("none", "ot", "mhca")]


def length_scaling(lengths: list[float]) -> list[tuple[str, dict]]:
    """Enhancement time and peak memory against input length (predictive: the chunking's own cost)."""
    return [("enhance_utterance", {"preset": "small", "seconds": s, "steps": 1, "sampler": "predictive"})
            for s in lengths]


def plan(quick: bool) -> list[tuple[str, dict]]:
    runs = fusion_comparison() + [
        ("forward", {"preset": "small", "channels_last": False, "repeats": 5}),
        ("forward", {"preset": "small", "channels_last": True, "repeats": 5}),
        ("forward", {"preset": "paper", "channels_last": False, "repeats": 1 if quick else 3}),
        ("forward", {"preset": "paper", "channels_last": True, "repeats": 1 if quick else 3}),
        ("enhance_utterance", {"preset": "small", "seconds": 3.0, "steps": 30, "sampler": "pc"}),
        ("enhance_utterance", {"preset": "small", "seconds": 3.0, "steps": 1, "sampler": "predictive"}),
        ("train_steps", {"preset": "small", "batch_size": 4, "crop_frames": 256, "steps": 3}),
    ]
    runs += length_scaling([10.0, 60.0] if quick else [10.0, 60.0, 600.0])
    runs.append(("train_steps", {"preset": "paper", "batch_size": 1, "crop_frames": 256, "steps": 1}))
    if not quick:
        runs += paper_enhancement()
    return runs


def paper_enhancement() -> list[tuple[str, dict]]:
    """The paper preset and sampler on a 3-second utterance: the figure the SGMSE reference is quoted for."""
    return [("enhance_utterance", {"preset": "paper", "seconds": 3.0, "steps": 30, "sampler": "pc"})]


def training_throughput(workdir: str = "work/default") -> list[tuple[str, dict]]:
    """Seconds of audio trained on per second, each backbone preset on 2 s crops (NCSN++ small on its own 2 s
    crops), and the data side of a step (crops + every augmentation) on a prepared workdir."""
    runs = [("train_steps", {"preset": preset, "batch_size": 16, "crop_frames": 126, "steps": 5})
            for preset in ("gtcrn", "crn-m", "crn-l")]
    runs.append(("train_steps", {"preset": "small", "batch_size": 8, "crop_frames": 250, "steps": 3}))
    runs.append(("training_data", {"workdir": workdir, "preset": "gtcrn", "batch_size": 16, "crop_frames": 126,
                                   "augment": "remix,reverb,bandlimit,gain", "steps": 20}))
    return runs


SUBSETS = {"fusion": fusion_comparison, "throughput": training_throughput, "lengths": lambda: length_scaling([3.0, 10.0, 60.0, 600.0]),
           "paper-enhance": paper_enhancement}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/speed.json"))
    parser.add_argument("--quick", action="store_true",
                        help="skip the 10-minute input and the paper-preset 3-second enhancement (~8 min on 2 cores)")
    parser.add_argument("--only", choices=sorted(SUBSETS), default=None,
                        help="one group: fusion (none vs ot vs mhca, ~3 min), lengths (3 s to 600 s, ~3 min), "
                             "throughput (training audio per second of each preset, and the data side; needs "
                             "work/default, ~3 min) or paper-enhance (the paper preset's 3-second enhancement, ~8 min)")
    args = parser.parse_args()
    runs = SUBSETS[args.only]() if args.only else plan(args.quick)
    results = [measure(name, **kwargs) for name, kwargs in runs]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "cmkt_version": __version__,
        "torch": torch.__version__,
        "threads": THREADS,
        "machine": platform.processor() or platform.machine(),
        "cpus": mp.cpu_count(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "results": results,
    }, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
