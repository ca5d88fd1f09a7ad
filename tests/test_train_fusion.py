"""`cmkt train --fusion ot|mhca`: training against BERT features of real transcripts, end to end through the CLI."""

import numpy as np
import pytest
import torch

from tests.conftest import run_cli, shared, speech_like, write_wav

FAST = ["--preset", "small", "--batch-size", "3", "--crop-frames", "32", "--validate-every", "1000",
        "--val-steps", "1", "--lr", "1e-3", "-q"]


@pytest.fixture(scope="module")
def featurized(tmp_path_factory):
    """The CMU ARCTIC clips (real speech, given transcripts) plus one clip without a transcript, all in train."""
    root = tmp_path_factory.mktemp("fusion")
    corpus = root / "speech"
    for clip in sorted(shared("speech_en").glob("*arctic_*.wav")):
        (corpus / clip.name).parent.mkdir(parents=True, exist_ok=True)
        (corpus / clip.name).symlink_to(clip)
    write_wav(corpus / "untranscribed.wav", speech_like(2.0))
    table = root / "transcripts.tsv"
    rows = [line.split("\t") for line in shared("transcripts.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    table.write_text("path\tlanguage\ttranscript\n" + "".join(
        f"speech/{path.split('/')[-1]}\t{language}\t{text}\n" for path, language, text in rows
        if "arctic_" in path), encoding="utf-8")
    write_wav(root / "noise" / "n.wav", (0.05 * np.random.default_rng(0).standard_normal(80_000)).astype(np.float32))
    workdir = root / "w"
    prepared = run_cli("prepare", corpus, "--noise", root / "noise", "--transcripts", table, "--split", "1,0,0",
                       "--split-by", "file", "-w", workdir, "-q")
    assert prepared.exit_code == 0, prepared.output
    featurize = run_cli("featurize", "--text", "-w", workdir)
    assert featurize.exit_code == 0, featurize.output
    return workdir


@pytest.mark.parametrize("fusion", ["ot", "mhca"])
def test_fusion_trains_with_the_alignment_loss_and_keeps_utterances_without_text(featurized, fusion):
    result = run_cli("train", "-w", featurized, "--fusion", fusion, "--max-steps", "2", "--misalign-shift", "0.2",
                     "--transfer-warmup", "1", *FAST)
    assert result.exit_code == 0, result.output
    assert "1 of " in result.output and "without the CMKT loss" in result.output
    run = featurized / "train" / f"a-{fusion}-small-seed0"
    header, *rows = [line.split(",") for line in (run / "metrics.csv").read_text().splitlines()]
    assert "loss_align" in header
    checkpoint = torch.load(run / "last.ckpt", map_location="cpu", weights_only=False)
    assert checkpoint["config"]["fusion"] == fusion and checkpoint["config"]["text_dim"] == 384
    assert any("aligner" in name for name in checkpoint["model"]) == (fusion == "mhca")  # OT has no weights
    assert "M at inference" in result.output


def test_fusion_without_text_features_says_what_to_run(tmp_path):
    write_wav(tmp_path / "clean" / "a.wav", speech_like(1.0))
    write_wav(tmp_path / "clean" / "b.wav", speech_like(1.0, seed=1))
    write_wav(tmp_path / "noise" / "n.wav", speech_like(3.0, seed=2))
    assert run_cli("prepare", tmp_path / "clean", "--noise", tmp_path / "noise", "--split", "1,0,0", "-w",
                   tmp_path / "w", "-q").exit_code == 0
    result = run_cli("train", "-w", tmp_path / "w", "--fusion", "ot", "--max-steps", "1", *FAST)
    assert result.exit_code == 2 and "featurize --text" in result.output
    assert run_cli("train", "-w", tmp_path / "w", "--fusion", "bert", "--max-steps", "1").exit_code == 2
    warmup = run_cli("train", "-w", tmp_path / "w", "--transfer-warmup", "10", "--max-steps", "1", *FAST)
    assert warmup.exit_code == 2 and "--transfer ot" in warmup.output
