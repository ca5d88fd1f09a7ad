"""One rule for every file cmkt writes (pipelines/atomic.py): never through a symbolic link below the output folder,
never over one of the command's own inputs, `-o FILE` only replaced with --force. Every command that writes is run
with a link planted where it writes, pointing at a folder of files it must not touch: exit 2, one line, and the
folder unchanged."""

import json
import shutil
from pathlib import Path

import pytest

from pipelines.artifacts import ArtifactStore, Workdir
from pipelines.artifacts.shards import Shard
from tests.conftest import random_checkpoint, run_cli, shared, speech_like, write_wav


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def place(prepared, tmp_path) -> dict[str, Path]:
    """A copy of a prepared workdir (4 train, 2 valid utterances), a folder of speech files, a checkpoint, and the
    victim: a folder of files nothing may touch."""
    workdir = tmp_path / "w"
    shutil.copytree(prepared, workdir, ignore=shutil.ignore_patterns("train", "enhanced", "reports"))
    victim = tmp_path / "victim"
    write_wav(victim / "keep.wav", speech_like(0.3))
    for name in ("keep.png", "keep.json", "keep.pt"):
        (victim / name).write_text("the user's own file")
    write_wav(tmp_path / "in" / "sub" / "a.wav", speech_like(1.0))
    return {"tmp": tmp_path, "w": workdir, "victim": victim, "in": tmp_path / "in",
            "ckpt": random_checkpoint(tmp_path / "model.ckpt")}


def _artifacts_elsewhere(p: dict[str, Path]) -> Path:
    """The workdir's artifacts moved into the victim folder and linked back: readable through the link, never
    written through it."""
    artifacts = p["w"] / "artifacts"
    for path in artifacts.iterdir():
        shutil.move(path, p["victim"] / path.name)
    artifacts.rmdir()
    artifacts.symlink_to(p["victim"], target_is_directory=True)
    return artifacts


def _link(at: Path, to: Path) -> Path:
    at.parent.mkdir(parents=True, exist_ok=True)
    at.symlink_to(to, target_is_directory=to.is_dir())
    return at


def _given_transcripts(p: dict[str, Path]) -> None:
    manifest = p["w"] / "manifest.json"
    rows = json.loads(manifest.read_text())
    given = [{**row, "transcript": "hello there", "transcript_source": "given"} for row in rows]
    manifest.write_text(json.dumps(given))


def _fake_shards(p: dict[str, Path]) -> None:
    for index in (1, 2):
        store = ArtifactStore(Workdir(p["w"]), "text", "train", {"model": "x"}, shard=Shard(index, 2))
        store.is_cached(f"u{index}", "c")
        store.put(f"u{index}", "c", {"features": speech_like(0.1)}, {"text": "t"})
        store.commit()


