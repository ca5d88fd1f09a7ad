"""Bad inputs, faults and hostile files against the real CLI, counted the way issue 13's probe counted them.

Each case builds its inputs in a fresh folder, runs `cmkt` as a user would (a subprocess), and is *handled*
when the command exits with the code it should, says so in one line with no traceback, and a case-specific
check holds (no payload ran, nothing finished was lost, nothing written where it must not be).
    python -m bench.reliability_probe [--out bench/results/reliability-probe.json] [--first 33]  (33: issue 25's)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf
import torch

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("CMKT_SHARED_DATA", ROOT.parent / "shared" / "data"))
MODEL = ROOT / "pipelines" / "weights" / "cmkt-a-small-debian.pt"
SPEECH = DATA / "speech_en"


def cmkt(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cmkt_cli.main", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT)


def clip(folder: Path, name: str = "a.wav", seconds: float = 1.0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    samples, rate = sf.read(SPEECH / "arctic_a0010.wav", dtype="float32")
    sf.write(folder / name, samples[: int(seconds * rate)], rate)
    return folder / name


class RunsCode:
    """Unpickling this runs a shell command: a hostile file's payload."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def hostile_model(tmp: Path) -> Path:
    payload = torch.load(MODEL, map_location="cpu", weights_only=True)
    payload["card"] = {"note": RunsCode(tmp / "pwned")}
    torch.save(payload, tmp / "evil.pt")
    return tmp / "evil.pt"


def edited_model(tmp: Path, edit: Callable[[dict], None]) -> Path:
    payload = torch.load(MODEL, map_location="cpu", weights_only=True)
    edit(payload)
    torch.save(payload, tmp / "edited.pt")
    return tmp / "edited.pt"


def _first_weight(payload: dict) -> str:
    return next(key for key, value in payload["weights"].items() if value.ndim > 1)


def nan_weights(payload: dict) -> None:
    payload["weights"] = {key: torch.full_like(value, float("nan")) if value.is_floating_point() else value
                          for key, value in payload["weights"].items()}


def renamed_keys(payload: dict) -> None:
    payload["weights"] = {f"renamed.{key}": value for key, value in payload["weights"].items()}


def wrong_shape(payload: dict) -> None:
    key = _first_weight(payload)
    payload["weights"][key] = payload["weights"][key][:1]


def prepared(tmp: Path) -> Path:
    """A finished prepare: two clean clips and a noise, all in train."""
    for k in range(2):
        clip(tmp / "clean", f"c{k}.wav")
    (tmp / "noise").mkdir()
    shutil.copy(min((DATA / "noise").iterdir()), tmp / "noise" / "n.wav")
    done = cmkt("prepare", tmp / "clean", "--noise", tmp / "noise", "--split", "1,0,0", "-w", tmp / "w", "-q")
    assert done.returncode == 0, done.stderr
    return tmp / "w"


def group_count(artifact: Path) -> int:
    import h5py

    with h5py.File(artifact, "r") as f:
        return len(f)


@dataclass
class Case:
    kind: str
    name: str
    run: Callable[[Path], tuple[subprocess.CompletedProcess, bool]]
    code: int = 2
    error_lines: int = 1  # 0: the bad file fails alone, with a warning, and the others are saved (exit 2 at the end)


def _plain(args: Callable[[Path], list]) -> Callable[[Path], tuple[subprocess.CompletedProcess, bool]]:
    return lambda tmp: (cmkt(*args(tmp)), True)


def _enhance_with(make: Callable[[Path], Path]):
    def run(tmp: Path):
        model = make(tmp)
        result = cmkt("enhance", clip(tmp / "in"), "-o", tmp / "out", "--ckpt", model, "-w", tmp / "w")
        return result, not (tmp / "pwned").exists() and not any((tmp / "out").glob("*.wav"))
    return run


def _rerun_keeps(args: Callable[[Path, Path], list]):
    def run(tmp: Path):
        workdir = prepared(tmp)
        artifact = workdir / "artifacts" / "prepare_train.h5"
        before = group_count(artifact)
        result = cmkt(*args(tmp, workdir))
        return result, group_count(artifact) == before
    return run


