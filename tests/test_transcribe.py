"""`cmkt transcribe`: the real default Whisper (tiny.en) on sample speech, caching, given transcripts, errors, WER."""

from __future__ import annotations

import csv
import json
import math
import shutil

import numpy as np
import pytest

from pipelines.audio_io import load_audio
from pipelines.errors import BadInput
from pipelines.text.wer import corpus_wer, normalise, wer, word_edits
from pipelines.text.whisper_engines import make_engine, mean_logprob
from pipelines.text.whisper_rekey import openai_whisper_checkpoint
from tests.conftest import artifact_groups, run_cli, shared, write_wav

CLIPS = ("arctic_a0010.wav", "cmu_arctic_us_aew_a0003.wav", "cmu_arctic_us_axb_a0005.wav")  # 1.6-4 s each


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    """Three short English clips of the sample data, in a folder of their own."""
    folder = tmp_path_factory.mktemp("speech")
    for name in CLIPS:
        shutil.copy(shared(f"speech_en/{name}"), folder / name)
    return folder


@pytest.fixture(scope="module")
def mixtures(tmp_path_factory, speech):
    """A prepared workdir holding two noisy mixtures of each clean clip (ids X-m0, X-m1), all in train."""
    workdir = tmp_path_factory.mktemp("mixtures")
    result = run_cli("prepare", speech, "--noise", shared("noise"), "--snr", "0,5", "--split-by", "file",
                     "--split", "1,0,0", "--mixes-per-file", "2", "-w", workdir, "-q")
    assert result.exit_code == 0, result.output
    return workdir


def _tsv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def _references():
    return {row["path"].rsplit("/", 1)[-1]: row["transcript"] for row in _tsv(shared("transcripts.tsv"))}


def test_mixtures_of_one_clean_file_are_transcribed_once_then_cached(mixtures):
    first = run_cli("transcribe", "-w", mixtures)
    assert first.exit_code == 0, first.output
    assert "transcribe train: 0 cached, 6 computed" in first.output
    assert "transcribed 3 distinct clean recordings for 6 utterances" in first.output
    groups = artifact_groups(mixtures, "transcribe", "train")
    assert len(groups) == 6
    errors = []
    for name in CLIPS:
        stem = name.removesuffix(".wav")
        (arrays, attrs), (_, attrs_1) = groups[f"{stem}-m0"], groups[f"{stem}-m1"]
        assert attrs["text"] == attrs_1["text"] and attrs["source"] == "whisper" and attrs["language"] == "en"
        assert attrs["model"].startswith("faster-whisper:") and attrs["avg_logprob"] < 0
        times, texts = arrays["segment_times"], arrays["segment_texts"]
        assert times.dtype == np.float32 and times.shape == (len(texts), 2) and len(texts) >= 1
        assert " ".join(t.decode() for t in texts) == attrs["text"]
        assert np.all(times[:, 1] >= times[:, 0]) and times.min() >= 0
        errors.append(wer(_references()[name], attrs["text"]))
    # tiny.en on these short clips: one word of five wrong is 0.2, and dependency updates move single words, so
    # the mean is checked (each clip still has to be mostly right)
    assert np.mean(errors) <= 0.3 and max(errors) <= 0.5, errors
    rows = _tsv(mixtures / "reports" / "transcribe" / "transcripts_train.tsv")
    assert [r["id"] for r in rows] == sorted(groups) and {r["source"] for r in rows} == {"whisper"}

    again = run_cli("transcribe", "-w", mixtures)
    assert "transcribe train: 6 cached, 0 computed" in again.output and "distinct" not in again.output
    for uid, (arrays, attrs) in artifact_groups(mixtures, "transcribe", "train").items():
        assert attrs == groups[uid][1]
        assert all(np.array_equal(arrays[name], groups[uid][0][name]) for name in arrays)
    forced = run_cli("transcribe", "-w", mixtures, "--force", "-q")
    assert "transcribe train: 0 cached, 6 computed" in forced.output


def test_folder_mode_writes_a_table_that_prepare_accepts_and_given_text_is_kept(tmp_path, speech):
    transcribed = run_cli("transcribe", speech, "-w", tmp_path / "t", "-q")
    assert transcribed.exit_code == 0, transcribed.output
    table = tmp_path / "t" / "reports" / "transcribe" / "transcripts.tsv"
    rows = _tsv(table)
    assert [r["path"].rsplit("/", 1)[-1] for r in rows] == sorted(CLIPS) and {r["language"] for r in rows} == {"en"}
    references = _references()
    assert corpus_wer((references[r["path"].rsplit("/", 1)[-1]], r["transcript"]) for r in rows) <= 0.2
    assert set(artifact_groups(tmp_path / "t", "transcribe", "files")) == {name.removesuffix(".wav") for name in CLIPS}

    prepared = run_cli("prepare", speech, "--noise", shared("noise"), "--split", "1,0,0", "--split-by", "file",
                       "--transcripts", table, "-w", tmp_path / "p")
    assert prepared.exit_code == 0 and "3 of 3 utterances matched" in prepared.output
    manifest = json.loads((tmp_path / "p" / "manifest.json").read_text())
    assert {u["transcript_source"] for u in manifest} == {"given"}

    # every transcript is given, so Whisper is never loaded: a model that does not exist is no problem
    kept = run_cli("transcribe", "-w", tmp_path / "p", "--model", tmp_path / "no-such-model")
    assert kept.exit_code == 0, kept.output
    assert "transcribe train: 0 cached, 3 computed" in kept.output and "Whisper" not in kept.output
    for uid, (arrays, attrs) in artifact_groups(tmp_path / "p", "transcribe", "train").items():
        assert attrs["source"] == "given" and attrs["model"] == "" and math.isnan(attrs["avg_logprob"])
        assert attrs["text"] == next(r["transcript"] for r in rows if r["path"].endswith(f"/{uid}.wav"))
        assert arrays["segment_times"].shape == (0, 2) and arrays["segment_texts"].shape == (0,)

    # --ignore-given: Whisper hears every clip anyway (machine transcripts only), cached apart from the given ones
    ignored = run_cli("transcribe", "-w", tmp_path / "p", "--ignore-given", "-q")
    assert ignored.exit_code == 0, ignored.output
    heard = artifact_groups(tmp_path / "p", "transcribe", "train")
    assert len(heard) == 3 and {attrs["source"] for _, attrs in heard.values()} == {"whisper"}
    assert corpus_wer((references[uid + ".wav"], attrs["text"]) for uid, (_, attrs) in heard.items()) <= 0.2


