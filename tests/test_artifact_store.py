"""The HDF5 artifact store: caching by input and config, pruning, and surviving interrupted runs."""

import h5py
import numpy as np
import pytest

from pipelines import __version__
from pipelines.artifacts import ArtifactStore, Workdir, WorkdirLock, open_artifact
from pipelines.errors import BadInput, WorkdirBusy
from tests.conftest import run_cli, speech_like, write_wav


def _put(store, uid, checksum, value):
    store.put(uid, checksum, {"x": np.full(4, value, dtype=np.float32)}, {"note": f"v{value}"})


def test_entries_record_what_produced_them(tmp_path):
    workdir = Workdir(tmp_path)
    store = ArtifactStore(workdir, "demo", "train", {"n_fft": 510})
    assert not store.is_cached("a", "sum-a")
    _put(store, "a", "sum-a", 1.0)
    store.commit()
    with open_artifact(workdir, "demo", "train") as f:
        group = f["a"]
        assert group["x"][()].tolist() == [1.0] * 4
        assert group.attrs["input_checksum"] == "sum-a"
        assert group.attrs["cmkt_version"] == __version__
        assert '"n_fft":510' in group.attrs["config"]
        assert f.attrs["stage"] == "demo"


def test_cache_hits_only_for_same_input_and_config(tmp_path):
    workdir = Workdir(tmp_path)
    store = ArtifactStore(workdir, "demo", "train", {"n_fft": 510})
    _put(store, "a", "sum-a", 1.0)
    store.commit()
    assert ArtifactStore(workdir, "demo", "train", {"n_fft": 510}).is_cached("a", "sum-a")
    assert not ArtifactStore(workdir, "demo", "train", {"n_fft": 510}).is_cached("a", "changed")
    assert not ArtifactStore(workdir, "demo", "train", {"n_fft": 1024}).is_cached("a", "sum-a")
    assert not ArtifactStore(workdir, "demo", "train", {"n_fft": 510}, force=True).is_cached("a", "sum-a")


def test_commit_keeps_this_runs_items_and_drops_stale_ones(tmp_path):
    workdir = Workdir(tmp_path)
    first = ArtifactStore(workdir, "demo", "train", {})
    _put(first, "a", "1", 1.0)
    _put(first, "b", "1", 2.0)
    first.commit()
    second = ArtifactStore(workdir, "demo", "train", {})
    assert second.is_cached("a", "1")
    _put(second, "c", "1", 3.0)
    second.commit()
    with open_artifact(workdir, "demo", "train") as f:
        assert sorted(f) == ["a", "c"]
        assert f["a"]["x"][0] == 1.0


def test_uncommitted_items_survive_and_are_reused(tmp_path):
    """A run that dies before commit leaves its finished items pending; the next run finds them."""
    workdir = Workdir(tmp_path)
    dying = ArtifactStore(workdir, "demo", "train", {})
    _put(dying, "a", "1", 1.0)
    (workdir.pending("demo", "train") / ".b.0123.tmp").write_bytes(b"half-written")  # killed mid-write
    rerun = ArtifactStore(workdir, "demo", "train", {})
    assert rerun.is_cached("a", "1")
    assert not rerun.is_cached("b", "1")
    _put(rerun, "b", "1", 2.0)
    rerun.commit()
    assert not workdir.pending("demo", "train").exists()
    with open_artifact(workdir, "demo", "train") as f:
        assert sorted(f) == ["a", "b"]


def test_reading_a_stage_that_never_ran_says_what_to_do(tmp_path):
    with pytest.raises(BadInput, match="run `cmkt featurize` first"):
        open_artifact(Workdir(tmp_path), "featurize", "train")


def test_rejects_unsafe_ids(tmp_path):
    store = ArtifactStore(Workdir(tmp_path), "demo", "train", {})
    with pytest.raises(ValueError):
        _put(store, "../escape", "1", 1.0)


def test_second_holder_of_a_workdir_is_refused(tmp_path):
    lock_file = Workdir(tmp_path).lock_file
    with WorkdirLock(lock_file):
        with pytest.raises(WorkdirBusy, match="in use by another cmkt process"):
            with WorkdirLock(lock_file):
                pass
    with WorkdirLock(lock_file):  # released on exit
        pass


def test_committed_file_is_plain_hdf5(tmp_path):
    workdir = Workdir(tmp_path)
    store = ArtifactStore(workdir, "demo", "test", {})
    _put(store, "a", "1", 1.0)
    path = store.commit()
    with h5py.File(path, "r") as f:
        assert f["a/x"].dtype == np.float32


