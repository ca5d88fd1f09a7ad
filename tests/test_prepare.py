"""`cmkt prepare`: both layouts, deterministic mixing and splits, and bad input that loses nothing."""

import json

import h5py
import numpy as np
import pytest

from tests.conftest import artifact_groups, run_cli, shared, speech_like, write_wav


def _manifest(workdir):
    return json.loads((workdir / "manifest.json").read_text())


def _waveforms(workdir, split):
    with h5py.File(workdir / "artifacts" / f"prepare_{split}.h5", "r") as f:
        return {uid: (g["clean"][()], g["noisy"][()]) for uid, g in f.items()}


def test_flat_folder_is_mixed_split_by_speaker_and_deterministic(tmp_path, flat_corpus):
    clean, noise = flat_corpus
    for name in ("a", "b"):
        result = run_cli("prepare", clean, "--noise", noise, "--snr", "0,5", "--seed", "3", "-w", tmp_path / name, "-q")
        assert result.exit_code == 0, result.output
    rows = _manifest(tmp_path / "a")
    assert len(rows) == 12 and {r["split"] for r in rows} == {"train", "valid", "test"}
    speakers = {split: {r["speaker"] for r in rows if r["split"] == split} for split in ("train", "valid", "test")}
    assert not (speakers["train"] & speakers["test"]) and not (speakers["train"] & speakers["valid"])
    assert rows == _manifest(tmp_path / "b")
    for row in rows:
        clean_wave, noisy_wave = _waveforms(tmp_path / "a", row["split"])[row["id"]]
        noise_part = noisy_wave - clean_wave
        snr = 10 * np.log10(np.mean(clean_wave**2) / np.mean(noise_part**2))
        assert snr == pytest.approx(row["snr_db"], abs=0.01)
        assert row["sample_rate"] == 16000 and row["duration_s"] == pytest.approx(1.5)


def test_speaker_table_holds_out_the_named_voices(tmp_path, flat_corpus):
    clean, noise = flat_corpus
    table = tmp_path / "splits.tsv"
    table.write_text("speaker\tsplit\n" + "".join(f"spk{k}\ttrain\n" for k in range(4)) + "spk4\tvalid\nspk5\ttest\n")
    result = run_cli("prepare", clean, "--noise", noise, "--speaker-splits", table, "-w", tmp_path / "w", "-q")
    assert result.exit_code == 0, result.output
    splits = {r["speaker"]: r["split"] for r in _manifest(tmp_path / "w")}
    assert splits == {**{f"spk{k}": "train" for k in range(4)}, "spk4": "valid", "spk5": "test"}
    table.write_text("speaker\tsplit\nspk0\ttrain\n")
    result = run_cli("prepare", clean, "--noise", noise, "--speaker-splits", table, "-w", tmp_path / "w2")
    assert result.exit_code == 2 and "no split for speaker(s) spk1" in result.output


def test_a_rerun_that_fails_every_item_keeps_the_finished_artifact(tmp_path, flat_corpus):
    clean, noise = flat_corpus
    assert run_cli("prepare", clean, "--noise", noise, "-w", tmp_path / "w", "-q").exit_code == 0
    before = {split: artifact_groups(tmp_path / "w", "prepare", split) for split in ("train", "valid", "test")}
    silent = write_wav(tmp_path / "silent" / "zeros.wav", np.zeros(16_000, dtype=np.float32)).parent
    result = run_cli("prepare", clean, "--noise", silent, "-w", tmp_path / "w", "-q")
    assert result.exit_code == 2 and "silent" in result.output
    for split, groups in before.items():
        after = artifact_groups(tmp_path / "w", "prepare", split)
        assert after.keys() == groups.keys()
        for uid in groups:
            np.testing.assert_array_equal(after[uid][0]["noisy"], groups[uid][0]["noisy"])


