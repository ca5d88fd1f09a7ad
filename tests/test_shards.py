"""`--shard I/N` and `cmkt merge`: shards of transcribe, featurize --text and --lips merge into what one run writes."""

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from transformers import AutoTokenizer, BertConfig, BertModel

from pipelines.artifacts import ArtifactStore, Workdir, WorkdirLock, open_artifact
from pipelines.artifacts.integrity import CHECKSUMS
from pipelines.artifacts.merge import MERGED_FROM, merge_split
from pipelines.artifacts.shards import WHOLE, Shard, shard_of
from pipelines.errors import BadInput, WorkdirBusy
from pipelines.text.bert import default_model_dir
from pipelines.text.features import load_text_features
from pipelines.video.lip_features import load_lip_features
from tests.conftest import artifact_groups, run_cli, shared

SPLITS = ("train", "valid", "test")
BOOKKEEPING = {MERGED_FROM, CHECKSUMS}  # root attributes a merge adds (its checksum covers what it added)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """The English sample speech with its given transcripts, two mixtures per file: 18 utterances, 6 to 7 a shard."""
    workdir = tmp_path_factory.mktemp("prepared") / "w"
    result = run_cli("prepare", shared("speech_en"), "--noise", shared("noise"), "--transcripts",
                     shared("transcripts.tsv"), "--snr", "0,5", "--split-by", "file", "--mixes-per-file", "2",
                     "-w", workdir, "-q")
    assert result.exit_code == 0, result.output
    return workdir


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    """A 2-layer BERT with the default model's vocabulary: the same code path as the default, fast."""
    tokenizer = AutoTokenizer.from_pretrained(default_model_dir(), local_files_only=True)
    folder = tmp_path_factory.mktemp("tiny-bert")
    BertModel(BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                         vocab_size=tokenizer.vocab_size)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def runs(prepared, tiny_bert, tmp_path_factory):
    """The same workdir transcribed and featurized (--text) once whole and once in 3 shards then `cmkt merge`d.
    One transcript per BERT batch: padded batches differ between the runs, and so would the last float bits."""
    text = ("featurize", "--text", "--text-model", tiny_bert, "--batch-size", "1")
    whole = Path(shutil.copytree(prepared, tmp_path_factory.mktemp("whole") / "w"))
    _cli("transcribe", "-w", whole)
    _cli(*text, "-w", whole)
    sharded = Path(shutil.copytree(prepared, tmp_path_factory.mktemp("sharded") / "w"))
    outputs = [_cli("transcribe", "--shard", f"{i}/3", "-w", sharded) for i in (1, 2, 3)]
    outputs += [_cli(*text, "--shard", f"{i}/3", "-w", sharded) for i in (1, 2, 3)]
    outputs.append(_cli("merge", "-w", sharded))
    return whole, sharded, outputs


def _cli(*args):
    result = run_cli(*args)
    assert result.exit_code == 0, result.output
    return result.output


def _manifest_ids(workdir):
    return {row["id"]: row["split"] for row in json.loads((workdir / "manifest.json").read_text())}


def _assert_same_artifact(merged, whole, stage, split):
    """Same ids, datasets and attributes item by item, and the same root attributes but the merge's bookkeeping."""
    assert artifact_groups(merged, stage, split).keys() == artifact_groups(whole, stage, split).keys()
    for uid, (arrays, attrs) in artifact_groups(merged, stage, split).items():
        expected_arrays, expected_attrs = artifact_groups(whole, stage, split)[uid]
        assert arrays.keys() == expected_arrays.keys(), uid
        for name, array in arrays.items():
            assert array.dtype == expected_arrays[name].dtype, (uid, name)
            np.testing.assert_array_equal(array, expected_arrays[name], err_msg=f"{uid}/{name}")
        assert attrs.keys() == expected_attrs.keys(), uid
        for name, value in attrs.items():
            np.testing.assert_equal(value, expected_attrs[name], err_msg=f"{uid}@{name}")
    with h5py.File(merged / "artifacts" / f"{stage}_{split}.h5", "r") as m, \
            h5py.File(whole / "artifacts" / f"{stage}_{split}.h5", "r") as w:
        assert {k: v for k, v in m.attrs.items() if k not in BOOKKEEPING} == {k: v for k, v in w.attrs.items()
                                                                             if k not in BOOKKEEPING}


