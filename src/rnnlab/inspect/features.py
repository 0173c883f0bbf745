"""Simple features of a text, one number per symbol, that a unit's activation may follow.

    >>> char_features(list('a "b" c'))["inside_quotes"].tolist()
    [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]

Conventions (each feature describes the symbol just read, so the state after it):
- inside_quotes: between a pair of '"' (or “ ”), the quote marks themselves 0;
- inside_brackets: within (), [] or {}, the brackets themselves 0 (nesting counted, shown 0/1);
- line_position: symbols since the last line end (0 for the first symbol of a line);
- word_position: 1, 2, 3... for the letters/digits of a word, 0 elsewhere (characters only);
- after_newline: the previous symbol ended a line;
- uppercase: the symbol is (or, for words, starts with) an upper-case letter;
- digit: the symbol is (contains) a digit;
- sentence_position (words only): words since the last sentence end.
Word models end lines with their end-of-line token (`<eos>`) and sentences with
`.`, `!`, `?` or the sentence markers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rnnlab.data.text import EOS, SENTENCE_END, SENTENCE_START

QUOTES_TOGGLE = ('"',)
QUOTES_OPEN, QUOTES_CLOSE = ("“",), ("”",)
OPEN_BRACKETS, CLOSE_BRACKETS = "([{", ")]}"
LINE_ENDS = ("\n", EOS, SENTENCE_END)
SENTENCE_ENDS = (".", "!", "?", EOS, SENTENCE_START, SENTENCE_END)

DESCRIPTIONS = {
    "inside_quotes": 'inside "quotes"',
    "inside_brackets": "inside (), [] or {}",
    "line_position": "position in the line",
    "word_position": "position in the word",
    "after_newline": "right after a line end",
    "uppercase": "upper-case",
    "digit": "digit",
    "sentence_position": "position in the sentence",
}


def _inside(symbols: Sequence[str]) -> dict[str, np.ndarray]:
    quotes = np.zeros(len(symbols))
    brackets = np.zeros(len(symbols))
    in_quotes, depth = False, 0
    for t, s in enumerate(symbols):
        if s in QUOTES_TOGGLE:
            in_quotes = not in_quotes
        elif s in QUOTES_OPEN:
            in_quotes = True
        elif s in QUOTES_CLOSE:
            in_quotes = False
        else:
            quotes[t] = in_quotes
        if s in OPEN_BRACKETS:
            depth += 1
        elif s in CLOSE_BRACKETS:
            depth = max(depth - 1, 0)
        else:
            brackets[t] = depth > 0
    return {"inside_quotes": quotes, "inside_brackets": brackets}


def _positions(symbols: Sequence[str], ends: Sequence[str]) -> np.ndarray:
    """Symbols since the last one in `ends` (the end symbol itself continues the count)."""
    out = np.zeros(len(symbols))
    count = 0
    for t, s in enumerate(symbols):
        out[t] = count
        count = 0 if s in ends else count + 1
    return out


def _after(symbols: Sequence[str], ends: Sequence[str]) -> np.ndarray:
    out = np.zeros(len(symbols))
    for t in range(1, len(symbols)):
        out[t] = symbols[t - 1] in ends
    return out


def char_features(chars: Sequence[str]) -> dict[str, np.ndarray]:
    """Features of a character sequence: name -> (N,) float array."""
    features = _inside(chars)
    features["line_position"] = _positions(chars, ("\n",))
    word = np.zeros(len(chars))
    run = 0
    for t, ch in enumerate(chars):
        run = run + 1 if ch.isalnum() else 0
        word[t] = run
    features["word_position"] = word
    features["after_newline"] = _after(chars, ("\n",))
    features["uppercase"] = np.array([ch.isupper() for ch in chars], dtype=float)
    features["digit"] = np.array([ch.isdigit() for ch in chars], dtype=float)
    return features


def word_features(words: Sequence[str]) -> dict[str, np.ndarray]:
    """Features of a word sequence: name -> (N,) float array."""
    features = _inside(words)
    features["line_position"] = _positions(words, LINE_ENDS)
    features["after_newline"] = _after(words, LINE_ENDS)
    features["uppercase"] = np.array([w[:1].isupper() for w in words], dtype=float)
    features["digit"] = np.array([any(ch.isdigit() for ch in w) for w in words], dtype=float)
    features["sentence_position"] = _positions(words, SENTENCE_ENDS)
    return features


def text_features(symbols: Sequence[str], kind: str) -> dict[str, np.ndarray]:
    """`char_features` or `word_features`, by the vocabulary's kind ("char" | "word")."""
    return char_features(symbols) if kind == "char" else word_features(symbols)


def feature_names(kind: str) -> list[str]:
    return list(text_features(["a"], kind))
