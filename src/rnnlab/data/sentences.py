"""Sentences of an already tokenised text, and a sampler that serves one sentence per step.

`split_tokenised_sentences` cuts PTB-style lines (words and punctuation separated by
spaces) into sentences wrapped in SENTENCE_START ... SENTENCE_END, as the WildML RNN
tutorial trains on; `SentenceSampler` gives them one at a time, in a fresh shuffled
order each epoch, resumable mid-epoch. (text.py's `split_sentences` is the regex
splitter for raw text.)
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Optional

import numpy as np

from rnnlab.data.text import SENTENCE_END, SENTENCE_START
from rnnlab.errors import UsageError

_END_MARKS = frozenset((".", "!", "?"))
_HAS_WORD = re.compile(r"\w")


def split_tokenised_sentences(lines: Sequence[str]) -> list[list[str]]:
    """Sentences of already tokenised lines, wrapped in SENTENCE_START ... SENTENCE_END.

    A sentence ends after a ".", "!" or "?" token (and the quotes or brackets that
    close it) and at the end of a line; a piece with no letter or digit in it joins
    the sentence before it.

        >>> split_tokenised_sentences(['" hello ! " he said .'])
        [['SENTENCE_START', '"', 'hello', '!', '"', 'SENTENCE_END'],
         ['SENTENCE_START', 'he', 'said', '.', 'SENTENCE_END']]
    """
    out: list[list[str]] = []
    for line in lines:
        pieces: list[list[str]] = []
        current: list[str] = []
        ended = False  # the current piece has seen its end mark
        for token in line.split():
            if ended and not _closes(token, current):
                pieces.append(current)
                current, ended = [], False
            current.append(token)
            ended = ended or token in _END_MARKS
        if current:
            pieces.append(current)
        merged: list[list[str]] = []
        for piece in pieces:
            if merged and not any(_HAS_WORD.search(t) for t in piece):
                merged[-1].extend(piece)
            else:
                merged.append(piece)
        out.extend([SENTENCE_START, *piece, SENTENCE_END] for piece in merged)
    return out


def _closes(token: str, sentence: list[str]) -> bool:
    """Whether `token` after an end mark closes a quote or bracket opened in `sentence`."""
    if token in ('"', "'"):
        return sentence.count(token) % 2 == 1
    return token == ")" and sentence.count("(") > sentence.count(")")


class SentenceSampler:
    """One sentence per batch, a fresh shuffled order each epoch; resumable mid-epoch.

    Batches are (x, y) of shape (T, 1), y = x shifted by one token; T varies. The
    state is the epoch, the next sentence, and the generator's state at the start
    of the epoch (the order is re-drawn from it on resume). No state is carried
    between sentences (`carries_state` is False).
    """

    kind = "sentences"
    carries_state = False

    def __init__(self, pairs: list[tuple[np.ndarray, np.ndarray]], rng: np.random.Generator) -> None:
        if not pairs:
            raise UsageError("no training sentences; give a training text with some words in it")
        self.pairs, self.rng = pairs, rng
        self.epoch_index, self._batch = 0, 0  # epochs completed, next sentence within this epoch
        self._order: Optional[np.ndarray] = None
        self._epoch_rng: Optional[Mapping[str, Any]] = None  # the RNG's state when this epoch's order was drawn

    def __len__(self) -> int:
        return len(self.pairs)

    def _ensure_order(self) -> np.ndarray:
        if self._order is None:
            self._epoch_rng = self.rng.bit_generator.state
            self._order = self.rng.permutation(len(self.pairs))  # (n_sentences,)
        return self._order

    def epoch(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        order = self._ensure_order()
        while self._batch < len(self):
            x, y = self.pairs[order[self._batch]]
            self._batch += 1
            yield x[:, None], y[:, None]  # (T, 1) each
        self.epoch_index, self._batch, self._order = self.epoch_index + 1, 0, None

    def state(self) -> dict[str, Any]:
        epoch, batch, rng = self.epoch_index, self._batch, self._epoch_rng
        if self._order is None or batch >= len(self):  # the next epoch's start
            epoch, batch, rng = epoch + (self._order is not None), 0, self.rng.bit_generator.state
        return {"kind": self.kind, "epoch": epoch, "batch": batch, "rng": rng, "n_sentences": len(self)}

    def set_state(self, d: dict[str, Any]) -> None:
        if not isinstance(d, dict) or d.get("kind") != self.kind or d.get("n_sentences") != len(self):
            raise UsageError(
                "saved data position does not match these sentences; "
                "resume with the same data and settings as the original run"
            )
        self.rng.bit_generator.state = d["rng"]
        self.epoch_index, self._order = int(d["epoch"]), None
        self._ensure_order()
        self._batch = int(d["batch"])


__all__ = ["split_tokenised_sentences", "SentenceSampler"]
