"""The shipped corpora and reading the user's own text files.

`CORPORA` names every corpus shipped inside the package (gzip-compressed under
`corpora/`, provenance in `corpora/README.md`). Character corpora load as one
string; the word benchmark loads as lines per split:

    >>> text = load_corpus("tinyshakespeare")          # 1,115,394 characters
    >>> splits = load_word_splits("warpeace-words")    # {"train": [...], "valid": ..., "test": ...}

`read_text_file` reads a user's file and turns every way it can be wrong (missing,
a directory, empty, not UTF-8) into a one-line `UsageError`. `load_text` accepts
either a corpus name or a path, which is what a `--data` flag wants.

Left out: downloading anything; tokenisation (see `text.py`).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Union

from rnnlab.errors import UsageError

__all__ = ["Corpus", "CORPORA", "load_corpus", "load_word_splits", "read_text_file", "load_text"]


@dataclass(frozen=True)
class Corpus:
    """One shipped corpus: its kind and its file(s) relative to `corpora/`."""

    kind: str  # "char": one text; "word": PTB-style splits, one paragraph per line
    files: dict[str, str]  # "text" -> file for char corpora; split name -> file for word corpora
    about: str  # one line for listings and help text


CORPORA: dict[str, Corpus] = {
    "tinyshakespeare": Corpus(
        "char",
        {"text": "tinyshakespeare.txt.gz"},
        "40,000 lines of Shakespeare; the standard char-level benchmark (vocabulary 65)",
    ),
    "tang300": Corpus(
        "char", {"text": "tang300.txt.gz"}, "313 Tang poems in simplified Chinese (~2,600 distinct characters)"
    ),
    "warpeace": Corpus(
        "char", {"text": "warpeace.txt.gz"}, "Tolstoy, War and Peace (English translation), raw text, 3.2 MB"
    ),
    "warpeace-words": Corpus(
        "word",
        {
            "train": "warpeace-words/train.txt.gz",
            "valid": "warpeace-words/valid.txt.gz",
            "test": "warpeace-words/test.txt.gz",
        },
        "War and Peace as a PTB-style word benchmark (10,000-word vocabulary, 90/5/5 split)",
    ),
}


def _corpus(name: str, kind: str) -> Corpus:
    corpus = CORPORA.get(name)
    if corpus is None:
        names = ", ".join(sorted(n for n, c in CORPORA.items() if c.kind == kind))
        raise UsageError(f"unknown {kind} corpus {name!r}; choose one of: {names}")
    if corpus.kind != kind:
        other = "load_word_splits" if corpus.kind == "word" else "load_corpus"
        raise UsageError(
            f"corpus {name!r} is a {corpus.kind}-level corpus, not {kind}-level; load it with {other}({name!r})"
        )
    return corpus


def _read_shipped(relpath: str) -> str:
    # importlib.resources also works when the package is installed as a zip.
    blob = resources.files("rnnlab.data").joinpath("corpora", *relpath.split("/")).read_bytes()
    return gzip.decompress(blob).decode("utf-8")


def load_corpus(name: str) -> str:
    """The full text of a shipped character corpus, e.g. `load_corpus("tang300")`."""
    return _read_shipped(_corpus(name, "char").files["text"])


def load_word_splits(name: str) -> dict[str, list[str]]:
    """Lines per split of a shipped word benchmark: {"train": [...], "valid": [...], "test": [...]}."""
    corpus = _corpus(name, "word")
    return {split: _read_shipped(f).splitlines() for split, f in corpus.files.items()}


def read_text_file(path: Union[str, Path]) -> str:
    """Read a user's UTF-8 text file; every way it can be wrong is a `UsageError`.

    A leading byte-order mark is dropped and Windows line ends become "\\n", so the
    same text gives the same vocabulary whichever editor saved it.
    """
    path = Path(path)
    if not path.exists():
        raise UsageError(f"text file not found: {str(path)!r}; check the path")
    if path.is_dir():
        raise UsageError(f"{str(path)!r} is a directory, not a text file; give the path of a file inside it")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UsageError(f"cannot read {str(path)!r}: {e.strerror or e}; check its permissions") from None
    if not data:
        raise UsageError(f"text file {str(path)!r} is empty; give a file with some text in it")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(
            f"{str(path)!r} is not valid UTF-8 (byte 0x{data[e.start]:02x} at byte offset {e.start}); "
            f"the file must be UTF-8, convert it e.g. with iconv -t UTF-8"
        ) from None
    text = text.removeprefix("\ufeff")
    text = text.replace("\r\n", "\n")
    if not text.strip():
        raise UsageError(f"text file {str(path)!r} holds only whitespace; give a file with some text in it")
    return text


def load_text(source: Union[str, Path]) -> str:
    """A shipped character corpus by name, or else a UTF-8 text file by path (for `--data`)."""
    name = str(source)
    if name in CORPORA:
        return load_corpus(name)  # a word corpus here is a UsageError that says what to use
    path = Path(source)
    if not path.exists() and len(path.parts) == 1 and not path.suffix:
        names = ", ".join(sorted(n for n, c in CORPORA.items() if c.kind == "char"))
        raise UsageError(
            f"{name!r} is neither a shipped corpus ({names}) nor an existing file; "
            f"give one of those names or the path of a UTF-8 text file"
        )
    return read_text_file(path)