def test_rerun_reuses_everything_and_force_recomputes(tmp_path, flat_corpus):
    clean, noise = flat_corpus
    run_cli("prepare", clean, "--noise", noise, "-w", tmp_path / "w", "-q")
    again = run_cli("prepare", clean, "--noise", noise, "-w", tmp_path / "w")
    assert "prepare train: 8 cached, 0 computed" in again.output
    forced = run_cli("prepare", clean, "--noise", noise, "-w", tmp_path / "w", "--force")
    assert "prepare train: 0 cached, 8 computed" in forced.output


def test_noise_shorter_than_speech_is_looped(tmp_path):
    write_wav(tmp_path / "clean" / "u.wav", speech_like(2.0))
    burst = (0.1 * np.random.default_rng(0).standard_normal(1600)).astype(np.float32)
    write_wav(tmp_path / "noise" / "burst.wav", burst)
    result = run_cli("prepare", tmp_path / "clean", "--noise", tmp_path / "noise", "--split", "0,0,1",
                     "--snr", "0", "-w", tmp_path / "w", "-q")
    assert result.exit_code == 0, result.output
    clean_wave, noisy_wave = _waveforms(tmp_path / "w", "test")["u"]
    residual = noisy_wave - clean_wave
    assert len(noisy_wave) == 32000
    np.testing.assert_allclose(residual[:1600], residual[1600:3200], atol=1e-6)  # the same burst, repeated


def test_a_noise_file_of_a_few_samples_is_refused(tmp_path):
    """Five samples looped would be a near-constant "noise": the mixtures using it fail with a clear message."""
    write_wav(tmp_path / "clean" / "u.wav", speech_like(1.0))
    write_wav(tmp_path / "noise" / "tiny.wav", np.array([0.1, -0.2, 0.3, -0.1, 0.2], dtype=np.float32))
    result = run_cli("prepare", tmp_path / "clean", "--noise", tmp_path / "noise", "--split", "0,0,1",
                     "-w", tmp_path / "w")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "tiny.wav: the noise is only 5 samples" in result.output and "at least 0.1 s" in result.output


def test_sgmse_layout_pairs_files_and_converts(tmp_path):
    data = tmp_path / "data"
    for split in ("train", "test"):
        for k in range(2):
            speech = speech_like(1.0, seed=k)
            write_wav(data / split / "clean" / f"{split}{k}.wav", speech)
            write_wav(data / split / "noisy" / f"{split}{k}.wav",
                      np.stack([speech + 0.01, speech + 0.01], axis=1), rate=16_000)
    (data / "test" / "text").mkdir()
    (data / "test" / "text" / "test0.txt").write_text("hello world\n")
    result = run_cli("prepare", data, "-w", tmp_path / "w")
    assert result.exit_code == 0, result.output
    assert "16000 Hz mono" in result.output  # stereo noisy files were converted, and it says so
    rows = {r["id"]: r for r in _manifest(tmp_path / "w")}
    assert {r["split"] for r in rows.values()} == {"train", "test"}
    assert rows["test0"]["transcript"] == "hello world" and rows["test0"]["transcript_source"] == "given"
    assert rows["test1"]["transcript"] == ""


def test_grid_videos_give_their_audio_and_shared_transcripts(tmp_path):
    grid, noise = shared("grid"), shared("noise")
    result = run_cli("prepare", grid, "--noise", noise, "--transcripts", shared("transcripts.tsv"),
                     "-w", tmp_path / "w", "-q")
    assert result.exit_code == 0, result.output
    rows = _manifest(tmp_path / "w")
    assert len(rows) == 8
    assert all(r["video_path"].endswith(".mpg") and r["sample_rate"] == 44100 for r in rows)
    assert {r["language"] for r in rows} == {"en"} and all(r["transcript"] for r in rows)


