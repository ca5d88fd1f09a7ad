"""Word error rate, to check transcripts against references (written here: no jiwer dependency).

Text is normalised first so that casing, punctuation and spacing are not counted as
errors: Whisper writes "For the 20th time, ..." where a corpus may write "FOR THE TWENTIETH TIME".
(Spelled-out versus digit numbers still count: WER here is strict about words.)
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable

_APOSTROPHES = re.compile(r"[’‘`´]")


def normalise(text: str) -> str:
    """Lower-case, drop punctuation (keeping in-word apostrophes, as in "i'm"), collapse spaces."""
    text = _APOSTROPHES.sub("'", unicodedata.normalize("NFKC", text).lower())
    kept = "".join(c if c.isalnum() or c == "'" else " " for c in text)
    words = (word.strip("'") for word in kept.split())
    return " ".join(word for word in words if word)


def word_edits(reference: str, hypothesis: str) -> int:
    """Word-level Levenshtein distance (substitutions + deletions + insertions) after `normalise`."""
    ref, hyp = normalise(reference).split(), normalise(hypothesis).split()
    previous = list(range(len(hyp) + 1))  # distances from the empty reference prefix
    for i, ref_word in enumerate(ref, start=1):
        current = [i]
        for j, hyp_word in enumerate(hyp, start=1):
            current.append(min(previous[j] + 1,  # reference word deleted
                               current[j - 1] + 1,  # hypothesis word inserted
                               previous[j - 1] + (ref_word != hyp_word)))  # match or substitution
        previous = current
    return previous[-1]


@dataclass(frozen=True)
class WordErrors:
    edits: int
    reference_words: int

    @property
    def rate(self) -> float:
        """Edits per reference word; an empty reference gives 0 if the hypothesis is empty too, else inf."""
        if self.reference_words == 0:
            return 0.0 if self.edits == 0 else float("inf")
        return self.edits / self.reference_words


def word_errors(reference: str, hypothesis: str) -> WordErrors:
    return WordErrors(word_edits(reference, hypothesis), len(normalise(reference).split()))


def wer(reference: str, hypothesis: str) -> float:
    return word_errors(reference, hypothesis).rate


def corpus_wer(pairs: Iterable[tuple[str, str]]) -> float:
    """Total edits over total reference words (not the mean of per-utterance rates)."""
    counts = [word_errors(reference, hypothesis) for reference, hypothesis in pairs]
    return WordErrors(sum(c.edits for c in counts), sum(c.reference_words for c in counts)).rate
