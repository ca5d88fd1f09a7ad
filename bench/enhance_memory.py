"""Peak memory (RSS) and wall time of `cmkt enhance FILE -o DIR` (the default model, or `--model NAME`; no
workdir), from a 1 s file to an hour.

    python -m bench.enhance_memory --minutes 1,10,60 --out bench/results/enhance-memory.json
    python -m bench.enhance_memory --model cmkt-gtcrn-debian --out bench/results/enhance-memory-causal.json

Each file is real speech mixed with real noise (../shared/data: the sample clips, repeated), written as 16 kHz
16-bit PCM; each run is a fresh process, measured with wait4 (its own peak RSS). A 1 s file is enhanced twice and
the second run is reported: a warm start (files and libraries in the page cache), what a user waits for. Targets
(issues 21 and 22): at most 400 MB for 10 minutes and for an hour; at most 2.5 s for the warm 1 s file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("CMKT_SHARED_DATA", ROOT.parent / "shared" / "data"))
TARGET_MB = 400
TARGET_WARM_SECONDS = 2.5


def long_recording(path: Path, minutes: float) -> Path:
    """Speech clips and noise of the shared data, repeated to `minutes`, mixed at about 5 dB, written in blocks."""
    speech = np.concatenate([sf.read(p, dtype="float32")[0] for p in sorted((DATA / "speech_en").glob("*.wav"))])
    noise = np.concatenate([sf.read(p, dtype="float32")[0] for p in sorted((DATA / "noise").glob("*.wav"))])
    total, block = int(minutes * 60 * 16_000), 16_000 * 60
    with sf.SoundFile(path, "w", 16_000, 1, "PCM_16") as out:
        for first in range(0, total, block):
            index = np.arange(first, min(first + block, total))
            clean, hum = speech[index % len(speech)], noise[index % len(noise)]
            gain = np.sqrt(np.mean(clean ** 2) / max(np.mean(hum ** 2), 1e-12) / 10 ** 0.5)
            out.write(np.clip(0.5 * (clean + gain * hum), -1, 1))
    return path


def measure(path: Path, out_dir: Path, model: list[str]) -> dict:
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "cmkt_cli.main", "enhance", str(path), "-o", str(out_dir),
                                "--force", "-q", *model], cwd=ROOT)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"cmkt enhance failed on {path} (status {status})")
    return {"peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "wall_seconds": round(seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", default="1,10,60")
    parser.add_argument("--model", help="a bundled model's name or a model file (default: the default model)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    model = ["--model", args.model] if args.model else []
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        short = long_recording(Path(scratch) / "noisy-1s.wav", 1 / 60)
        measure(short, Path(scratch) / "out", model)  # the cold start, not reported
        warm = measure(short, Path(scratch) / "out", model)
        print(f"1 s file, warm: {warm['wall_seconds']} s, peak RSS {warm['peak_rss_mb']} MB", flush=True)
        for minutes in (float(m) for m in args.minutes.split(",")):
            path = long_recording(Path(scratch) / f"noisy-{minutes:g}min.wav", minutes)
            row = {"minutes": minutes, **measure(path, Path(scratch) / "out", model)}
            row["within_target"] = row["peak_rss_mb"] <= TARGET_MB
            rows.append(row)
            print(f"{minutes:g} min: peak RSS {row['peak_rss_mb']} MB, {row['wall_seconds']} s", flush=True)
            path.unlink()
    args.out.write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M:%S"), "model": args.model or "default",
                                    "target_mb": TARGET_MB,
                                    "target_warm_seconds": TARGET_WARM_SECONDS, "load_average": os.getloadavg()[0],
                                    "warm_1s_file": {**warm, "within_target": warm["wall_seconds"] <= TARGET_WARM_SECONDS},
                                    "rows": rows}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
