"""Turning raw text into the symbol streams the tasks train on.

Three shapes of data, one per classic system:

- characters (d2l): `prepare_chars(text, max_chars=10000, newlines="space")`
- PTB-style words (pytorch/examples word_language_model): `ptb_tokens(lines)`
  splits each line on whitespace and appends "<eos>"
- sentences (WildML): `sentences(text)` lowercases, splits into sentences,
  tokenises words and punctuation with a regex and wraps each sentence in
  SENTENCE_START ... SENTENCE_END; `sentence_vocabulary(train, n_words)` keeps the
  n most frequent words of the *training* sentences plus UNKNOWN_TOKEN;
  `sentence_pairs(sents, vocab)` gives the (x, y) id arrays, y = x shifted by one.

    >>> sentences("Hello there! How are you?")
    [['SENTENCE_START', 'hello', 'there', '!', 'SENTENCE_END'],
     ['SENTENCE_START', 'how', 'are', 'you', '?', 'SENTENCE_END']]

Left out: NLTK-grade sentence splitting (abbreviations like "Mr." end a sentence
here), and any tokeniser that needs more than the standard library.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Optional

import numpy as np

from rnnlab.data.vocab import Vocabulary
from rnnlab.errors import UsageError

__all__ = [
    "EOS",
    "SENTENCE_START",
    "SENTENCE_END",
    "UNKNOWN_TOKEN",
    "prepare_chars",
    "ptb_tokens",
    "split_sentences",
    "tokenize_words",
    "sentences",
    "sentence_vocabulary",
    "sentence_pairs",
]

EOS = "<eos>"
SENTENCE_START = "SENTENCE_START"
SENTENCE_END = "SENTENCE_END"
UNKNOWN_TOKEN = "UNKNOWN_TOKEN"

# A sentence ends after . ! ? (with any closing quotes/brackets) followed by space,
# or at a blank line.
_SENTENCE_BREAK = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"')\]]))\s+|\n\s*\n")
# Words (letters/digits, with inner apostrophes or hyphens: "don't", "well-known"),
# or any single other non-space character (punctuation).
_TOKEN = re.compile(r"\w+(?:['\u2019-]\w+)*|[^\w\s]")


def prepare_chars(text: str, max_chars: Optional[int] = None, newlines: str = "keep", lowercase: bool = False) -> str:
    """Text ready for a character model: lowercased if asked, newlines kept or made spaces, then cut to `max_chars`.

    d2l's lyrics setting is `prepare_chars(text, max_chars=10000, newlines="space")`; the Keras
    text-generation example's is `prepare_chars(text, lowercase=True)`.
    """
    if newlines not in ("keep", "space"):
        raise UsageError(f"newlines must be 'keep' or 'space', got {newlines!r}")
    if max_chars is not None and max_chars < 1:
        raise UsageError(f"--max-chars must be at least 1, got {max_chars}")
    if lowercase:
        text = text.lower()
    if newlines == "space":
        text = text.replace("\r", " ").replace("\n", " ")
    if max_chars is not None:
        text = text[:max_chars]
    if not text:
        raise UsageError("the text is empty; give a file with some text in it")
    return text


def ptb_tokens(lines: Iterable[str]) -> list[str]:
    """Words of each line (split on whitespace), "<eos>" after every line, as in PTB."""
    tokens: list[str] = []
    for line in lines:
        tokens.extend(line.split())
        tokens.append(EOS)
    return tokens


def split_sentences(text: str) -> list[str]:
    """Sentences of `text`: breaks after . ! ? and at blank lines; empty pieces dropped."""
    return [s for s in (piece.strip() for piece in _SENTENCE_BREAK.split(text)) if s]


def tokenize_words(sentence: str) -> list[str]:
    """Words and punctuation marks of one sentence, e.g. "Don't go!" -> ["Don't", "go", "!"]."""
    return _TOKEN.findall(sentence)


def sentences(text: str, lowercase: bool = True) -> list[list[str]]:
    """Tokenised sentences of `text`, each wrapped in SENTENCE_START ... SENTENCE_END."""
    if lowercase:
        text = text.lower()
    out = []
    for sentence in split_sentences(text):
        words = tokenize_words(sentence)
        if words:
            out.append([SENTENCE_START, *words, SENTENCE_END])
    if not out:
        raise UsageError("found no sentences in the text; give a file with some words in it")
    return out


def sentence_vocabulary(train: list[list[str]], n_words: int = 8000) -> Vocabulary:
    """The `n_words` most frequent tokens of the training sentences, plus UNKNOWN_TOKEN last.

    Build it from training sentences only, so validation words stay unseen.
    """
    if n_words < 1:
        raise UsageError(f"--vocab-size must be at least 1, got {n_words}")
    counted = Vocabulary.from_tokens((w for s in train for w in s if w != UNKNOWN_TOKEN), max_size=n_words)
    return Vocabulary([*counted.itos, UNKNOWN_TOKEN], kind="word", unk=UNKNOWN_TOKEN)


def sentence_pairs(sents: list[list[str]], vocab: Vocabulary) -> list[tuple[np.ndarray, np.ndarray]]:
    """(x, y) per sentence: x the ids without the last token, y without the first, both (len-1,).

    Words outside `vocab` become UNKNOWN_TOKEN.
    """
    pairs = []
    for s in sents:
        ids = vocab.encode(s, unknown="unk")  # (len,)
        pairs.append((ids[:-1], ids[1:]))
    return pairs
