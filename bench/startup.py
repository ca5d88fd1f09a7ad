"""CLI start-up cost: CPU seconds of `cmkt --help`, `cmkt enhance --help` and a usage error, each in a fresh process.

CPU time (user + system of the child, from `resource`) rather than wall time, so a busy machine does not inflate it;
the median of a few runs. Also which heavy modules the bare import of the CLI loads.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

COMMANDS = {"help": ["--help"], "enhance_help": ["enhance", "--help"], "usage_error": ["no-such-stage"]}
HEAVY = ("torch", "h5py", "scipy", "pystoi", "pesq")


def cpu_seconds(args: list[str]) -> float:
    """User + system CPU time of one `python -m cmkt_cli.main ARGS` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-m", "cmkt_cli.main", *args], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False, env=os.environ)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def heavy_modules() -> list[str]:
    probe = f"import sys, cmkt_cli.main; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return out.split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("bench/results/startup.json"))
    args = parser.parse_args()
    result = {name: {"median_cpu_s": round(statistics.median(cpu_seconds(argv) for _ in range(args.runs)), 3),
                     "argv": argv}
              for name, argv in COMMANDS.items()}
    result["runs"] = args.runs
    result["heavy_modules_on_import"] = heavy_modules()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
