"""Vocabularies: symbols (characters or words) <-> integer ids.

    >>> v = Vocabulary.from_text("hello")
    >>> v.itos, v.encode("hole").tolist(), v.decode([2, 0])
    (['e', 'h', 'l', 'o'], [1, 3, 2, 0], 'le')

A character vocabulary is the sorted set of distinct characters; a word vocabulary
lists specials first, then words by falling frequency (ties alphabetical), so both
are the same whatever order the text came in. `to_json()` / `from_json()` give a
small versioned dict that checkpoints store next to the weights. A word vocabulary built
from plain text carries its `tokenizer` (tokenize.py), so `encode` of a string writes the
text the way the training text was written; one without splits a string on whitespace.

Left out: subword tokenisers (BPE); normalisation of the text (see `text.py`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import numpy as np

from rnnlab.data.tokenize import WordTokenizer
from rnnlab.errors import UsageError

__all__ = ["Vocabulary", "UNKNOWN_MODES"]

FORMAT = "rnnlab.vocabulary"
VERSION = 2  # 2 adds "tokenizer"; a vocabulary without one is still written as version 1
READS = (1, 2)
UNKNOWN_MODES = ("error", "skip", "unk")
_MAX_NAMED = 10  # unknown symbols named in an error message


@dataclass
class Vocabulary:
    """`itos[i]` is the symbol with id i; `stoi` maps back. `kind` is "char" or "word"."""

    itos: list[str]
    kind: str = "char"  # "char": decode joins with ""; "word": joins with " "
    unk: Optional[str] = None  # the symbol unknown input maps to with unknown="unk", if any
    tokenizer: Optional[WordTokenizer] = None  # how a string becomes words (None: split on whitespace)
    stoi: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in ("char", "word"):
            raise ValueError(f"kind must be 'char' or 'word', got {self.kind!r}")
        self.itos = list(self.itos)
        self.stoi = {s: i for i, s in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            dup = [s for s, n in Counter(self.itos).items() if n > 1][:_MAX_NAMED]
            raise UsageError(
                f"vocabulary lists symbols more than once: {_names(dup)}; "
                f"the vocabulary file is corrupt, rebuild it from the text"
            )
        if self.unk is not None and self.unk not in self.stoi:
            raise UsageError(f"unknown-token {self.unk!r} is not in the vocabulary; add it or drop it")
        self._char_table: Optional[tuple[np.ndarray, np.ndarray]] = (
            None  # (sorted code points, their ids), built on first char encode
        )

    # -- building ------------------------------------------------------------------
    @classmethod
    def from_text(cls, text: str) -> Vocabulary:
        """Character vocabulary: the distinct characters of `text`, sorted by code point."""
        if not text:
            raise UsageError("cannot build a vocabulary from empty text; give some text")
        return cls(sorted(set(text)), kind="char")

    @classmethod
    def from_tokens(
        cls,
        tokens: Iterable[str],
        max_size: Optional[int] = None,
        specials: Sequence[str] = (),
        unk: Optional[str] = None,
    ) -> Vocabulary:
        """Word vocabulary: `specials`, then `unk`, then tokens by falling count (ties alphabetical).

        `max_size` bounds the total length, specials and `unk` included; the rarest
        tokens are dropped (give `unk` so they still encode with unknown="unk").
        E.g. `Vocabulary.from_tokens("a b b c".split())` has itos ['b', 'a', 'c'].
        """
        counts = Counter(tokens)
        head = list(dict.fromkeys([*specials, *([unk] if unk is not None else [])]))
        if max_size is not None and max_size < max(len(head), 1):
            raise UsageError(
                f"vocabulary size {max_size} is too small; it must be at least "
                f"{max(len(head), 1)} to hold the special tokens"
            )
        if not counts and not head:
            raise UsageError("cannot build a vocabulary from no tokens; give some text")
        reserved = set(head)
        ranked = sorted((t for t in counts if t not in reserved), key=lambda t: (-counts[t], t))
        if max_size is not None:
            ranked = ranked[: max_size - len(head)]
        return cls(head + ranked, kind="word", unk=unk)

    # -- using -----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self.stoi

    def encode(self, seq: Union[str, Sequence[str]], unknown: str = "error") -> np.ndarray:
        """Ids of `seq` as an int64 array of shape (len,): characters of a string, or words.

        A string given to a word vocabulary is split by its `tokenizer` (on whitespace
        without one). Symbols not in
        the vocabulary raise a `UsageError` naming them (unknown="error"), are left
        out ("skip"), or become the `unk` token ("unk").
        """
        if unknown not in UNKNOWN_MODES:
            raise UsageError(f"unknown must be one of {', '.join(UNKNOWN_MODES)}, got {unknown!r}")
        if unknown == "unk" and self.unk is None:
            raise UsageError("this vocabulary has no unknown-token; use --unknown skip or --unknown error")
        if self.kind == "word" and isinstance(seq, str):
            seq = self.tokenizer.words(seq) if self.tokenizer is not None else seq.split()
        elif not isinstance(seq, (str, list, tuple)):
            seq = list(seq)
        if self.kind == "char" and isinstance(seq, str):
            ids = self._encode_chars(seq)  # (len,) with -1 for unknown characters
        else:
            get = self.stoi.get
            ids = np.fromiter((get(s, -1) for s in seq), dtype=np.int64, count=len(seq))
        missing = ids < 0
        if not missing.any():
            return ids
        if unknown == "skip":
            return ids[~missing]
        if unknown == "unk":
            if self.unk is None:
                raise ValueError("this vocabulary has no unknown-word token to stand for missing symbols")
            ids[missing] = self.stoi[self.unk]
            return ids
        what = "characters" if self.kind == "char" else "words"
        bad = list(dict.fromkeys(seq[i] for i in np.flatnonzero(missing)))
        more = f" and {len(bad) - _MAX_NAMED} more" if len(bad) > _MAX_NAMED else ""
        hints = [(word, self._spelling_in_vocabulary(word)) for word in bad[:_MAX_NAMED]] if self.kind == "word" else []
        hint = ", ".join(f"{word!r} -> {known!r}" for word, known in hints if known)
        hint = f" (this vocabulary writes {hint})" if hint else ""
        raise UsageError(
            f"text has {what} not in the vocabulary: {_names(bad[:_MAX_NAMED])}{more}{hint}; "
            f"use --unknown skip to leave them out"
        )

    def _spelling_in_vocabulary(self, word: str) -> Optional[str]:
        """How the vocabulary writes `word`, if it does: lowercased, or with its punctuation as
        separate tokens (word corpora such as PTB's are tokenised that way), or both."""
        split = " ".join(re.findall(r"[\w']+|[^\w\s]", word))
        for candidate in (word.lower(), split, split.lower()):
            if candidate != word and all(token in self.stoi for token in candidate.split()):
                return candidate
        return None

    def _encode_chars(self, text: str) -> np.ndarray:
        # Vectorised lookup: code points of the text, binary-searched among the
        # vocabulary's code points. 3 MB of text takes milliseconds, not seconds.
        if self._char_table is None:
            singles = [(ord(s), i) for i, s in enumerate(self.itos) if len(s) == 1]
            singles.sort()
            self._char_table = (
                np.array([c for c, _ in singles], dtype=np.uint32),
                np.array([i for _, i in singles], dtype=np.int64),
            )
        codes, table_ids = self._char_table
        points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)  # (len,)
        if len(codes) == 0:
            return np.full(len(points), -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(codes, points), len(codes) - 1)  # (len,)
        return np.where(codes[pos] == points, table_ids[pos], -1).astype(np.int64)

    def decode(self, ids: Iterable[int]) -> str:
        """The text for `ids`: characters joined with "", words with " "."""
        itos = self.itos
        try:
            symbols = [itos[int(i)] for i in np.asarray(ids).reshape(-1)]
        except IndexError:
            raise UsageError(
                f"ids out of range for a vocabulary of {len(itos)} symbols; "
                f"the vocabulary does not belong to this model"
            ) from None
        return ("" if self.kind == "char" else " ").join(symbols)

    # -- saving ----------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict: {"format", "version", "kind", "unk", "itos"} (and "tokenizer", version 2)."""
        d = {"format": FORMAT, "version": 1, "kind": self.kind, "unk": self.unk, "itos": list(self.itos)}
        if self.tokenizer is not None:
            d.update(version=2, tokenizer=self.tokenizer.to_json())
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Vocabulary:
        """The vocabulary saved by `to_json`; a `UsageError` if `d` is not one."""
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise UsageError(
                "not an rnnlab vocabulary (missing format tag); the checkpoint is damaged or from another program"
            )
        if d.get("version") not in READS:
            raise UsageError(
                f"vocabulary format version {d.get('version')!r} is not supported "
                f"(this rnnlab reads versions 1 and 2); upgrade rnnlab"
            )
        itos = d.get("itos")
        if not isinstance(itos, list) or not all(isinstance(s, str) for s in itos):
            raise UsageError("vocabulary 'itos' must be a list of strings; the checkpoint is damaged")
        if d.get("kind") not in ("char", "word"):
            raise UsageError(
                f"vocabulary kind must be 'char' or 'word', got {d.get('kind')!r}; the checkpoint is damaged"
            )
        tokenizer = WordTokenizer.from_json(d["tokenizer"]) if d.get("tokenizer") is not None else None
        return cls(itos, kind=d["kind"], unk=d.get("unk"), tokenizer=tokenizer)


def _names(symbols: Iterable[str]) -> str:
    return ", ".join(repr(s) for s in symbols)
