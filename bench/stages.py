"""Throughput and peak memory of each data stage on the sample corpus (JSON), for docs/performance.md; not a test.

Runs the real CLI, one process per stage on a fresh workdir, in pipeline order: `prepare`
(every sample speech clip mixed once with the sample noises), `transcribe` (Whisper, the
offline default; no transcripts are given, so every clip is heard), `featurize --text`,
`featurize --lips` (the GRID clips' videos) and `score` (the noisy mixtures scored against
their clean references). Each figure is seconds of audio (or video frames) per wall second
and the stage process's own peak RSS (`os.wait4`). Training and enhancement are in
bench/speed.py. The load average is recorded because other jobs skew these numbers.

    python -m bench.stages [--data ../shared/data] [--out bench/results/stages.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf

from pipelines import __version__
from pipelines.artifacts import Workdir, open_artifact
from pipelines.audio_io import SAMPLE_RATE
from pipelines.data.prepared import PreparedSplit
from pipelines.data.manifest import read_manifest

SPEECH = ("speech_en", "speech_zh", "synthetic", "grid")


def run_stage(args: list[str]) -> dict:
    """One `cmkt` command in its own process: wall seconds and that process's peak memory."""
    started = time.perf_counter()
    load = os.getloadavg()[0]
    process = subprocess.Popen([sys.executable, "-m", "cmkt_cli.main", *map(str, args), "-q"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"cmkt {' '.join(map(str, args))} failed:\n{output}")
    return {"command": "cmkt " + " ".join(map(str, args)), "wall_s": round(seconds, 2),
            "peak_rss_gib": round(usage.ru_maxrss / 2**20, 3), "load_average_before": round(load, 2)}


def audio_seconds(workdir: Workdir) -> float:
    """Seconds of noisy audio in the prepared workdir (every split)."""
    total = 0.0
    for split in sorted({u.split for u in read_manifest(workdir)}):
        with PreparedSplit(workdir, split) as prepared:
            total += sum(entry.seconds for entry in prepared)
    return total


def write_pairs(workdir: Workdir, folder: Path) -> None:
    """clean/ID.wav and noisy/ID.wav of every prepared utterance, for `cmkt score` on folders."""
    for kind in ("clean", "noisy"):
        (folder / kind).mkdir(parents=True, exist_ok=True)
    for split in sorted({u.split for u in read_manifest(workdir)}):
        with PreparedSplit(workdir, split) as prepared:
            for entry in prepared:
                sf.write(folder / "clean" / f"{entry.uid}.wav", entry.clean, SAMPLE_RATE)
                sf.write(folder / "noisy" / f"{entry.uid}.wav", entry.noisy, SAMPLE_RATE)


def video_frames(workdir: Workdir) -> int:
    total = 0
    for split in sorted({u.split for u in read_manifest(workdir)}):
        with open_artifact(workdir, "lips", split) as lips:
            total += sum(group["rois"].shape[0] for group in lips.values())
    return total


def measure(data: Path) -> list[dict]:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        w = root / "w"
        rows = [{"stage": "prepare", **run_stage(["prepare", *(data / s for s in SPEECH), "--noise", data / "noise",
                                                  "--snr", "0,5,10", "--mixes-per-file", "1", "--seed", "0",
                                                  "-w", w])}]
        workdir = Workdir(w)
        seconds = audio_seconds(workdir)
        rows.append({"stage": "transcribe", **run_stage(["transcribe", "-w", w])})
        rows.append({"stage": "featurize --text", **run_stage(["featurize", "--text", "-w", w])})
        rows.append({"stage": "featurize --lips", **run_stage(["featurize", "--lips", "-w", w])})
        frames = video_frames(workdir)
        write_pairs(workdir, root / "pairs")
        rows.append({"stage": "score", **run_stage(["score", "--clean", root / "pairs" / "clean", "--enhanced",
                                                    root / "pairs" / "noisy", "--out", root / "scores", "-w", w])})
    for row in rows:
        if row["stage"] == "featurize --lips":
            row.update(video_frames=frames, frames_per_s=round(frames / row["wall_s"], 1))
        else:
            row.update(audio_s=round(seconds, 1), audio_s_per_s=round(seconds / row["wall_s"], 2))
        print(json.dumps(row), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("bench/results/stages.json"))
    args = parser.parse_args()
    rows = measure(args.data.resolve())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"cmkt_version": __version__, "machine": platform.processor() or platform.machine(),
                                    "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M:%S"),
                                    "results": rows}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
