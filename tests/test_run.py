"""`cmkt run`: every stage in order on one workdir (the training options passed by name: hop 128)."""

import json

from tests.conftest import run_cli


def test_run_goes_from_data_to_scores(flat_corpus, tmp_path):
    clean, noise = flat_corpus
    workdir = tmp_path / "w"
    result = run_cli("run", clean, "--noise", noise, "--split", "0.5,0.17,0.33", "--max-steps", "2", "--batch-size",
                     "2", "--crop-frames", "32", "--validate-every", "2", "--steps", "2", "-w", workdir, "-q")
    assert result.exit_code == 0, result.output
    assert "scores: test-noisy" in result.output and "scores: test-a-small-seed0-pc2ald" in result.output
    config = json.loads((workdir / "train" / "a-small-seed0" / "config.json").read_text())
    assert config["model"]["hop_length"] == 128
