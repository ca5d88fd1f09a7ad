"""Quality against network evaluations for each sampler on a prepared split (a benchmark, not a test).

Enhances N utterances of a prepared workdir's split in memory (taken in turn from each speaker,
optionally only the mixtures at given SNRs; its cached waveforms are read, nothing is written
there) with the predictive denoiser alone, PC with and without the ALD corrector and the
probability-flow ODE at several step counts, and, with --t-starts, PC and the ODE started
earlier from the denoiser's estimate; scores PESQ-WB, ESTOI and SI-SDR against the clean
references, and writes bench/results/nfe-quality.json and docs/img/nfe-quality.png.
`--speedups` instead compares fp32, bf16 autocast and torch.compile on one sampler setting
(bench/results/speedups.json). Seconds are wall time, as measured (on a shared machine they
include other jobs' load; the JSON records the load average).

    OMP_NUM_THREADS=1 python -m bench.nfe_quality [--workdir work/q2] [--ckpt CKPT] [--limit 8] [--split test]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from pipelines import __version__
from pipelines.artifacts import Workdir
from pipelines.data.prepared import PreparedSplit
from pipelines.data.manifest import read_manifest
from pipelines.diffusion.sampling import build_sampler
from pipelines.inference import SamplingOptions, enhance_recordings
from pipelines.metrics import intrusive_metrics
from pipelines.speedups import compile_networks
from pipelines.checkpoints import load_for_inference

LABELS = {"predictive": "predictive (denoiser only)", "pc-ald": "PC + ALD corrector", "pc-none": "PC, no corrector",
          "ode": "ODE (Heun)"}
METRICS = ("pesq_wb", "estoi", "si_sdr")


def sweep(steps: list[int], pc_ald_steps: list[int], t_starts: list[float] = ()) -> list[SamplingOptions]:
    """Predictive, the ODE and PC without corrector at `steps`, PC + ALD at `pc_ald_steps`, and PC + ALD and the
    ODE from each earlier start time in `t_starts` at the step counts below 10 (fewer steps, less noise)."""
    earlier = [SamplingOptions(sampler, s, "ald", t_start=t) for t in t_starts for sampler in ("pc", "ode")
               for s in sorted(set(steps + pc_ald_steps)) if s < 10]
    return ([SamplingOptions("predictive", 1)] + [SamplingOptions("ode", s) for s in steps]
            + [SamplingOptions("pc", s, "none") for s in steps] + [SamplingOptions("pc", s, "ald") for s in pc_ald_steps]
            + earlier)


def family(options: SamplingOptions) -> str:
    name = options.sampler if options.sampler != "pc" else f"pc-{options.corrector}"
    return name if options.t_start == 1.0 else f"{name} from t={options.t_start:g}"


def load_split(workdir: Path, limit: int, snrs: list[float] | None = None,
               split: str = "test") -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    """Ids, noisy and clean waveforms of up to `limit` utterances of a split (at the given mixing SNRs), taken in
    turn from each speaker so every held-out voice is in the sample."""
    place = Workdir(workdir)
    by_speaker: dict[str, list[str]] = {}
    for u in read_manifest(place, split):
        if snrs is None or u.snr_db in snrs:
            by_speaker.setdefault(u.speaker, []).append(u.id)
    queues = [ids for _, ids in sorted(by_speaker.items())]
    ids = [queue[k] for k in range(max(map(len, queues), default=0)) for queue in queues if k < len(queue)][:limit]
    with PreparedSplit(place, split) as prepared:
        noisy = [prepared[uid].noisy for uid in ids]
        clean = [prepared[uid].clean for uid in ids]
    return ids, noisy, clean


def scores(clean: list[np.ndarray], estimates: list[np.ndarray]) -> dict:
    """Per-file PESQ-WB, ESTOI and SI-SDR, and their means and standard deviations."""
    rows = [intrusive_metrics(c.astype(np.float64), e.astype(np.float64)) for c, e in zip(clean, estimates)]
    result = {}
    for name in METRICS:
        values = [r[name] for r in rows]
        result.update({f"{name}_mean": float(np.mean(values)), f"{name}_std": float(np.std(values)), name: values})
    return result


def measure(model, noisy: list[np.ndarray], clean: list[np.ndarray], options: SamplingOptions, batch_size: int,
            precision: str = "fp32", variant: str = "fp32") -> dict:
    """Enhance and score one setting; evaluations are per utterance (score network + 1 denoiser pass)."""
    start = time.perf_counter()
    enhanced, _ = enhance_recordings(model, noisy, options, batch_size=batch_size, precision=precision)
    seconds = time.perf_counter() - start
    evaluations = build_sampler(options.sampler, model.sde, **options.sampler_kwargs()).evaluations + 1
    row = {"variant": variant, "setting": options.tag, "sampler": family(options),
           "steps": options.steps if options.sampler != "predictive" else 0,
           "evaluations": evaluations, "seconds": seconds, "load_average": os.getloadavg()[0],
           **scores(clean, enhanced)}
    print(json.dumps({k: v for k, v in row.items() if k not in METRICS}), flush=True)
    return row


def plot(rows: list[dict], noisy: dict, png: Path, title: str) -> None:
    """PESQ-WB, ESTOI and SI-SDR against network evaluations (log x), one line per sampler, noisy input dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    panels = zip(axes, ("pesq_wb_mean", "estoi_mean", "si_sdr_mean"), ("PESQ-WB", "ESTOI", "SI-SDR (dB)"))
    families = list(dict.fromkeys(r["sampler"] for r in rows))
    for axis, metric, label in panels:
        for name in families:
            points = sorted((r["evaluations"], r[metric]) for r in rows if r["sampler"] == name)
            if points:
                axis.plot(*zip(*points), marker="o", label=LABELS.get(name, name))
        axis.axhline(noisy[metric], color="grey", linestyle="--", label="noisy input")
        axis.set_xscale("log")
        axis.set_xlabel("network evaluations per utterance (denoiser + score network)")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=8)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(png, dpi=110)
    plt.close(figure)