def test_a_damaged_or_edited_artifact_is_one_line_naming_the_stage_to_rerun(tmp_path):
    """A later stage reading a truncated artifact, or one with a dataset deleted, exits 2 with one line; rerunning
    the stage that wrote it repairs it (an unreadable file is moved aside with a warning)."""
    for k in range(2):
        write_wav(tmp_path / "clean" / f"u{k}.wav", speech_like(1.0, seed=k))
    write_wav(tmp_path / "noise" / "n.wav", (0.05 * np.random.default_rng(0).standard_normal(32_000)).astype(np.float32))
    workdir = tmp_path / "w"
    prepare = ["prepare", tmp_path / "clean", "--noise", tmp_path / "noise", "--split", "0.5,0,0.5", "--split-by",
               "file", "-w", workdir, "-q"]
    assert run_cli(*prepare).exit_code == 0
    artifact = workdir / "artifacts" / "prepare_test.h5"

    def score_fails(reason: str) -> None:
        result = run_cli("score", "-w", workdir, "--split", "test", "-q")
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "prepare_test.h5 is damaged" in lines[0]
        assert reason in lines[0] and "rerun `cmkt prepare`" in lines[0]

    with h5py.File(artifact, "a") as f:
        uid, = list(f)
        del f[uid]["noisy"]
    score_fails("item u1: it holds datasets ['clean'], its checksums list ['clean', 'noisy']")
    assert run_cli(*prepare).exit_code == 0  # the edited entry is computed again
    with h5py.File(artifact, "r") as f:
        assert "noisy" in f[uid]

    data = artifact.read_bytes()
    artifact.write_bytes(data[: len(data) // 2])
    score_fails("truncated file")
    rerun = run_cli(*prepare)
    assert rerun.exit_code == 0 and "prepare_test.h5.damaged" in rerun.output
    with h5py.File(artifact, "r") as f:
        assert "noisy" in f[uid]


def _prepared_two(tmp_path):
    """A prepared workdir of two utterances, both in train, and the command that made it."""
    for k in range(2):
        write_wav(tmp_path / "clean" / f"u{k}.wav", speech_like(1.0, seed=k))
    noise = 0.05 * np.random.default_rng(0).standard_normal(32_000)
    write_wav(tmp_path / "noise" / "n.wav", noise.astype(np.float32))
    prepare = ["prepare", tmp_path / "clean", "--noise", tmp_path / "noise", "--split", "1,0,0", "-w", tmp_path / "w"]
    assert run_cli(*prepare, "-q").exit_code == 0
    return tmp_path / "w", tmp_path / "w" / "artifacts" / "prepare_train.h5", prepare


def _later_stage_refuses(workdir, says: str) -> None:
    result = run_cli("train", "-w", workdir, "--max-steps", "1", "--preset", "small", "-q")
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "prepare_train.h5" in lines[0] and "rerun `cmkt prepare`" in lines[0] and says in lines[0], lines[0]


def _rerun_recomputes(prepare, says: str) -> str:
    result = run_cli(*prepare)
    assert result.exit_code == 0 and "1 cached, 1 computed" in result.output and says in result.output, result.output
    return result.output


def test_a_bit_flip_in_a_dataset_is_recomputed_by_its_stage_and_refused_by_the_next(tmp_path):
    """256 bytes flipped in the middle of one utterance's noisy samples, found with h5py's get_offset, the HDF5
    header untouched: the rerun of prepare warns naming it and computes it again; training refuses it first."""
    workdir, artifact, prepare = _prepared_two(tmp_path)
    with h5py.File(artifact, "r") as f:
        clean_copy = f["u0"]["noisy"][()]
        offset, size = f["u0"]["noisy"].id.get_offset(), f["u0"]["noisy"].id.get_storage_size()
    with open(artifact, "r+b") as raw:
        raw.seek(offset + size // 2)
        flipped = bytes(b ^ 0xFF for b in raw.read(256))
        raw.seek(offset + size // 2)
        raw.write(flipped)
    with h5py.File(artifact, "r") as f:
        assert np.abs(f["u0"]["noisy"][()] - clean_copy).max() > 1  # the damage is real
    _later_stage_refuses(workdir, "the data of 'noisy' differ from their checksum")
    output = _rerun_recomputes(prepare, "u0 in")
    assert "damaged or was edited" in output
    with h5py.File(artifact, "r") as f:
        np.testing.assert_array_equal(f["u0"]["noisy"][()], clean_copy)


def test_an_edited_attribute_is_noticed(tmp_path):
    workdir, artifact, prepare = _prepared_two(tmp_path)
    with h5py.File(artifact, "a") as f:
        right = float(f["u1"].attrs["duration_s"])
        f["u1"].attrs["duration_s"] = 999.0
    _later_stage_refuses(workdir, "its attributes differ from their checksum")
    _rerun_recomputes(prepare, "u1 in")
    with h5py.File(artifact, "r") as f:
        assert float(f["u1"].attrs["duration_s"]) == right


def _as_written_by(artifact, version: str, form: int) -> None:
    """Every item of `artifact` as another cmkt version would have written it: its own version and format, its
    checksums intact (made by that version)."""
    from pipelines.artifacts.integrity import FORMAT_ATTRIBUTE, sign

    with h5py.File(artifact, "a") as f:
        for group in f.values():
            group.attrs["cmkt_version"] = version
            group.attrs[FORMAT_ATTRIBUTE] = form
            sign(group)


def test_another_version_is_reused_when_its_format_is_ours_and_recomputed_when_not(tmp_path):
    from pipelines.artifacts.integrity import FORMAT

    workdir, artifact, prepare = _prepared_two(tmp_path)
    _as_written_by(artifact, "0.0.1-foreign", FORMAT)
    result = run_cli(*prepare)
    assert result.exit_code == 0 and "2 cached, 0 computed" in result.output
    assert "2 items written by cmkt 0.0.1-foreign reused: same artifact format" in result.output

    _as_written_by(artifact, "9.0-future", FORMAT + 1)
    _later_stage_refuses(workdir, f"written by cmkt 9.0-future in artifact format {FORMAT + 1}")
    result = run_cli(*prepare)
    assert result.exit_code == 0 and "0 cached, 2 computed" in result.output
    assert f"2 items written by cmkt 9.0-future in artifact format {FORMAT + 1}" in result.output
    with h5py.File(artifact, "r") as f:
        assert {str(g.attrs["cmkt_version"]) for g in f.values()} == {__version__}

    with h5py.File(artifact, "a") as f:  # an edited version, checksums not redone: an edit, not another version
        f["u0"].attrs["cmkt_version"] = "0.0.1-foreign"
    _later_stage_refuses(workdir, "its attributes differ from their checksum")
    _rerun_recomputes(prepare, "u0 in")

    with h5py.File(artifact, "a") as f:  # the same of the artifact's own attributes
        f.attrs["cmkt_version"] = "0.0.1-foreign"
    _later_stage_refuses(workdir, "its attributes differ from their checksum")
    result = run_cli(*prepare)
    assert result.exit_code == 0 and "its own attributes are damaged or were edited" in result.output
    with h5py.File(artifact, "r") as f:
        assert f.attrs["cmkt_version"] == __version__


def test_an_artifact_written_before_checksums_still_loads_and_says_so_once(tmp_path, capsys):
    from pipelines.artifacts.integrity import CHECKSUMS, FORMAT_ATTRIBUTE

    workdir, artifact, prepare = _prepared_two(tmp_path)
    with h5py.File(artifact, "a") as f:
        for target in (f, *f.values()):
            for name in (CHECKSUMS, FORMAT_ATTRIBUTE):
                if name in target.attrs:
                    del target.attrs[name]
    rerun = run_cli(*prepare)
    assert rerun.exit_code == 0 and "2 cached, 0 computed" in rerun.output
    assert rerun.output.count("written before artifacts had checksums") == 1
    capsys.readouterr()
    for _ in range(2):  # outside a command too (a bench script's reads), once per process, not once per item
        with open_artifact(Workdir(workdir), "prepare", "train") as f:
            for uid in f:
                assert f[uid]["noisy"].shape[0] == 16_000
    assert capsys.readouterr().err.count("written before artifacts had checksums") == 1


def test_ctrl_c_in_a_stage_of_several_splits_commits_and_counts_them_all(tmp_path):
    """F11: featurize --lips works on every split at once; a Ctrl-C counted only the last split's items."""
    from pipelines.errors import Interrupted
    from pipelines.stages.runner import StageReport, committing_all

    runs = [(ArtifactStore(Workdir(tmp_path / "w"), "lips", split, {}), StageReport("lips", split))
            for split in ("train", "valid")]
    with pytest.raises(Interrupted) as stopped, committing_all(runs):
        for k in range(2):
            runs[0][0].is_cached(f"u{k}", "c")
            _put(runs[0][0], f"u{k}", "c", k)
            runs[0][1].computed += 1
        raise KeyboardInterrupt
    assert str(stopped.value) == "lips train, valid interrupted: 2 items saved (train 2, valid 0); rerun to resume"
    with open_artifact(Workdir(tmp_path / "w"), "lips", "train") as saved:
        assert sorted(saved) == ["u0", "u1"]