def test_shard_spec_is_i_of_n_counting_from_one():
    assert Shard.parse("2/3") == Shard(2, 3) and Shard.parse(" 3 / 3 ") == Shard(3, 3)
    assert Shard.parse("1/1") == WHOLE and WHOLE.suffix == "" and Shard(2, 3).suffix == ".shard-2-of-3"
    for bad, why in (("4/3", "between 1 and N"), ("0/3", "between 1 and N"), ("1/0", "between 1 and N"),
                     ("3", "expected I/N"), ("a/b", "expected I/N"), ("-1/3", "expected I/N"), ("", "expected I/N")):
        with pytest.raises(BadInput, match=why) as error:
            Shard.parse(bad)
        assert str(error.value).startswith(f"--shard {bad}:")


@pytest.mark.parametrize("command", [("transcribe",), ("featurize", "--text"), ("featurize", "--lips")])
def test_bad_shard_is_one_line_and_exit_2(command, tmp_path):
    result = run_cli(*command, "--shard", "4/3", "-w", tmp_path)
    assert result.exit_code == 2
    assert result.output.strip() == "error: --shard 4/3: I must be between 1 and N (and N at least 1)"


def test_every_utterance_is_in_exactly_one_shard_and_stays_there(prepared):
    ids = list(_manifest_ids(prepared)) + [f"utt{k:05d}" for k in range(3000)]
    for count in (1, 2, 3, 7):
        owners = [[i for i in range(1, count + 1) if Shard(i, count).owns(uid)] for uid in ids]
        assert all(len(owner) == 1 for owner in owners)
        sizes = np.bincount([owner[0] for owner in owners], minlength=count + 1)[1:]
        assert sizes.min() > 0.8 * len(ids) / count  # balanced
    # pinned: a different assignment would move utterances between shards and void every shard's cache
    assert [shard_of(uid, 3) for uid in ("arctic_a0010-m0", "arctic_a0010-m1", "jfk-m0", "jfk-m1")] == [1, 2, 1, 1]


def test_shards_hold_their_own_utterances_and_cache_on_their_own(runs, prepared, tiny_bert, tmp_path):
    _, sharded, outputs = runs
    split_of = _manifest_ids(prepared)
    seen = []
    for i in (1, 2, 3):
        for split in SPLITS:
            with h5py.File(sharded / "artifacts" / f"transcribe_{split}.shard-{i}-of-3.h5", "r") as f:
                assert all(split_of[uid] == split and shard_of(uid, 3) == i for uid in f)
                seen += list(f)
        assert (sharded / "reports" / "transcribe" / f"transcripts_train.shard-{i}-of-3.tsv").exists()
        assert (sharded / "logs" / f"transcribe.shard-{i}-of-3.log").exists()
    assert sorted(seen) == sorted(split_of)
    assert all(any(shard_of(uid, 3) == i for uid in seen) for i in (1, 2, 3))  # none empty
    assert "transcribe train: merged 3 shards" in outputs[3]  # the first text shard merged the transcripts
    quiet = Path(shutil.copytree(sharded, tmp_path / "quiet"))
    (quiet / "artifacts" / "transcribe_test.h5").unlink()
    assert "merged" not in _cli("featurize", "--text", "--text-model", tiny_bert, "--batch-size", "1", "--shard",
                                "1/3", "-w", quiet, "-q")  # it merges again, as quietly as the command
    assert (quiet / "artifacts" / "transcribe_test.h5").exists()
    assert not list((sharded / "artifacts").glob(".*.pending"))
    rerun = Path(shutil.copytree(sharded, tmp_path / "w"))
    again = _cli("featurize", "--text", "--text-model", tiny_bert, "--batch-size", "1", "--shard", "2/3", "-w", rerun)
    train = len([uid for uid, split in split_of.items() if split == "train" and shard_of(uid, 3) == 2])
    assert f"text train: {train} cached, 0 computed" in again


