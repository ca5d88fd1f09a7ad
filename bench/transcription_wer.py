"""Word error rate of `cmkt transcribe` output against reference transcripts, and batched-vs-plain decoding speed.

    python -m bench.transcription_wer wer ../shared/data/transcripts.tsv WORKDIR/reports/transcribe/transcripts.tsv ...
    python -m bench.transcription_wer speed ../shared/data/speech_en --repeats 3

`wer` matches rows by resolved file path, keeps references in --language (default en),
and prints per-clip and corpus WER as JSON.
`speed` times the default engine on every clip of a folder with batch_size 1 (plain
WhisperModel.transcribe per clip) and 8 (BatchedInferencePipeline), alternating, after a warm-up.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import time
from pathlib import Path

from pipelines.audio_io import AUDIO_SUFFIXES, VIDEO_SUFFIXES, load_audio
from pipelines.text.wer import corpus_wer, word_errors
from pipelines.text.whisper_engines import DEFAULT_ENGINE, make_engine


def _by_path(table: Path, language: str = "") -> dict[Path, str]:
    with open(table, newline="", encoding="utf-8") as f:
        return {(table.parent / row["path"]).resolve(): row["transcript"] for row in csv.DictReader(f, delimiter="\t")
                if not language or row["language"] == language}


def wer_report(references: Path, hypotheses: list[Path], language: str) -> dict:
    truth = _by_path(references, language)
    heard = {path: text for table in hypotheses for path, text in _by_path(table).items()}
    pairs = {path: (truth[path], heard[path]) for path in sorted(heard) if path in truth}
    clips = []
    for path, (reference, hypothesis) in pairs.items():
        errors = word_errors(reference, hypothesis)
        clips.append({"clip": f"{path.parent.name}/{path.name}", "reference_words": errors.reference_words, "edits": errors.edits,
                      "wer": round(errors.rate, 4), "reference": reference, "hypothesis": hypothesis})
    return {"clips": clips, "corpus_wer": round(corpus_wer(pairs.values()), 4),
            "reference_words": sum(c["reference_words"] for c in clips)}


def speed_report(folder: Path, repeats: int) -> dict:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES | VIDEO_SUFFIXES)
    clips = [load_audio(p).samples for p in files]
    engines = {size: make_engine(DEFAULT_ENGINE, None, {"batch_size": str(size)}) for size in (1, 8)}
    times: dict[int, list[float]] = {size: [] for size in engines}
    cpu: dict[int, list[float]] = {size: [] for size in engines}  # process CPU seconds: less hurt by other load
    for repeat in range(repeats + 1):  # the first round warms up
        for size, engine in engines.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            list(engine.transcribe(clips, "en"))
            if repeat:
                times[size].append(round(time.perf_counter() - start, 3))
                cpu[size].append(round(time.process_time() - start_cpu, 3))
    audio_s = sum(len(c) for c in clips) / 16_000
    return {"clips": len(clips), "audio_seconds": round(audio_s, 2), "cpu_count": os.cpu_count(),
            **{f"batch_size_{size}": {"seconds": t, "median": statistics.median(t), "cpu_seconds": cpu[size],
                                      "real_time_factor": round(statistics.median(t) / audio_s, 4)}
               for size, t in times.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    wer = commands.add_parser("wer")
    wer.add_argument("references", type=Path, help="a path/language/transcript TSV of reference transcripts")
    wer.add_argument("hypotheses", type=Path, nargs="+", help="transcripts.tsv written by `cmkt transcribe FOLDER`")
    wer.add_argument("--language", default="en", help="only references in this language ('' for all)")
    speed = commands.add_parser("speed")
    speed.add_argument("folder", type=Path)
    speed.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    report = (wer_report(args.references, args.hypotheses, args.language) if args.command == "wer"
              else speed_report(args.folder, args.repeats))
    print(json.dumps(report, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