def _damaged(damage: Callable[[Path], None]):
    def run(tmp: Path):
        workdir = prepared(tmp)
        damage(workdir / "artifacts" / "prepare_train.h5")
        result = cmkt("train", "-w", workdir, "--max-steps", "1", "--preset", "small")
        return result, "cmkt prepare" in result.stderr
    return run


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def delete_dataset(path: Path) -> None:
    import h5py

    with h5py.File(path, "a") as f:
        del f[next(iter(f))]["noisy"]


def _run_name(name: str):
    def run(tmp: Path):
        workdir = prepared(tmp)
        (tmp / "keep.txt").write_text("finished")
        result = cmkt("train", "-w", workdir, "--max-steps", "1", "--run-name", name, "--force")
        return result, (tmp / "keep.txt").exists() and (workdir / "manifest.csv").exists()
    return run


def _hostile_resume(tmp: Path):
    workdir = prepared(tmp)
    (workdir / "train" / "r").mkdir(parents=True)
    shutil.copy(hostile_model(tmp), workdir / "train" / "r" / "last.ckpt")
    result = cmkt("train", "-w", workdir, "--max-steps", "1", "--run-name", "r", "--resume")
    return result, not (tmp / "pwned").exists()


def _symlinked_output(tmp: Path):
    victim = clip(tmp / "elsewhere", "keep.wav")
    before = victim.read_bytes()
    (tmp / "out").mkdir()
    (tmp / "out" / "a.wav").symlink_to(victim)
    result = cmkt("enhance", clip(tmp / "in"), "-o", tmp / "out", "-w", tmp / "w")
    return result, victim.read_bytes() == before


def _output_is_input(tmp: Path):
    source = clip(tmp / "in")
    before = source.read_bytes()
    result = cmkt("enhance", tmp / "in", "-o", tmp / "in", "-w", tmp / "w")
    return result, source.read_bytes() == before


def _colliding_names(tmp: Path):
    for name in ("a b.wav", "a_b.wav", "ü.wav", "é.wav"):
        clip(tmp / "clean", name)
        clip(tmp / "enh", name)
    result = cmkt("score", "--enhanced", tmp / "enh", "--clean", tmp / "clean", "-w", tmp / "w", "-q")
    return result, "over 4 files" in result.stderr


def _unicode_corpus(tmp: Path):
    for name in ("语音.wav", "řeč.wav"):
        clip(tmp / "clean", name)
    clip(tmp / "noise", "n.wav", seconds=2.0)
    result = cmkt("prepare", tmp / "clean", "--noise", tmp / "noise", "--split", "1,0,0", "-w", tmp / "w", "-q")
    manifest = (tmp / "w" / "manifest.csv").read_text(encoding="utf-8") if result.returncode == 0 else ""
    return result, "语音" in manifest and "řeč" in manifest


def _short_noise(tmp: Path):
    clip(tmp / "clean")
    (tmp / "noise").mkdir()
    sf.write(tmp / "noise" / "n.wav", np.full(5, 0.1, dtype=np.float32), 16000)
    return cmkt("prepare", tmp / "clean", "--noise", tmp / "noise", "-w", tmp / "w"), True