def test_silence_gives_an_empty_transcript_with_a_warning(tmp_path):
    write_wav(tmp_path / "in" / "quiet.wav", np.zeros(24_000, dtype=np.float32))
    result = run_cli("transcribe", tmp_path / "in", "-w", tmp_path / "w", "-q")
    assert result.exit_code == 0 and "heard no speech" in result.output
    (arrays, attrs), = artifact_groups(tmp_path / "w", "transcribe", "files").values()
    assert attrs["text"] == "" and arrays["segment_times"].shape == (0, 2)


def test_english_only_model_skips_other_languages(tmp_path):
    result = run_cli("transcribe", shared("speech_zh"), "--language", "zh", "-w", tmp_path / "w")
    assert result.exit_code == 0 and "0 cached, 0 computed, 2 skipped" in result.output
    assert "is English-only" in result.output


@pytest.mark.parametrize("args, message", [
    (("-w", "{tmp}/empty"), "no manifest in"),
    (("{tmp}/absent", "-w", "{tmp}/w"), "no such file or folder"),
    (("{speech}", "-w", "{tmp}/w", "--model", "{tmp}/absent"), "could not load Whisper model '"),
    (("{speech}", "-w", "{tmp}/w", "--model", "{tmp}"), "could not load Whisper model from"),
    (("{speech}", "-w", "{tmp}/w", "--engine", "whisperx"), "unknown --engine 'whisperx'"),
    (("{speech}", "-w", "{tmp}/w", "-O", "beams=2"), "faster-whisper has no option 'beams'"),
    (("{speech}", "-w", "{tmp}/w", "-O", "beam_size=wide"), "beam_size expects a int"),
    (("-w", "{mixtures}", "--split", "test"), "--split test: not in the manifest"),
])
def test_bad_input_is_a_one_line_error(tmp_path, speech, mixtures, args, message):
    result = run_cli("transcribe", *(a.format(tmp=tmp_path, speech=speech, mixtures=mixtures) for a in args))
    assert result.exit_code == 2 and message in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


def test_openai_whisper_missing_is_a_one_line_error(tmp_path, speech):
    try:
        import whisper  # noqa: F401
        pytest.skip("openai-whisper is installed")
    except ImportError:
        pass
    result = run_cli("transcribe", speech, "--engine", "openai-whisper", "-w", tmp_path / "w")
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
    assert "openai-whisper is not installed: pip install 'cmkt[openai-whisper]'" in result.output


def test_openai_whisper_and_faster_whisper_hear_the_same_words(speech):
    """openai-whisper runs the offline tiny.en re-keyed from faster-whisper's CTranslate2 folder (no download, no
    triton): both engines, decoding in float32, agree with each other and with the references."""
    pytest.importorskip("whisper", reason="openai-whisper is not installed: pip install 'cmkt[openai-whisper]'")
    clips = [load_audio(speech / name).samples for name in CLIPS]
    heard = {name: [t.text for t in make_engine(name, None, options).transcribe(clips, "en")]
             for name, options in (("openai-whisper", {}), ("faster-whisper", {"compute_type": "float32"}))}
    references = [_references()[name] for name in CLIPS]
    assert corpus_wer(list(zip(heard["faster-whisper"], heard["openai-whisper"]))) <= 0.1, heard
    for texts in heard.values():
        assert corpus_wer(list(zip(references, texts))) <= 0.3, heard


def test_a_damaged_ctranslate2_folder_is_a_one_line_error(tmp_path):
    (tmp_path / "model.bin").write_bytes(b"\x06\x00\x00\x00\x03\x00ab")
    with pytest.raises(BadInput, match="not a readable CTranslate2 model"):
        openai_whisper_checkpoint(tmp_path)


def test_normalisation_and_word_error_rate():
    assert normalise("  For the 20th time,  that EVENING—the men… I’m “here”! ") == \
        "for the 20th time that evening the men i'm here"
    assert word_edits("the cat sat", "the cat sat") == 0
    assert word_edits("the cat sat", "a cat sat down") == 2  # one substitution, one insertion
    assert word_edits("the cat sat on the mat", "the sat mat") == 3  # three deletions
    assert wer("one two three four", "") == 1.0 and wer("", "") == 0.0 and wer("", "words") == float("inf")
    assert corpus_wer([("a b c d", "a b c d"), ("e f", "x")]) == pytest.approx(2 / 6)  # not the mean of 0 and 1


def test_mean_logprob_is_weighted_by_duration():
    assert mean_logprob([(0.0, 3.0, -0.1), (3.0, 4.0, -0.5)]) == pytest.approx((3 * -0.1 + 1 * -0.5) / 4)
    assert math.isnan(mean_logprob([]))
