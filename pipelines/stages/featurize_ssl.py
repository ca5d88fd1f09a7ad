"""`cmkt featurize --ssl`: a speech encoder's hidden states of each noisy utterance, at the STFT frames, cached as
`ssl_{split}.h5` for training with `--ssl frozen`; of the clean speech too on the splits that measure the
clean-noisy (CN) distance of each layer (`cmkt ssl-layers`, default: valid).

Per utterance: `noisy` (and `clean`), float16 (layers, frames, width): the chosen layers, interpolated from the
encoder's 20 ms frames to the frames of an STFT with `hop` samples (256 by default, the conv-recurrent family's
front end; training checks the model's hop against it). Recordings longer than the encoder takes at once (30 s for
Whisper) are encoded in consecutive windows (pipelines/ssl/encoders.py `states_at_frames`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from pipelines.artifacts.shards import WHOLE, Shard
from pipelines.artifacts.store import ArtifactStore
from pipelines.artifacts.workdir import Workdir
from pipelines.data.manifest import chosen_splits, read_manifest
from pipelines.data.prepared import PreparedSplit
from pipelines.errors import BadInput
from pipelines.reporting import Reporter
from pipelines.ssl.encoders import SSLModel, load_ssl_model, states_at_frames
from pipelines.ssl.features import STAGE
from pipelines.stages.runner import StageReport, WorkItem, committing, uncached

@dataclass
class SSLOptions:
    model: str | None = None  # folder, file or hub name; None: Whisper tiny.en's encoder (offline)
    layers: list[int] | None = None  # None: all
    hop: int = 256
    splits: list[str] | None = None  # None: every split in the manifest
    clean_splits: list[str] = field(default_factory=lambda: ["valid"])
    force: bool = False
    shard: Shard = WHOLE


def featurize_ssl(workdir: Workdir, options: SSLOptions, reporter: Reporter) -> list[StageReport]:
    utterances = read_manifest(workdir)
    splits = chosen_splits(utterances, options.splits)
    model = load_ssl_model(options.model)
    layers = options.layers if options.layers is not None else list(range(model.layers))
    if layers[-1] >= model.layers:
        raise BadInput(f"--ssl-layers: {model.name} has layers 0-{model.layers - 1}, not {layers[-1]}")
    reporter.info(f"speech encoder: {model.name} ({model.layers} layers of {model.width}; keeping "
                  f"{'all' if options.layers is None else ','.join(map(str, layers))}; hop {options.hop})")
    reports = []
    for split in splits:
        with_clean = split in options.clean_splits
        config = {**model.identity(), "layers_kept": layers, "hop": options.hop, "clean": with_clean}
        store = ArtifactStore(workdir, STAGE, split, config, force=options.force, shard=options.shard)
        ids = [u.id for u in utterances if u.split == split and options.shard.owns(u.id)]
        reports.append(_featurize_split(workdir, store, ids, model, layers, options.hop, with_clean, reporter))
    return reports


def _featurize_split(workdir: Workdir, store: ArtifactStore, ids: list[str], model: SSLModel, layers: list[int],
                     hop: int, with_clean: bool, reporter: Reporter) -> StageReport:
    report = StageReport(STAGE, store.split)
    with PreparedSplit(workdir, store.split) as prepared:
        todo = uncached(store, [WorkItem(uid, prepared[uid].checksum, None) for uid in ids], report)
        with committing(store, report), reporter.progress(len(todo), f"ssl {store.split}") as bar:
            for item in todo:
                entry = prepared[item.uid]
                try:
                    arrays = {"noisy": hidden_states(model, entry.noisy, layers, hop)}
                    if with_clean:
                        arrays["clean"] = hidden_states(model, entry.clean, layers, hop)
                except BadInput as err:
                    report.skipped.append((item.uid, str(err)))
                else:
                    store.put(item.uid, item.checksum, arrays, {})
                    report.computed += 1
                bar.advance()
    return report


def hidden_states(model: SSLModel, wave: np.ndarray, layers: list[int], hop: int) -> np.ndarray:
    """(len(layers), STFT frames, width) float16 of one recording: frames = 1 + samples // hop, as a centred STFT."""
    with torch.inference_mode():
        states = states_at_frames(model, torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))[None],
                                  layers, 1 + len(wave) // hop, hop)
    return states[0].numpy().astype(np.float16)