@pytest.mark.parametrize("stage", ["transcribe", "text"])
def test_merged_artifact_equals_an_unsharded_run_without_copying(runs, stage):
    whole, sharded, outputs = runs
    assert f"{stage} train: 3 shards, 14 utterances" in outputs[-1]
    for split in SPLITS:
        _assert_same_artifact(sharded, whole, stage, split)
    with h5py.File(sharded / "artifacts" / f"{stage}_train.h5", "r") as f:
        datasets = [d for group in f.values() for d in group.values()]
        assert datasets and all(d.is_virtual for d in datasets)
        assert {s.file_name for d in datasets for s in d.virtual_sources()} == \
            {f"{stage}_train.shard-{i}-of-3.h5" for i in (1, 2, 3)}  # relative: the folder can move


def test_a_moved_workdir_reads_the_same_features(runs, tmp_path, monkeypatch):
    whole, sharded, _ = runs
    first = Path(shutil.copytree(sharded, tmp_path / "first"))
    _cli("merge", "-w", first, "-q")
    moved = tmp_path / "elsewhere" / "w"
    moved.parent.mkdir()
    first.rename(moved)
    merged = moved / "artifacts" / "text_train.h5"
    written = merged.stat().st_mtime_ns
    monkeypatch.chdir(tmp_path)
    expected = load_text_features(Workdir(whole), "train")
    features = load_text_features(Workdir(moved), "train")
    assert merged.stat().st_mtime_ns == written  # read as it is, not merged again
    assert features.items.keys() == expected.items.keys()
    for uid, item in expected.items.items():
        np.testing.assert_array_equal(features.items[uid].features, item.features)
        np.testing.assert_array_equal(features.items[uid].token_times, item.token_times)


def test_unsharded_rerun_over_a_merge_reuses_it_and_stands_alone(runs, tmp_path):
    """The store's commit copies a merged group's virtual datasets as data: the shards can then go."""
    whole, sharded, _ = runs
    workdir = Path(shutil.copytree(sharded, tmp_path / "w"))
    assert "transcribe train: 14 cached, 0 computed" in _cli("transcribe", "-w", workdir)
    for path in (workdir / "artifacts").glob("transcribe_*.shard-*.h5"):
        path.unlink()
    for split in SPLITS:
        _assert_same_artifact(workdir, whole, "transcribe", split)
        with h5py.File(workdir / "artifacts" / f"transcribe_{split}.h5", "r") as f:
            assert MERGED_FROM not in f.attrs
            assert not any(d.is_virtual for group in f.values() for d in group.values())


def _sharded_transcripts(prepared, tmp_path, shards=(1, 2, 3)):
    workdir = Path(shutil.copytree(prepared, tmp_path / "w"))
    for i in shards:
        _cli("transcribe", "--shard", f"{i}/3", "-w", workdir, "-q")
    return workdir


def test_missing_shard_is_named_by_merge_and_by_the_next_stage(prepared, tiny_bert, tmp_path):
    workdir = _sharded_transcripts(prepared, tmp_path, shards=(1, 3))
    result = run_cli("merge", "-w", workdir)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output == "error: transcribe test: shard 2/3 missing (no transcribe_test.shard-2-of-3.h5): run it " \
                            "with --shard I/3\n"
    result = run_cli("featurize", "--text", "--text-model", tiny_bert, "-w", workdir)
    assert result.exit_code == 2 and "shard 2/3 missing" in result.output
    assert not (workdir / "artifacts" / "transcribe_train.h5").exists()


def test_merge_refuses_over_an_unsharded_artifact_unless_forced(prepared, tmp_path):
    workdir = _sharded_transcripts(prepared, tmp_path)
    _cli("transcribe", "-w", workdir, "--force", "-q")  # an unsharded run writes transcribe_*.h5 itself
    result = run_cli("merge", "--stage", "transcribe", "-w", workdir)
    assert result.exit_code == 2 and "was not merged from shards: `cmkt merge --force` replaces it" in result.output
    assert "transcribe train: 3 shards" in _cli("merge", "--stage", "transcribe", "--force", "-w", workdir)
    assert "transcribe train: 3 shards" in _cli("merge", "--stage", "transcribe", "-w", workdir)  # a merge: replaced
    result = run_cli("merge", "--stage", "lips", "-w", workdir)
    assert result.exit_code == 2 and "no shard files of lips" in result.output
    assert run_cli("merge", "--stage", "nope", "-w", workdir).exit_code == 2


