"""Frames per second of `featurize --lips` on the GRID sample clips (JSON), for docs/visual.md; not a test.

Runs the real stage (forced, so nothing is cached) on a fresh workdir made from
DATA/grid, once per `--jobs` value, and reports video frames per second for each step
(summed over worker processes, so per worker) and for the whole stage (wall clock).
The machine's load average is recorded because other jobs skew these numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from pathlib import Path

import torch

from pipelines.artifacts import Workdir
from pipelines.data.mixing import parse_snrs
from pipelines.reporting import Reporter
from pipelines.stages.featurize_lips import LipOptions, featurize_lips
from pipelines.stages.prepare import PrepareOptions, prepare


def measure(data: Path, jobs: list[int]) -> dict:
    reporter = Reporter(quiet=True)
    results = []
    with tempfile.TemporaryDirectory() as folder:
        workdir = Workdir(Path(folder) / "w").create()
        prepare(workdir, PrepareOptions(sources=[data / "grid"], noise_dir=data / "noise", snrs=parse_snrs("0,5"),
                                        split_by="file"), reporter)
        for count in jobs:
            load_before = os.getloadavg()[0]
            run = featurize_lips(workdir, LipOptions(jobs=count, force=True), reporter)
            per_step = {step: round(run.frames / seconds, 1) for step, seconds in run.seconds.items()}
            results.append({"jobs": count, "frames": run.frames, "wall_s": round(run.wall_seconds, 2),
                            "stage_fps": round(run.frames / run.wall_seconds, 1), "step_fps_per_worker": per_step,
                            "load_average_before": round(load_before, 2)})
    return {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "runs": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"), help="The shared sample data folder.")
    parser.add_argument("--jobs", default="1,2", help="Worker process counts to try, comma-separated.")
    parser.add_argument("--out", type=Path, default=Path("bench/results/lips.json"))
    args = parser.parse_args()
    result = json.dumps(measure(args.data, [int(j) for j in args.jobs.split(",")]), indent=1)
    print(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(result)


if __name__ == "__main__":
    main()
