"""`cmkt score` from folders and from a prepared workdir, with the published reference values."""

import json
import shutil

import numpy as np
import pytest

from tests.conftest import run_cli, shared, speech_like, write_wav


@pytest.fixture
def pesq_pair(tmp_path):
    folder = shared("metric_refs/python_pesq")
    for name in ("clean", "enhanced", "noisy"):
        (tmp_path / name).mkdir()
    shutil.copy(folder / "speech.wav", tmp_path / "clean" / "speech.wav")
    shutil.copy(folder / "speech_bab_0dB.wav", tmp_path / "enhanced" / "speech.wav")
    shutil.copy(folder / "speech_bab_0dB.wav", tmp_path / "noisy" / "speech.wav")
    return tmp_path


def test_cli_reproduces_published_values_and_saves_csv_json(pesq_pair):
    result = run_cli("score", "--clean", pesq_pair / "clean", "--enhanced", pesq_pair / "enhanced",
                     "--noisy", pesq_pair / "noisy", "-w", pesq_pair / "w", "--jobs", "2")
    assert result.exit_code == 0, result.output
    saved = json.loads((pesq_pair / "w" / "reports" / "score" / "enhanced.json").read_text())
    scores = saved["files"][0]
    assert scores["pesq_wb"] == pytest.approx(1.0832337, abs=1e-4)
    assert scores["pesq_nb"] == pytest.approx(1.6072081, abs=1e-4)
    assert scores["stoi"] == pytest.approx(0.6739177, abs=5e-3)
    assert scores["delta_pesq_wb"] == pytest.approx(0.0, abs=1e-9)
    assert saved["summary"]["pesq_wb"]["n"] == 1
    assert (pesq_pair / "w" / "reports" / "score" / "enhanced.csv").read_text().startswith("id,pesq_wb")
    assert "PESQ-WB" in result.output and "1.083" in result.output
    again = run_cli("score", "--clean", pesq_pair / "clean", "--enhanced", pesq_pair / "enhanced",
                    "--noisy", pesq_pair / "noisy", "-w", pesq_pair / "w")
    assert "1 cached, 0 computed" in again.output


def test_names_that_clean_up_alike_and_non_ascii_names_each_get_their_own_row(pesq_pair):
    names = ["speech", "a b", "a_b", "čeština", "中文"]
    for name in names[1:]:
        for folder in ("clean", "enhanced"):
            shutil.copy(pesq_pair / folder / "speech.wav", pesq_pair / folder / f"{name}.wav")
    result = run_cli("score", "--clean", pesq_pair / "clean", "--enhanced", pesq_pair / "enhanced", "-w",
                     pesq_pair / "w")
    assert result.exit_code == 0, result.output
    saved = json.loads((pesq_pair / "w" / "reports" / "score" / "enhanced.json").read_text())
    assert sorted(row["id"] for row in saved["files"]) == sorted(["speech", "a_b", "a_b-2", "čeština", "中文"])
    assert saved["summary"]["pesq_wb"]["n"] == 5 and "scored as 'a_b-2'" in " ".join(result.output.split())


def test_silent_file_is_skipped_with_a_warning_and_the_rest_scored(pesq_pair):
    write_wav(pesq_pair / "clean" / "quiet.wav", np.zeros(32000, dtype=np.float32))
    write_wav(pesq_pair / "enhanced" / "quiet.wav", speech_like(2.0))
    result = run_cli("score", "--clean", pesq_pair / "clean", "--enhanced", pesq_pair / "enhanced", "-w", pesq_pair / "w")
    assert result.exit_code == 0, result.output
    assert "quiet: clean reference is silent" in result.output and "1 skipped" in result.output
    saved = json.loads((pesq_pair / "w" / "reports" / "score" / "enhanced.json").read_text())
    assert [f["id"] for f in saved["files"]] == ["speech"] and "quiet" in saved["skipped"]


def test_length_mismatch_is_an_error_unless_trimmed(pesq_pair):
    write_wav(pesq_pair / "clean" / "b.wav", speech_like(2.0))
    write_wav(pesq_pair / "enhanced" / "b.wav", speech_like(2.0)[:-500])
    result = run_cli("score", "--clean", pesq_pair / "clean", "--enhanced", pesq_pair / "enhanced", "-w", pesq_pair / "w")
    assert result.exit_code == 2 and "lengths differ" in result.output and "--trim" in result.output
    trimmed = run_cli("score", "--clean", pesq_pair / "clean", "--enhanced", pesq_pair / "enhanced",
                      "-w", pesq_pair / "w", "--trim")
    assert trimmed.exit_code == 0, trimmed.output


def test_enhanced_file_without_reference_fails_alone(pesq_pair):
    write_wav(pesq_pair / "enhanced" / "orphan.wav", speech_like(1.0))
    result = run_cli("score", "--clean", pesq_pair / "clean", "--enhanced", pesq_pair / "enhanced", "-w", pesq_pair / "w")
    assert result.exit_code == 2 and "orphan: no clean reference" in result.output
    saved = json.loads((pesq_pair / "w" / "reports" / "score" / "enhanced.json").read_text())
    assert [f["id"] for f in saved["files"]] == ["speech"]


def test_empty_enhanced_folder(pesq_pair):
    (pesq_pair / "nothing").mkdir()
    result = run_cli("score", "--clean", pesq_pair / "clean", "--enhanced", pesq_pair / "nothing", "-w", pesq_pair / "w")
    assert result.exit_code == 2 and "no audio files" in result.output


def test_workdir_mode_scores_noisy_baseline_and_enhanced_folder(tmp_path, flat_corpus):
    clean, noise = flat_corpus
    assert run_cli("prepare", clean, "--noise", noise, "--snr", "5", "-w", tmp_path / "w", "-q").exit_code == 0
    baseline = run_cli("score", "-w", tmp_path / "w")
    assert baseline.exit_code == 0, baseline.output
    assert "scoring the noisy input" in baseline.output
    rows = json.loads((tmp_path / "w" / "manifest.json").read_text())
    enhanced = tmp_path / "enhanced"
    for row in rows:
        if row["split"] == "test":
            write_wav(enhanced / f"{row['id']}.wav", speech_like(row["duration_s"], seed=99))
    scored = run_cli("score", "-w", tmp_path / "w", "--enhanced", enhanced)
    assert scored.exit_code == 0, scored.output
    assert "improvement" in scored.output
