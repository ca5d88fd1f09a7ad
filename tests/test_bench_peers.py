"""bench/peer_bench.py end to end on two short generated mixtures: the noisy input and a random cmkt model (no peer
packages needed), a model that does not load, the JSON's shape, and pairing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench.peer_bench import main, paired
from bench.peers import alignment_lag
from tests.conftest import random_checkpoint, run_cli, speech_like, write_wav


@pytest.fixture(scope="module")
def two_mixtures(tmp_path_factory):
    root = tmp_path_factory.mktemp("peers")
    for k in range(2):
        write_wav(root / "clean" / f"u{k}.wav", speech_like(1.0, seed=k))
    write_wav(root / "noise" / "n.wav", (0.05 * np.random.default_rng(0).standard_normal(40_000)).astype(np.float32))
    result = run_cli("prepare", root / "clean", "--noise", root / "noise", "--snr", "5", "--split", "0,0,1",
                     "--split-by", "file", "-w", root / "w", "-q")
    assert result.exit_code == 0, result.output
    return root


def test_bench_writes_per_file_scores_and_pairs_every_system(two_mixtures, capsys):
    checkpoint = random_checkpoint(two_mixtures / "random.ckpt")
    out = two_mixtures / "peers.json"
    main(["--workdir", str(two_mixtures / "w"), "--systems", "noisy", "--cmkt", f"random={checkpoint}",
          "--cmkt", f"broken={two_mixtures / 'missing.pt'}", "--reference", "random", "--sampler", "predictive",
          "--out", str(out)])
    printed = capsys.readouterr().out
    result = json.loads(out.read_text())

    assert len(result["utterances"]) == 2 and result["reference"] == "random"
    assert [row["system"] for row in result["results"]] == ["noisy", "random"]
    assert list(result["unavailable"]) == ["broken"] and "did not load" in printed
    for row in result["results"]:
        assert len(row["pesq_wb"]) == len(row["estoi"]) == len(row["si_sdr"]) == len(row["seconds"]) == 2
        assert row["si_sdr_interval"]["n"] == 2 and row["rtf"] >= 0
    assert result["results"][0]["lag_samples"] == [0, 0]
    assert set(result["paired"]) == {"noisy", "random"}
    assert set(result["paired"]["random"]["noisy"]) == {"pesq_wb", "estoi", "si_sdr"}

    noisy = result["results"][0]
    against_itself = paired([noisy, {**noisy, "system": "noisy again"}], "noisy", ("pesq_wb", "estoi", "si_sdr"))
    for difference in against_itself["noisy again"].values():
        assert difference["difference"]["mean"] == 0.0 and difference["ties"] == 2
    assert "| minus random (wins of 2) |" in printed


def test_alignment_lag_finds_a_known_delay():
    signal = speech_like(1.0)
    assert alignment_lag(signal, np.concatenate([np.zeros(320, np.float32), signal])[: len(signal)]) == 320
    assert alignment_lag(signal, signal) == 0
