"""The clean-noisy (CN) distance of each layer of a speech encoder (Hung et al. 2022): how far the hidden states
of a noisy utterance are from those of its clean speech. The seed found that the layers with a large distance,
the least noise-robust ones, matter most for enhancement; `cmkt ssl-layers` measures it so a recipe can choose.

Distance of one utterance at one layer: the mean over frames of |clean_t - noisy_t| / |clean_t| (Euclidean norms
of the frame vectors), so layers of different scales compare. Per layer: the mean over utterances with a 95 %
t-interval.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from pipelines.artifacts.workdir import Workdir
from pipelines.atomic import write_csv, write_text
from pipelines.errors import BadInput
from pipelines.reporting import Reporter
from pipelines.ssl.features import SSLFeatureSet


@dataclass(frozen=True)
class LayerDistance:
    layer: int
    mean: float
    low: float
    high: float
    rank: int  # 1 = the largest distance


@dataclass
class LayerDistances:
    split: str
    model: str
    utterances: int
    layers: list[LayerDistance]
    files: list[Path]

    def top(self, count: int) -> list[int]:
        """The `count` layers of largest CN distance, in layer order."""
        return sorted(d.layer for d in self.layers if d.rank <= count)


def utterance_distance(clean: np.ndarray, noisy: np.ndarray) -> np.ndarray:
    """(layers,) distances of one utterance from its (layers, frames, width) clean and noisy states."""
    difference = np.linalg.norm(clean - noisy, axis=-1)
    size = np.maximum(np.linalg.norm(clean, axis=-1), 1e-8)
    return (difference / size).mean(axis=-1)


def layer_distances(workdir: Workdir, split: str, reporter: Reporter, png: bool = True) -> LayerDistances:
    """Every utterance of `split` with clean states (`featurize --ssl` keeps them for valid by default); the table
    as CSV and JSON (and a plot) in WORKDIR/reports/ssl-layers/."""
    with SSLFeatureSet(workdir, split) as features:
        ids = [uid for uid in features.ids() if features.has_clean(uid)]
        if len(ids) < 2:
            raise BadInput(f"split '{split}' has {len(ids)} utterances with clean speech-encoder states (2 needed): "
                           f"run `cmkt featurize --ssl` on a split it keeps clean states for (valid)")
        with reporter.progress(len(ids), f"CN distance {split}") as bar:
            rows = []
            for uid in ids:
                rows.append(utterance_distance(features.states(uid, "clean"), features.states(uid, "noisy")))
                bar.advance()
        per_utterance = np.stack(rows)
        model, layer_numbers = features.config["model"], features.layers
    means = per_utterance.mean(axis=0)
    half = stats.t.ppf(0.975, len(ids) - 1) * per_utterance.std(axis=0, ddof=1) / np.sqrt(len(ids))
    order = np.argsort(-means)
    ranks = np.empty(len(means), dtype=int)
    ranks[order] = np.arange(1, len(means) + 1)
    layers = [LayerDistance(layer, float(m), float(m - h), float(m + h), int(r))
              for layer, m, h, r in zip(layer_numbers, means, half, ranks)]
    result = LayerDistances(split, model, len(ids), layers, [])
    folder = workdir.reports("ssl-layers")
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"layer": d.layer, "cn_distance": round(d.mean, 6), "low": round(d.low, 6), "high": round(d.high, 6),
             "rank": d.rank} for d in layers]
    result.files.append(write_csv(folder / f"{split}.csv", list(rows[0]), rows))
    result.files.append(write_text(folder / f"{split}.json", json.dumps(
        {"split": split, "model": model, "utterances": len(ids), "layers": rows}, indent=1)))
    if png:
        from pipelines.plots import plot_layer_distances

        result.files.append(plot_layer_distances([(d.layer, d.mean, d.low, d.high) for d in layers],
                                                 f"{Path(model).name}, {len(ids)} {split} utterances",
                                                 folder / f"{split}.png"))
    return result

