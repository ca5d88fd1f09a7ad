"""Options shared by several commands, defined once so every command spells them the same way."""

from __future__ import annotations

from pathlib import Path

import typer

WORKDIR = typer.Option(Path("cmkt_work"), "--workdir", "-w", help="Where artifacts, reports and logs go.")
FORCE = typer.Option(False, "--force", help="Recompute everything instead of reusing cached results.")
QUIET = typer.Option(False, "--quiet", "-q", help="Only warnings, errors and results.")
JOBS = typer.Option(1, "--jobs", "-j", min=1, help="Worker processes for per-file work.")
SHARD = typer.Option(None, "--shard", help="I/N: do only shard I of N (I from 1, e.g. $SLURM_ARRAY_TASK_ID/N), into "
                                          "its own artifact files; `cmkt merge` joins the N shards (the next stage "
                                          "also does, by itself).")
SOURCES = typer.Argument(..., help="DATA in the train/valid/test layout, or folders of clean speech (with --noise).")
NOISE = typer.Option(None, "--noise", help="Folder of noise recordings to mix with flat clean speech.")
SNR = typer.Option("-5,0,5", "--snr", help="SNRs in dB to draw from when mixing, comma-separated.")
SEED = typer.Option(0, "--seed", help="Seed for splits and mixing (same seed, same data).")
SPLIT = typer.Option("0.8,0.1,0.1", "--split", help="Train,valid,test fractions for flat folders.")
SPLIT_BY = typer.Option("speaker", "--split-by", help="'speaker' (no speaker in two splits) or 'file'.")
SPEAKER_SPLITS = typer.Option(None, "--speaker-splits", help="TSV (speaker, split) naming each speaker's split: "
                              "hold out chosen voices instead of a random speaker split.")
SPEAKER_REGEX = typer.Option(None, "--speaker-regex",
                             help="Regex on the relative path whose first group is the speaker (default: the "
                                  "sub-folder, else the file name).")
TRANSCRIPTS = typer.Option(None, "--transcripts", help="TSV with columns path, language, transcript.")
LANGUAGE = typer.Option("", "--language", help="Language code for utterances without one (e.g. en, zh).")
MIXES = typer.Option(1, "--mixes-per-file", min=1, help="Noisy mixtures made from each clean file (flat folders).")