def speedups(model_path: Path, noisy: list[np.ndarray], clean: list[np.ndarray], options: SamplingOptions,
             batch_size: int) -> list[dict]:
    """fp32, bf16 autocast and torch.compile on one setting; compile is timed cold (compiling) and warm."""
    model = load_for_inference(model_path, torch.device("cpu"))
    rows = [measure(model, noisy, clean, options, batch_size),
            measure(model, noisy, clean, options, batch_size, "bf16", "bf16")]
    compile_networks(model, print)
    for variant in ("compile, first run (compiling)", "compile, second run"):
        rows.append(measure(model, noisy, clean, options, batch_size, variant=variant))
    return rows


def parse_floats(text: str | None) -> list[float] | None:
    return [float(v) for v in text.split(",") if v.strip()] if text else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("work/q2"))
    parser.add_argument("--ckpt", type=Path, default=None, help="default: WORKDIR/train/a-small-seed0/last.ckpt")
    parser.add_argument("--limit", type=int, default=8, help="N test utterances, taken in turn from each speaker")
    parser.add_argument("--split", default="test", help="the prepared split (valid: for choosing a setting)")
    parser.add_argument("--snr", default=None, help="only mixtures at these SNRs (e.g. 0,5)")
    parser.add_argument("--t-starts", default="", help="also PC + ALD and the ODE from these start times (e.g. 0.5)")
    parser.add_argument("--steps", default="2,5,10,20", help="steps of the ODE and of PC without corrector")
    parser.add_argument("--pc-ald-steps", default="2,5,10", help="steps of PC with the ALD corrector")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--speedups", action="store_true", help="compare fp32, bf16 and compile instead")
    parser.add_argument("--speedups-setting", default="ode:5", help="SAMPLER:STEPS for --speedups")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--png", type=Path, default=Path("docs/img/nfe-quality.png"))
    args = parser.parse_args()
    checkpoint = args.ckpt or args.workdir / "train" / "a-small-seed0" / "last.ckpt"
    ids, noisy, clean = load_split(args.workdir, args.limit, parse_floats(args.snr), args.split)
    header = {"cmkt_version": __version__, "torch": torch.__version__, "threads": torch.get_num_threads(),
              "date": time.strftime("%Y-%m-%d %H:%M:%S"), "checkpoint": str(checkpoint), "workdir": str(args.workdir),
              "split": args.split, "snr": args.snr,
              "utterances": ids, "audio_seconds": sum(len(n) for n in noisy) / 16_000}
    if args.speedups:
        sampler, steps = args.speedups_setting.split(":")
        rows = speedups(checkpoint, noisy, clean, SamplingOptions(sampler, int(steps)), args.batch_size)
        out = args.out or Path("bench/results/speedups.json")
    else:
        model = load_for_inference(checkpoint, torch.device("cpu"))
        settings = sweep([int(s) for s in args.steps.split(",")], [int(s) for s in args.pc_ald_steps.split(",")],
                         parse_floats(args.t_starts) or [])
        rows = [measure(model, noisy, clean, options, args.batch_size) for options in settings]
        header["noisy"] = scores(clean, noisy)
        out = args.out or Path("bench/results/nfe-quality.json")
        plot(rows, header["noisy"], args.png, f"{checkpoint} on {len(ids)} {args.split} utterances of "
                                             f"{args.workdir} ({header['audio_seconds']:.0f} s)")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**header, "results": rows}, indent=1))
    print(f"wrote {out}" + ("" if args.speedups else f" and {args.png}"))


if __name__ == "__main__":
    main()