def _mp3_in_folder(tmp: Path):
    import av

    source, rate = sf.read(SPEECH / "arctic_a0010.wav", dtype="float32")
    (tmp / "in").mkdir()
    with av.open(str(tmp / "in" / "a.mp3"), "w") as out:
        stream = out.add_stream("mp3", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(source[None, :], format="flt", layout="mono")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    result = cmkt("enhance", tmp / "in", "-o", tmp / "out", "-w", tmp / "w", "-q")
    return result, (tmp / "out" / "a.wav").exists()


def _unwritable(tmp: Path):
    (tmp / "file").write_text("x")
    return cmkt("enhance", clip(tmp / "in"), "-o", tmp / "file" / "out", "-w", tmp / "w"), True


def _workdir_under_a_file(tmp: Path):
    (tmp / "file").write_text("x")
    return cmkt("prepare", clip(tmp / "clean").parent, "-w", tmp / "file" / "w"), True


def _full_disk(tmp: Path):
    """Enhancing onto a 100 kB disk: an output that fits is kept whole (finished work), none is left half-written."""
    return _on_a_full_disk(tmp, "100k", lambda disk: ["enhance", clip(tmp / "in", seconds=3.0), "-o", disk / "out",
                                                       "-w", tmp / "w"])


def _lips_without_video(tmp: Path):
    result = cmkt("featurize", "--lips", "-w", prepared(tmp), "-q")
    return result, True


def _busy_workdir(tmp: Path):
    from pipelines.artifacts import Workdir, WorkdirLock

    workdir = Workdir(tmp / "w").create()
    with WorkdirLock(workdir.lock_file):
        return cmkt("prepare", clip(tmp / "clean").parent, "-w", workdir.root), True


def _through_link(plant: Callable[[Path], tuple[Path, list]]):
    """A command run with a link planted where it writes, pointing at the user's own files (the `victim` folder):
    handled when it refuses (exit 2) and the victim is unchanged."""
    def run(tmp: Path):
        victim = tmp / "victim"
        clip(victim, "keep.wav")
        for name in ("keep.png", "keep.json"):
            (victim / name).write_text("the user's own file")
        link, args = plant(tmp)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(victim / {".png": "keep.png", ".json": "keep.json", ".html": "keep.json"}.get(link.suffix, ""))
        before = _files(victim)
        result = cmkt(*args)
        return result, _files(victim) == before
    return run


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _own_input(command: str):
    def run(tmp: Path):
        source = tmp / "model.ckpt"
        if command == "export":
            from pipelines.checkpoints import TrainingState, save_checkpoint
            from pipelines.enhancer import EnhancerConfig, SpeechEnhancer

            model = SpeechEnhancer(EnhancerConfig(preset="small"))
            save_checkpoint(source, model, model, torch.optim.Adam(model.parameters()), TrainingState(),
                            torch.Generator(), {})
        else:
            shutil.copy(DATA / "interop" / "sgmse" / "model.ckpt", source)
        before = source.read_bytes()
        return cmkt(command, source, "-o", source, "--force"), source.read_bytes() == before
    return run


def _existing_output(tmp: Path):
    (tmp / "model.pt").write_text("an earlier file")
    result = cmkt("import-checkpoint", DATA / "interop" / "sgmse" / "model.ckpt", "-o", tmp / "model.pt")
    return result, (tmp / "model.pt").read_bytes() == b"an earlier file"


def upstream(tmp: Path, change: Callable[[dict], None]) -> Path:
    """The SGMSE+ fixture checkpoint with `change` made to it (a user's file, as hostile as it likes)."""
    from pipelines.interop.reader import load_restricted

    payload = load_restricted(DATA / "interop" / "sgmse" / "model.ckpt")
    payload["hyper_parameters"].pop("data_module_cls")
    change(payload)
    torch.save(payload, tmp / "upstream.ckpt")
    return tmp / "upstream.ckpt"


def _hparam(key: str, value):
    return lambda payload: payload["hyper_parameters"].__setitem__(key, value)


def _nan_upstream(payload: dict) -> None:
    payload["ema"] = None
    payload["state_dict"] = {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v
                             for k, v in payload["state_dict"].items()}


def _memory_bomb(payload: dict) -> None:
    """A 10^6 x 10^6 float64 weight (8 TB) over one stored value (stride 0), in a 6 MB file."""
    bomb = torch.zeros(1, dtype=torch.float64).expand(10**6, 10**6)
    payload["state_dict"][next(iter(payload["state_dict"]))] = bomb
    payload["ema"]["shadow_params"][0] = bomb


def _import_upstream(change: Callable[[dict], None], names: str):
    def run(tmp: Path):
        result = cmkt("import-checkpoint", upstream(tmp, change), "-o", tmp / "m.pt")
        return result, names in result.stderr and not (tmp / "m.pt").exists()
    return run


def _init_from_nan(tmp: Path):
    result = cmkt("train", "-w", prepared(tmp), "--init-from", upstream(tmp, _nan_upstream), "--max-steps", "1")
    return result, "nan or inf" in result.stderr


def flip_noisy(artifact: Path) -> None:
    """256 bytes flipped in the middle of one utterance's `noisy` samples, the HDF5 header untouched."""
    import h5py

    with h5py.File(artifact, "r") as f:
        dataset = f[next(iter(f))]["noisy"]
        offset, size = dataset.id.get_offset(), dataset.id.get_storage_size()
    with open(artifact, "r+b") as raw:
        raw.seek(offset + size // 2)
        flipped = bytes(b ^ 0xFF for b in raw.read(256))
        raw.seek(offset + size // 2)
        raw.write(flipped)


def edit_attribute(name: str, value):
    def edit(artifact: Path) -> None:
        import h5py

        with h5py.File(artifact, "a") as f:
            for target in (f, *f.values()) if name == "cmkt_version" else (f[next(iter(f))],):
                target.attrs[name] = value
    return edit


def _rerun_recomputes(damage: Callable[[Path], None]):
    """The stage that wrote the damaged artifact, rerun: it must say which item and compute it again."""
    def run(tmp: Path):
        workdir = prepared(tmp)
        damage(workdir / "artifacts" / "prepare_train.h5")
        result = cmkt("prepare", tmp / "clean", "--noise", tmp / "noise", "--split", "1,0,0", "-w", workdir)
        return result, "damaged or was edited" in result.stderr and " 0 computed" not in result.stderr
    return run


def _dnsmos_one_sample(tmp: Path):
    clip(tmp / "enh", "speech.wav")
    sf.write(tmp / "enh" / "one.wav", np.full(1, 0.1, dtype=np.float32), 16000)
    result = cmkt("score", "--enhanced", tmp / "enh", "-w", tmp / "w")
    return result, "DNSMOS needs at least" in result.stderr


def _report_coverage(tmp: Path):
    for k in range(7):
        clip(tmp / "enh", f"f{k}.wav")
    for k in range(2):
        clip(tmp / "clean", f"f{k}.wav")
    result = cmkt("report", tmp / "enh", "--clean", tmp / "clean", "-o", tmp / "report", "-q")
    return result, "over 2 of 7 files" in result.stderr


def _broken_links(tmp: Path):
    clip(tmp / "in")
    (tmp / "in" / "gone.wav").symlink_to(tmp / "missing.wav")
    (tmp / "in" / "loop.wav").symlink_to(tmp / "in" / "loop.wav")
    result = cmkt("enhance", tmp / "in", "-o", tmp / "out", "-w", tmp / "w", "-q")
    said = [line for line in result.stderr.splitlines() if "lead nowhere" in line]
    return result, len(said) == 1 and "gone.wav" in said[0] and "loop.wav" in said[0]


def _report_in_parent(tmp: Path):
    clip(tmp / "parent" / "system")
    result = cmkt("report", tmp / "parent" / "system", "-o", tmp / "parent")
    return result, "holds the input" in result.stderr


def _truncated_mpeg(tmp: Path):
    videos = tmp / "videos"
    videos.mkdir()
    whole, cut = sorted((DATA / "grid").glob("*.mpg"))[:2]
    shutil.copy(whole, videos / whole.name)
    data = cut.read_bytes()
    (videos / cut.name).write_bytes(data[:int(0.13 * len(data))])
    result = cmkt("prepare", videos, "--noise", DATA / "noise", "--split", "1,0,0", "-w", tmp / "w")
    return result, f"{cut.name}: truncated MPEG video" in result.stderr and "1 computed, 1 failed" in result.stderr


def _on_a_full_disk(tmp: Path, size: str, command: Callable[[Path], list]):
    disk = tmp / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(disk)],
                      capture_output=True).returncode:
        raise RuntimeError("cannot mount a tmpfs here")
    try:
        result = cmkt(*command(disk))
        partial = [p.name for p in disk.rglob("*") if p.name.endswith((".tmp", ".partial"))]
        return result, "no space left" in result.stderr and not partial
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def _full_disk_checkpoint(tmp: Path):
    """A prepared workdir on a 30 MB disk: its artifacts fit, a `small` checkpoint (about 150 MB) does not."""
    workdir = prepared(tmp)

    def train(disk: Path) -> list:
        shutil.copytree(workdir, disk / "w")
        return ["train", "-w", disk / "w", "--max-steps", "1", "--preset", "small"]
    return _on_a_full_disk(tmp, "30m", train)


def _full_disk_model_file(tmp: Path):
    return _on_a_full_disk(tmp, "1m", lambda disk: ["import-checkpoint", DATA / "interop" / "sgmse" / "model.ckpt",
                                                    "-o", disk / "m.pt"])


def _interrupted_lips(tmp: Path):
    """Ctrl-C in `featurize --lips --jobs 2` once a train item is saved: the count said must be what was kept."""
    import h5py

    done = cmkt("prepare", DATA / "grid", "--noise", DATA / "noise", "--split", "0.5,0.5,0", "--split-by", "file",
                "-w", tmp / "w", "-q")
    assert done.returncode == 0, done.stderr
    process = subprocess.Popen([sys.executable, "-m", "cmkt_cli.main", "featurize", "--lips", "--jobs", "2", "-w",
                                tmp / "w", "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    pending = tmp / "w" / "artifacts" / ".lips_train.pending"
    deadline = time.time() + 600
    while process.poll() is None and time.time() < deadline and not list(pending.glob("*.h5")):
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=600)
    kept = 0
    for split in ("train", "valid"):
        if (tmp / "w" / "artifacts" / f"lips_{split}.h5").exists():
            with h5py.File(tmp / "w" / "artifacts" / f"lips_{split}.h5", "r") as f:
                kept += len(f)
    result = subprocess.CompletedProcess(process.args, process.returncode, out, err)
    return result, f"interrupted: {kept} items saved" in err and kept > 0


CASES = [
    Case("security", "hostile pickle as enhance --ckpt", _enhance_with(hostile_model)),
    Case("security", "hostile pickle as train --resume last.ckpt", _hostile_resume),
    Case("security", "run name ..", _run_name("..")),
    Case("security", "run name ../x", _run_name("../x")),
    Case("security", "run name absolute", _run_name("/tmp/cmkt-probe-elsewhere")),
    Case("security", "enhance output is a symlink", _symlinked_output),
    Case("security", "enhance -o is the input folder", _output_is_input),
    Case("finished work", "prepare rerun with a wrong --noise", _rerun_keeps(
        lambda tmp, w: ["prepare", tmp / "clean", "--noise", tmp / "missing", "--split", "1,0,0", "-w", w])),
    Case("finished work", "truncated prepare artifact", _damaged(truncate)),
    Case("finished work", "deleted dataset in prepare artifact", _damaged(delete_dataset)),
    Case("wrong results", "score: names that clean to one id", _colliding_names, code=0),
    Case("wrong results", "prepare: Chinese and Czech file names", _unicode_corpus, code=0),
    Case("wrong results", "prepare --snr nan", _plain(lambda t: ["prepare", clip(t / "c").parent, "--snr", "nan",
                                                                 "-w", t / "w"])),
    Case("wrong results", "prepare --snr inf", _plain(lambda t: ["prepare", clip(t / "c").parent, "--snr", "inf",
                                                                 "-w", t / "w"])),
    Case("wrong results", "a 5-sample noise file", _short_noise),
    Case("wrong results", "checkpoint with NaN weights", _enhance_with(lambda t: edited_model(t, nan_weights))),
    Case("clear errors", "checkpoint with renamed keys", _enhance_with(lambda t: edited_model(t, renamed_keys))),
    Case("clear errors", "checkpoint with a wrong shape", _enhance_with(lambda t: edited_model(t, wrong_shape))),
    Case("clear errors", "checkpoint with an unknown preset", _enhance_with(
        lambda t: edited_model(t, lambda p: p["config"].update(preset="huge")))),
    Case("clear errors", "checkpoint without a config", _enhance_with(lambda t: edited_model(t, lambda p: p.pop(
        "config")))),
    Case("clear errors", "a text file as checkpoint", _enhance_with(
        lambda t: (t / "x.pt").write_text("not a model") and t / "x.pt")),
    Case("clear errors", "output folder under a file", _unwritable),
    Case("clear errors", "workdir under a file", _workdir_under_a_file),
    Case("clear errors", "full disk", _full_disk),
    Case("clear errors", "enhance --device cuda without CUDA", _plain(
        lambda t: ["enhance", clip(t / "in"), "-o", t / "out", "--device", "cuda", "-w", t / "w"])),
    Case("clear errors", "enhance --device banana", _plain(
        lambda t: ["enhance", clip(t / "in"), "-o", t / "out", "--device", "banana", "-w", t / "w"])),
    Case("clear errors", "seed beyond 64 bits", _plain(
        lambda t: ["prepare", clip(t / "c").parent, "--seed", str(2**70), "-w", t / "w"])),
    Case("clear errors", "invalid --speaker-regex", _plain(
        lambda t: ["prepare", clip(t / "c").parent, "--speaker-regex", "(", "-w", t / "w"])),
    Case("clear errors", "--split nan,1,1", _plain(
        lambda t: ["prepare", clip(t / "c").parent, "--split", "nan,1,1", "-w", t / "w"])),
    Case("clear errors", "--shard 5/2", _plain(lambda t: ["featurize", "--text", "--shard", "5/2", "-w", t / "w"])),
    Case("clear errors", "busy workdir", _busy_workdir),
    Case("clear errors", "MP3 inside a folder", _mp3_in_folder, code=0),
    Case("clear errors", "featurize --lips on audio-only data", _lips_without_video),
    # issue 25: one write rule, hostile upstream files, quiet skips, artifacts that detect damage, a full disk
    Case("security", "enhance -o with a linked sub-folder", _through_link(
        lambda t: (t / "out" / "sub", ["enhance", clip(t / "in" / "sub").parent.parent, "-o", t / "out", "-w",
                                       t / "w"]))),
    Case("security", "enhance --plot PNG through a link", _through_link(
        lambda t: (t / "out" / "a.png", ["enhance", clip(t / "in"), "-o", t / "out", "--plot", "-w", t / "w"]))),
    Case("security", "enhance model.json through a link", _through_link(
        lambda t: (t / "out" / "model.json", ["enhance", clip(t / "in"), "-o", t / "out", "-w", t / "w"]))),
    Case("security", "report audio copies through a link", _through_link(
        lambda t: (t / "report" / "audio", ["report", clip(t / "in").parent, "-o", t / "report"]))),
    Case("security", "report index.html through a link", _through_link(
        lambda t: (t / "report" / "index.html", ["report", clip(t / "in").parent, "-o", t / "report"]))),
    Case("security", "import-checkpoint X -o X --force", _own_input("import-checkpoint")),
    Case("security", "export CK -o CK --force", _own_input("export")),
    Case("finished work", "-o an existing file without --force", _existing_output),
    Case("clear errors", "-o a folder where a file is expected", _plain(
        lambda t: ["import-checkpoint", DATA / "interop" / "sgmse" / "model.ckpt", "-o", t])),
    Case("hostile files", "hop_length '128' (a string)", _import_upstream(_hparam("hop_length", "128"), "hop_length")),
    Case("hostile files", "nf -16", _import_upstream(_hparam("nf", -16), "nf must be")),
    Case("hostile files", "nf 10^6", _import_upstream(_hparam("nf", 10**6), "nf must be")),
    Case("hostile files", "the card's N 0", _import_upstream(_hparam("N", 0), "N must be")),
    Case("hostile files", "the card's N -3", _import_upstream(_hparam("N", -3), "N must be")),
    Case("hostile files", "the card's N 10^9", _import_upstream(_hparam("N", 10**9), "N must be")),
    Case("hostile files", "ema as a list", _import_upstream(lambda p: p.__setitem__("ema", [1, 2]), "ema")),
    Case("hostile files", "NaN weights at import", _import_upstream(_nan_upstream, "nan or inf")),
    Case("hostile files", "NaN weights at train --init-from", _init_from_nan),
    Case("hostile files", "10^6 x 10^6 weight over a stride-0 storage", _import_upstream(_memory_bomb, "declares")),
    Case("wrong results", "DNSMOS of a 1-sample file", _dnsmos_one_sample, code=0),
    Case("wrong results", "report with references for 2 of 7 files", _report_coverage, code=0),
    Case("wrong results", "dangling and looping .wav links in an input folder", _broken_links, code=0),
    Case("wrong results", "truncated MPEG video", _truncated_mpeg, error_lines=0),
    Case("clear errors", "report -o the parent of its input", _report_in_parent),
    Case("finished work", "bit flip in prepare artifact: next stage", _damaged(flip_noisy)),
    Case("finished work", "bit flip in prepare artifact: rerun of prepare", _rerun_recomputes(flip_noisy), code=0),
    Case("finished work", "edited duration_s: next stage", _damaged(edit_attribute("duration_s", 999.0))),
    Case("finished work", "edited duration_s: rerun of prepare",
         _rerun_recomputes(edit_attribute("duration_s", 999.0)), code=0),
    Case("finished work", "cmkt_version 0.0.1-foreign: next stage",
         _damaged(edit_attribute("cmkt_version", "0.0.1-foreign"))),
    Case("finished work", "cmkt_version 0.0.1-foreign: rerun of prepare",
         _rerun_recomputes(edit_attribute("cmkt_version", "0.0.1-foreign")), code=0),
    Case("clear errors", "full disk during a checkpoint (train)", _full_disk_checkpoint),
    Case("clear errors", "full disk during a model file (import-checkpoint)", _full_disk_model_file),
    Case("finished work", "Ctrl-C in featurize --lips --jobs 2", _interrupted_lips, code=130),
]


def judge(case: Case, result: subprocess.CompletedProcess, check: bool) -> tuple[bool, str]:
    """Handled: the right exit code, one `error:` line when it fails (progress and warnings may come before it; none
    where one file fails alone), no traceback, and the case's own check."""
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    problems = []
    if result.returncode != case.code:
        problems.append(f"exit {result.returncode}")
    if case.code and len(lines) != case.error_lines:
        problems.append(f"{len(lines)} error lines")
    if "Traceback" in result.stderr or "internal error" in result.stderr:
        problems.append("internal error")
    if not check:
        problems.append("check failed")
    said = lines[0] if lines else (result.stderr.strip().splitlines() or ["ok"])[-1]
    return not problems, "; ".join(problems) or said[:160]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "reliability-probe.json")
    parser.add_argument("--first", type=int, default=0, help="Run the cases from this index on (0: all).")
    args = parser.parse_args()
    from rich.console import Console
    from rich.table import Table

    rows = []
    for case in CASES[args.first:]:
        with tempfile.TemporaryDirectory() as folder:
            try:
                handled, said = judge(case, *case.run(Path(folder)))
            except Exception as err:  # the probe's own set-up failed: count it as not handled, say why
                handled, said = False, f"probe set-up failed: {type(err).__name__}: {err}"
        rows.append({"class": case.kind, "case": case.name, "handled": handled, "said": said})
        print(("handled " if handled else "NOT     ") + f"{case.kind}: {case.name}: {said}", flush=True)
    table = Table(title="reliability probe")
    for column in ("class", "tried", "handled", "not handled"):
        table.add_column(column)
    summary = {}
    for kind in dict.fromkeys(row["class"] for row in rows):
        mine = [row for row in rows if row["class"] == kind]
        summary[kind] = {"tried": len(mine), "handled": sum(row["handled"] for row in mine)}
        table.add_row(kind, str(len(mine)), str(summary[kind]["handled"]),
                      str(len(mine) - summary[kind]["handled"]))
    table.add_row("all", str(len(rows)), str(sum(r["handled"] for r in rows)),
                  str(sum(not r["handled"] for r in rows)))
    Console().print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "cases": rows}, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