def test_changed_shards_are_merged_again_and_missing_ones_refused(prepared, tmp_path, capsys):
    workdir = _sharded_transcripts(prepared, tmp_path)
    _cli("merge", "-w", workdir, "-q")
    artifacts = workdir / "artifacts"
    (artifacts / "transcribe_train.shard-2-of-3.h5").touch()  # as a rerun of shard 2 would leave it
    capsys.readouterr()
    open_artifact(Workdir(workdir), "transcribe", "train").close()
    assert "transcribe train: merged 3 shards (14 utterances)" in capsys.readouterr().err
    (artifacts / "transcribe_train.shard-1-of-3.h5").rename(tmp_path / "away.h5")
    with pytest.raises(BadInput, match="shard 1/3 missing"):
        open_artifact(Workdir(workdir), "transcribe", "train")
    for path in artifacts.glob("transcribe_train.shard-*"):
        path.unlink()
    with pytest.raises(BadInput, match="reads its data from shard files that are gone"):
        open_artifact(Workdir(workdir), "transcribe", "train")  # not the fill values HDF5 would return


def test_shards_must_agree_and_be_finished(tmp_path):
    workdir = Workdir(tmp_path)
    for i, config in ((1, {"model": "a"}), (2, {"model": "b"})):
        store = ArtifactStore(workdir, "demo", "train", config, shard=Shard(i, 2))
        store.put(f"u{i}", "sum", {"x": np.zeros(3, np.float32)}, {})
        store.commit()
    with pytest.raises(BadInput, match="demo train: the shards were made with different settings"):
        merge_split(workdir, "demo", "train")
    pending = ArtifactStore(workdir, "demo", "train", {"model": "a"}, shard=Shard(2, 2))
    pending.put("u2", "sum", {"x": np.zeros(3, np.float32)}, {})  # a job still running (or killed)
    assert workdir.pending("demo", "train", Shard(2, 2)).name == ".demo_train.shard-2-of-2.pending"
    with pytest.raises(BadInput, match="shard 2/2 has unfinished work"):
        merge_split(workdir, "demo", "train")
    pending.commit()
    assert merge_split(workdir, "demo", "train").items == 2


def test_shard_jobs_share_the_workdir_but_not_a_shard(prepared, tmp_path):
    workdir = Path(shutil.copytree(prepared, tmp_path / "w"))
    place = Workdir(workdir)
    with WorkdirLock(place.lock_file, shared=True), WorkdirLock(place.shard_lock_file("transcribe", Shard(2, 3))):
        result = run_cli("transcribe", "--shard", "2/3", "-w", workdir)
        assert result.exit_code == 2 and "in use by another cmkt process" in result.output
        result = run_cli("transcribe", "-w", workdir)
        assert result.exit_code == 2 and "(pid unknown, maybe --shard jobs)" in result.output
        _cli("transcribe", "--shard", "1/3", "-w", workdir, "-q")
    with pytest.raises(WorkdirBusy):
        with WorkdirLock(place.lock_file), WorkdirLock(place.lock_file, shared=True):
            pass


@pytest.mark.slow
def test_lip_shards_merge_transparently_for_the_reader(tmp_path):
    """Two GRID clips, one per shard of 2; the training reader merges them by itself (~20 s: MediaPipe)."""
    clips = tmp_path / "clips"
    clips.mkdir()
    for name in ("bbaf2n.mpg", "brbk7n.mpg"):  # shards 2 and 1 of 2
        shutil.copy(shared(f"grid/{name}"), clips / name)
    whole = tmp_path / "whole"
    _cli("prepare", clips, "--noise", shared("noise"), "--snr", "0", "--split", "1,0,0", "--split-by", "file",
         "-w", whole, "-q")
    sharded = Path(shutil.copytree(whole, tmp_path / "sharded"))
    _cli("featurize", "--lips", "-w", whole, "-q")
    for i in (1, 2):
        assert "lips train: 0 cached, 1 computed" in _cli("featurize", "--lips", "--shard", f"{i}/2", "-w", sharded)
    features = load_lip_features(Workdir(sharded), "train")
    expected = load_lip_features(Workdir(whole), "train")
    assert features.items.keys() == expected.items.keys() == {"bbaf2n", "brbk7n"}
    _assert_same_artifact(sharded, whole, "lips", "train")