def test_bad_files_fail_alone_and_the_rest_is_saved(tmp_path):
    data = tmp_path / "data"
    write_wav(data / "test" / "clean" / "good.wav", speech_like(1.0))
    write_wav(data / "test" / "noisy" / "good.wav", speech_like(1.0, seed=5))
    write_wav(data / "test" / "clean" / "short.wav", speech_like(1.0))
    write_wav(data / "test" / "noisy" / "short.wav", speech_like(0.5))
    (data / "test" / "clean" / "text.wav").write_text("not audio")
    write_wav(data / "test" / "noisy" / "text.wav", speech_like(1.0))
    write_wav(data / "test" / "clean" / "silent.wav", np.zeros(16000, dtype=np.float32))
    write_wav(data / "test" / "noisy" / "silent.wav", speech_like(1.0))
    result = run_cli("prepare", data, "-w", tmp_path / "w")
    assert result.exit_code == 2
    assert "lengths differ" in result.output and "not readable as audio" in result.output
    assert "all zeros" in result.output and "Traceback" not in result.output
    assert [r["id"] for r in _manifest(tmp_path / "w")] == ["good"]


def test_duplicate_ids_are_refused_before_any_work(tmp_path):
    write_wav(tmp_path / "a" / "same.wav", speech_like(1.0))
    write_wav(tmp_path / "b" / "same.wav", speech_like(1.0))
    write_wav(tmp_path / "noise" / "n.wav", speech_like(1.0, seed=9))
    result = run_cli("prepare", tmp_path / "a", tmp_path / "b", "--noise", tmp_path / "noise", "-w", tmp_path / "w")
    assert result.exit_code == 2 and "duplicate utterance ids: 'same'" in result.output
    assert not (tmp_path / "w" / "manifest.json").exists()


@pytest.mark.parametrize("setup, message", [
    ("missing", "no such folder"),
    ("empty", "no audio or video files found"),
    ("no-noise", "needs --noise"),
])
def test_unusable_source_folders(tmp_path, setup, message):
    source = tmp_path / "src"
    if setup != "missing":
        source.mkdir()
    if setup == "no-noise":
        write_wav(source / "x.wav", speech_like(1.0))
    args = ["prepare", source, "-w", tmp_path / "w"]
    if setup == "empty":
        (tmp_path / "noise").mkdir()
        args += ["--noise", tmp_path / "noise"]
    result = run_cli(*args)
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_a_truncated_mpeg_video_fails_as_a_truncated_wav_does(tmp_path):
    """A GRID clip cut at 13 %: FFmpeg decodes it as a 0.37 s utterance without a word; prepare refuses it."""
    videos = tmp_path / "videos"
    videos.mkdir()
    whole, cut = sorted(shared("grid").glob("*.mpg"))[:2]
    (videos / whole.name).write_bytes(whole.read_bytes())
    data = cut.read_bytes()
    (videos / cut.name).write_bytes(data[:int(0.13 * len(data))])
    result = run_cli("prepare", videos, "--noise", shared("noise"), "--split", "1,0,0", "-w", tmp_path / "w")
    assert result.exit_code == 2 and f"{cut.name}: truncated MPEG video" in result.output, result.output
    assert [r["id"] for r in _manifest(tmp_path / "w")] == [whole.stem]


def test_links_that_lead_nowhere_are_listed_in_one_warning(tmp_path):
    write_wav(tmp_path / "clean" / "a.wav", speech_like(1.0))
    (tmp_path / "clean" / "gone.wav").symlink_to(tmp_path / "missing.wav")
    (tmp_path / "clean" / "loop.wav").symlink_to(tmp_path / "clean" / "loop.wav")
    result = run_cli("prepare", tmp_path / "clean", "--noise", shared("noise"), "-w", tmp_path / "w")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if "lead nowhere" in line]
    assert warnings == [f"warning: {tmp_path / 'clean'}: skipped 2 symbolic links that lead nowhere (dangling or "
                        f"looping): gone.wav, loop.wav"]
    assert [r["id"] for r in _manifest(tmp_path / "w")] == ["a"]
