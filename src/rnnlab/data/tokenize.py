"""Plain text -> word tokens, and a text's train/valid/test split: what `rnnlab train wordlm --text FILE` does.

The rule (`WordTokenizer`, rule version 1):

1. typographic quotes become plain ones (‘ ’ -> ', “ ” -> "), then, with `lowercase`
   (the default), the text is lowercased;
2. a token is `<eos>` or `<unk>` written as such, or a number (digits with inner `.` or
   `,` groups: 1805, 160,000, 3.14), or a word (letters and digits with inner
   apostrophes: don't, prince's, tête, 18th), or any other single character that is not
   a space (punctuation: , . ; : ! ? " ' - ( ) _ ...), so "well-known" is `well - known`
   and "--" is `- -`;
3. every line gives its tokens, then `<eos>`, as PyTorch's word_language_model reads the
   Penn Treebank files; blank lines give nothing. With `paragraphs`, the lines up to a
   blank line are one paragraph and get one `<eos>` (how the shipped warpeace-words was made
   from the book: on War and Peace this rule writes 11,308 of its 11,338 paragraphs exactly as
   warpeace-words has them; the rest differ at words like "18th" and "tête", which the
   benchmark split).

    >>> WordTokenizer().words('"Well, Prince, so Genoa--it\\'s 1805."')
    ['"', 'well', ',', 'prince', ',', 'so', 'genoa', '-', '-', "it's", '1805', '.', '"']
    >>> WordTokenizer(lowercase=False).stream("The well-known\\n\\n160,000 men")
    ['The', 'well', '-', 'known', '<eos>', '160,000', 'men', '<eos>']

The split (`split_tail`): of the n units (lines, or paragraphs) that hold a token, the last
round(f * n) (at least one) are the test split, the round(f * n) before them the validation
split, the rest, from the start, the training split (f = --val-fraction, 0.05: 90/5/5 by
position, as warpeace-words is cut). The vocabulary is built from the training split alone.

Left out: Unicode normalisation (a composed and a decomposed "é" are different words),
sentence splitting (wordlm-sentence does that), subword units.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

from rnnlab.errors import UsageError

__all__ = ["WordTokenizer", "split_tail", "stream_tokens", "RULE", "RULE_VERSION"]

RULE, RULE_VERSION = "rnnlab-words", 1
EOS, UNK = "<eos>", "<unk>"
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})
_TOKEN = re.compile(
    r"<eos>|<unk>"  # the specials, as written
    r"|\d+(?:[.,]\d+)+"  # a number with inner . or , groups
    r"|[^\W_]+(?:'[^\W_]+)*"  # a word: letters/digits, inner apostrophes
    r"|[^\w\s]|_"
)  # any other non-space character
_PARAGRAPH_BREAK = re.compile(r"\n[ \t\f\v]*\n")


@dataclass(frozen=True)
class WordTokenizer:
    """The word rule above; its settings are saved with the run's vocabulary (`to_json`)."""

    lowercase: bool = True  # lowercase the text first
    paragraphs: bool = False  # one <eos> per blank-line-separated paragraph instead of per line

    def words(self, text: str) -> list[str]:
        """Tokens of `text`, `<eos>` between its lines (or paragraphs) but not after the last:
        what a prefix such as "The Prince said," becomes."""
        tokens: list[str] = []
        for unit in self.units(text):
            if tokens:
                tokens.append(EOS)
            tokens.extend(self._tokens(unit))
        return tokens

    def stream(self, text: str) -> list[str]:
        """Tokens of every line (or paragraph) of `text`, each followed by `<eos>`."""
        return self.stream_units(self.units(text))

    def stream_units(self, units: Sequence[str]) -> list[str]:
        """Tokens of each unit (a line or a paragraph from `units`), each followed by `<eos>`."""
        tokens: list[str] = []
        for unit in units:
            tokens.extend(self._tokens(unit))
            tokens.append(EOS)
        return tokens

    def units(self, text: str) -> list[str]:
        """The lines (or paragraphs, their lines joined by a space) of `text` that hold a token."""
        text = text.replace("\r\n", "\n")
        if self.paragraphs:
            pieces = (" ".join(piece.split()) for piece in _PARAGRAPH_BREAK.split(text))
        else:
            pieces = (line.strip() for line in text.split("\n"))
        return [piece for piece in pieces if piece]

    def _tokens(self, unit: str) -> list[str]:
        unit = unit.translate(_QUOTES)
        return _TOKEN.findall(unit.lower() if self.lowercase else unit)

    def describe(self) -> str:
        """One line for messages: how this rule writes text."""
        case = "lowercased" if self.lowercase else "case kept"
        ends = "<eos> after every paragraph" if self.paragraphs else "<eos> after every line"
        return f"{case}, punctuation as separate tokens, {ends}"

    # -- saving ------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"rule": RULE, "version": RULE_VERSION, "lowercase": self.lowercase, "paragraphs": self.paragraphs}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> WordTokenizer:
        if not isinstance(d, dict) or d.get("rule") != RULE:
            raise UsageError(
                "the vocabulary names a tokeniser this rnnlab does not know; the checkpoint is "
                "damaged or from another program"
            )
        if d.get("version") != RULE_VERSION:
            raise UsageError(
                f"tokeniser rule version {d.get('version')!r} is not supported (this rnnlab has "
                f"version {RULE_VERSION}); upgrade rnnlab"
            )
        return cls(lowercase=bool(d.get("lowercase", True)), paragraphs=bool(d.get("paragraphs", False)))


def split_tail(units: Sequence[str], val_fraction: float, source: str = "the text") -> dict[str, list[str]]:
    """{"train", "valid", "test"}: the units cut by position, valid and test from the end (see above).

    >>> lines = [f"line {i}" for i in range(20)]
    >>> split_tail(lines, 0.05)["valid"], split_tail(lines, 0.05)["test"]
    (['line 18'], ['line 19'])
    """
    if not 0.0 < val_fraction < 0.5:
        raise UsageError(
            f"--val-fraction must be in (0, 0.5) (that share of the text for validation, the same "
            f"again for test), got {val_fraction!r}"
        )
    n = len(units)
    held = max(1, int(val_fraction * n + 0.5))  # rounded half up
    if n - 2 * held < 1:
        raise UsageError(
            f"{source} has {n} line(s) with words; it needs at least {2 * held + 1} to give train, "
            f"valid and test a line each at --val-fraction {val_fraction:g}: give a longer text"
        )
    return {
        "train": list(units[: n - 2 * held]),
        "valid": list(units[n - 2 * held : n - held]),
        "test": list(units[n - held :]),
    }


def stream_tokens(text: str, tokenizer: Optional[WordTokenizer]) -> list[str]:
    """A text as a word model's tokens: with the run's `tokenizer`, or, for runs without one (the
    pre-tokenised benchmarks), split on whitespace with `<eos>` after every line."""
    if tokenizer is not None:
        return tokenizer.stream(text)
    from rnnlab.data.text import ptb_tokens

    return ptb_tokens(text.splitlines())