# (what, how to plant the link, the command): every command that writes, and what it writes
CASES = {
    "prepare: artifacts folder": (lambda p: _link(p["tmp"] / "fresh" / "artifacts", p["victim"]),
                                  lambda p: ["prepare", p["in"], "--noise", shared("noise"), "-w", p["tmp"] / "fresh"]),
    "prepare: log file": (lambda p: _link(p["tmp"] / "fresh" / "logs" / "prepare.log", p["victim"] / "keep.json"),
                          lambda p: ["prepare", p["in"], "--noise", shared("noise"), "-w", p["tmp"] / "fresh"]),
    "transcribe": (_artifacts_elsewhere, lambda p: ["transcribe", "-w", p["w"]]),
    "featurize --text": (lambda p: (_given_transcripts(p), _artifacts_elsewhere(p)),
                         lambda p: ["featurize", "--text", "-w", p["w"]]),
    "featurize --lips": (_artifacts_elsewhere, lambda p: ["featurize", "--lips", "-w", p["w"]]),
    "merge": (lambda p: (_fake_shards(p), _artifacts_elsewhere(p)), lambda p: ["merge", "-w", p["w"]]),
    "score -w": (_artifacts_elsewhere, lambda p: ["score", "-w", p["w"], "--split", "valid"]),
    "score --out": (lambda p: _link(p["tmp"] / "scores" / "sub.csv", p["victim"] / "keep.json"),
                    lambda p: ["score", "--enhanced", p["in"] / "sub", "--clean", p["in"] / "sub", "--out",
                               p["tmp"] / "scores", "-w", p["w"]]),
    "train: run folder": (lambda p: _link(p["w"] / "train", p["victim"]),
                          lambda p: ["train", "-w", p["w"], "--max-steps", "1", "--run-name", "r"]),
    "train: checkpoint": (lambda p: _link(p["w"] / "train" / "r" / "last.ckpt", p["victim"] / "keep.pt"),
                          lambda p: ["train", "-w", p["w"], "--max-steps", "1", "--run-name", "r", "--force"]),
    "enhance a split": (lambda p: _link(p["w"] / "enhanced", p["victim"]),
                        lambda p: ["enhance", "-w", p["w"], "--split", "valid", "--ckpt", p["ckpt"]]),
    "enhance: linked sub-folder": (lambda p: _link(p["tmp"] / "out" / "sub", p["victim"]),
                                   lambda p: ["enhance", p["in"], "-o", p["tmp"] / "out", "--ckpt", p["ckpt"],
                                              "-w", p["w"]]),
    "enhance --plot: PNG": (lambda p: _link(p["tmp"] / "out" / "sub" / "a.png", p["victim"] / "keep.png"),
                            lambda p: ["enhance", p["in"], "-o", p["tmp"] / "out", "--ckpt", p["ckpt"], "--plot",
                                       "-w", p["w"]]),
    "enhance: model.json": (lambda p: _link(p["tmp"] / "out" / "model.json", p["victim"] / "keep.json"),
                            lambda p: ["enhance", p["in"], "-o", p["tmp"] / "out", "--ckpt", p["ckpt"], "-w", p["w"]]),
    "enhance a file beside itself": (lambda p: _link(p["in"] / "sub" / "a_enhanced.wav", p["victim"] / "keep.wav"),
                                     lambda p: ["enhance", p["in"] / "sub" / "a.wav", "--ckpt", p["ckpt"],
                                                "-w", p["w"]]),
    "report: audio folder": (lambda p: _link(p["tmp"] / "report" / "audio", p["victim"]),
                             lambda p: ["report", p["in"] / "sub", "-o", p["tmp"] / "report"]),
    "report: index.html": (lambda p: _link(p["tmp"] / "report" / "index.html", p["victim"] / "keep.json"),
                           lambda p: ["report", p["in"] / "sub", "-o", p["tmp"] / "report"]),
    "export": (lambda p: _link(p["tmp"] / "model.pt", p["victim"] / "keep.pt"),
               lambda p: ["export", p["ckpt"], "-o", p["tmp"] / "model.pt", "--force"]),
    "import-checkpoint": (lambda p: _link(p["tmp"] / "model.pt", p["victim"] / "keep.pt"),
                          lambda p: ["import-checkpoint", shared("interop/sgmse/model.ckpt"), "-o",
                                     p["tmp"] / "model.pt", "--force"]),
    "run": (lambda p: _link(p["tmp"] / "fresh" / "artifacts", p["victim"]),
            lambda p: ["run", p["in"], "--noise", shared("noise"), "--max-steps", "1", "-w", p["tmp"] / "fresh"]),
}


@pytest.mark.parametrize("case", CASES)
def test_no_command_writes_through_a_link_below_its_output_folder(place, case):
    plant, command = CASES[case]
    plant(place)
    before = _snapshot(place["victim"])
    result = run_cli(*command(place))
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 2 and len(lines) == 1 and "symbolic link" in lines[0], result.output
    assert _snapshot(place["victim"]) == before


@pytest.mark.parametrize("command", ["export", "import-checkpoint"])
def test_an_output_file_is_never_the_input_and_is_replaced_only_with_force(tmp_path, command):
    source = random_checkpoint(tmp_path / "model.ckpt") if command == "export" else tmp_path / "upstream.ckpt"
    if command == "import-checkpoint":
        shutil.copy(shared("interop/sgmse/model.ckpt"), source)
    before = source.read_bytes()
    for extra in ([], ["--force"]):
        result = run_cli(command, source, "-o", source, *extra)
        assert result.exit_code == 2 and "would overwrite its input" in result.output, result.output
        assert source.read_bytes() == before
    out = tmp_path / "out.pt"
    out.write_text("an earlier file")
    result = run_cli(command, source, "-o", out)
    assert result.exit_code == 2 and "--force replaces it" in result.output and out.read_text() == "an earlier file"
    assert run_cli(command, source, "-o", out, "--force", "-q").exit_code == 0 and out.stat().st_size > 1000
    result = run_cli(command, source, "-o", tmp_path)
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and "this is a folder" in lines[0], result.output


def test_train_force_never_deletes_its_own_init_from_model(prepared, tmp_path):
    workdir = tmp_path / "w"
    shutil.copytree(prepared, workdir, ignore=shutil.ignore_patterns("train", "enhanced", "reports"))
    start = random_checkpoint(workdir / "train" / "r" / "start.ckpt")
    result = run_cli("train", "-w", workdir, "--run-name", "r", "--max-steps", "1", "--init-from", start, "--force")
    assert result.exit_code == 2 and "its input" in result.output and start.exists()
