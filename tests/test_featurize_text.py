"""`cmkt featurize --text`: real BERT features of the sample transcripts, cached, and the reader training uses."""

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoTokenizer, BertConfig, BertModel

from pipelines.artifacts import ArtifactStore, Workdir
from pipelines.errors import BadInput
from pipelines.text.bert import default_model_dir
from pipelines.text.features import load_text_features
from tests.conftest import artifact_groups, run_cli, shared


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """The English sample speech with its given transcripts (7 train, 1 valid, 1 test utterances)."""
    workdir = tmp_path_factory.mktemp("prepared") / "w"
    result = run_cli("prepare", shared("speech_en"), "--noise", shared("noise"), "--transcripts",
                     shared("transcripts.tsv"), "--snr", "0,5", "--split-by", "file", "-w", workdir, "-q")
    assert result.exit_code == 0, result.output
    return workdir


@pytest.fixture
def workdir(prepared, tmp_path):
    """A private copy of the prepared workdir, so tests can change it."""
    return Path(shutil.copytree(prepared, tmp_path / "w"))


def _manifest(workdir):
    return {row["id"]: row for row in json.loads((workdir / "manifest.json").read_text())}


def _set_transcripts(workdir, text_of):
    """Rewrite manifest transcripts (the manifest is what `prepare` left; this stands in for other data)."""
    rows = list(_manifest(workdir).values())
    for row in rows:
        row["transcript"] = text_of(row)
    (workdir / "manifest.json").write_text(json.dumps(rows))


def _featurize(workdir, *extra):
    result = run_cli("featurize", "--text", "-w", workdir, *extra)
    assert result.exit_code == 0, result.output
    return result


def test_features_are_the_last_hidden_states_of_cls_text_sep(workdir):
    _featurize(workdir)
    rows = _manifest(workdir)
    features = load_text_features(Workdir(workdir), "train")
    tokenizer = AutoTokenizer.from_pretrained(default_model_dir(), local_files_only=True)
    bert = AutoModel.from_pretrained(default_model_dir(), local_files_only=True).eval()
    assert features.model == "sentence-transformers/all-MiniLM-L6-v2"
    assert (features.hidden_size, features.vocab_size) == (bert.config.hidden_size, bert.config.vocab_size)
    assert set(features.items) == {uid for uid, row in rows.items() if row["split"] == "train"}
    for uid, (arrays, attrs) in artifact_groups(workdir, "text", "train").items():
        item, duration = features.items[uid], rows[uid]["duration_s"]
        assert attrs["text"] == rows[uid]["transcript"] and attrs["source"] == "given"
        tokens = [t.decode() for t in arrays["tokens"]]
        assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"
        assert item.features.dtype == np.float32 and item.features.shape == (len(tokens), features.hidden_size)
        with torch.inference_mode():
            direct = bert(**tokenizer(attrs["text"], return_tensors="pt")).last_hidden_state[0].numpy()
        np.testing.assert_allclose(item.features, direct, atol=1e-5)
        np.testing.assert_array_equal(item.token_ids, tokenizer(attrs["text"])["input_ids"])
        times = item.token_times
        assert times.min() >= 0 and times.max() <= duration + 1e-5 and np.all(times[:, 1] >= times[:, 0])
        assert np.all(np.diff(times[1:-1, 0]) >= 0) and np.all(np.diff(times[1:-1, 1]) >= 0)  # words in order
        np.testing.assert_allclose(times[[0, -1]], [[0, duration], [0, duration]], atol=1e-5)  # specials: all

    again = _featurize(workdir).output
    assert "text train: 7 cached, 0 computed" in again and "text test: 1 cached, 0 computed" in again

    one_at_a_time = _featurize(workdir, "--force", "--batch-size", "1").output
    assert "text train: 0 cached, 7 computed" in one_at_a_time
    unbatched = load_text_features(Workdir(workdir), "train")
    for uid, item in features.items.items():
        np.testing.assert_allclose(unbatched.items[uid].features, item.features, atol=1e-4)


def test_hidden_size_comes_from_the_model(workdir, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(default_model_dir(), local_files_only=True)
    tiny = BertModel(BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                vocab_size=tokenizer.vocab_size))
    folder = tmp_path / "tiny-bert"
    tiny.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    _featurize(workdir, "--text-model", folder, "--split", "test")
    features = load_text_features(Workdir(workdir), "test")
    assert (features.model, features.hidden_size, features.vocab_size) == (str(folder.resolve()), 32,
                                                                          tokenizer.vocab_size)
    assert all(item.features.shape[1] == 32 for item in features.items.values())
    with h5py.File(workdir / "artifacts" / "text_test.h5", "r") as f:
        assert json.loads(f.attrs["config"])["hidden_size"] == 32
    assert not (workdir / "artifacts" / "text_train.h5").exists()  # --split test only


def test_utterance_without_transcript_is_skipped_not_failed(workdir):
    _set_transcripts(workdir, lambda row: "" if row["id"] == "jfk" else row["transcript"])
    output = _featurize(workdir, "--split", "train").output
    assert "text train: 0 cached, 6 computed, 1 skipped" in output
    assert "1 utterances without a transcript: they train without the CMKT loss" in output
    assert "jfk" not in load_text_features(Workdir(workdir), "train").items


def test_no_transcripts_at_all_is_an_error(workdir):
    _set_transcripts(workdir, lambda row: "")
    result = run_cli("featurize", "--text", "-w", workdir)
    assert result.exit_code == 2 and "no transcripts in" in result.output and "cmkt transcribe" in result.output


def test_transcribe_artifact_wins_over_the_manifest(workdir):
    store = ArtifactStore(Workdir(workdir), "transcribe", "test", {"engine": "hand-written"})
    segments = np.array([[0.5, 1.25], [1.5, 2.0]], dtype=np.float32)
    store.put("cmu_arctic_us_axb_a0006", "x",
              {"segment_times": segments,
               "segment_texts": np.array(["hello there", "general"], dtype=h5py.string_dtype())},
              {"text": "hello there general", "language": "en", "source": "whisper"})
    store.commit()
    _featurize(workdir, "--split", "test")
    (arrays, attrs), = artifact_groups(workdir, "text", "test").values()
    assert (attrs["text"], attrs["source"]) == ("hello there general", "whisper")
    assert [t.decode() for t in arrays["tokens"]] == ["[CLS]", "hello", "there", "general", "[SEP]"]
    times = arrays["token_times"]
    np.testing.assert_allclose(times[[0, -1]], [[0.5, 2.0], [0.5, 2.0]])  # the segments' span, not [0, duration]
    np.testing.assert_allclose([times[1, 0], times[3, 1]], [0.5, 2.0])


def test_bad_invocations_are_one_line_errors(workdir, tmp_path):
    for args, message in ((("--text", "--text-model", tmp_path / "absent"), "no such model folder"),
                          (("--text", "--text-model", tmp_path), "could not load text model"),
                          ((), "cmkt featurize --text")):
        result = run_cli("featurize", *args, "-w", workdir)
        assert result.exit_code == 2 and message in result.output
        assert len(result.output.strip().splitlines()) == 1, result.output


def test_reader_without_the_artifact_says_what_to_run(workdir):
    with pytest.raises(BadInput, match="run `cmkt featurize --text` first"):
        load_text_features(Workdir(workdir), "train")
