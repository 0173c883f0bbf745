"""Files for LSTMVis (Strobelt et al.; github.com/HendrikStrobelt/LSTMVis), so its users can open
an rnnlab run in that tool: put the folder under LSTMVis's data directory.

What LSTMVis reads (its README, `lstmdata/data_handler.py`, `model/get_states.lua`):
- `states.h5`: per layer k (from 1) the datasets `states{k}` (cell state c, for cells with
  one) and `output{k}` (hidden state h), each (N, H) float32, one row per symbol;
- `train.h5`: dataset `word_ids` (N,) int, the symbol at each row;
- `words.dict`: one "symbol id" line per vocabulary entry (split on whitespace, so
  characters that are whitespace are written as <space>, <newline>, <tab>);
- `lstm.yml`: name, description, files, word_sequence and states.types
  ({type: state|output, layer: k, path: ...}).
Direction 1 (a backward layer) would be `states{k}_reverse`; language models here have none.

h5py is an optional extra, imported only here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from rnnlab.errors import UsageError

WHITESPACE_NAMES = {" ": "<space>", "\n": "<newline>", "\t": "<tab>", "\r": "<return>"}


def require_h5py():
    try:
        import h5py
    except ImportError:
        raise UsageError(
            "--lstmvis writes HDF5 files and needs h5py: pip install 'rnnlab[lstmvis]' (or pip install h5py)"
        ) from None
    return h5py


def dict_symbol(symbol: str) -> str:
    """A vocabulary symbol as one whitespace-free token of words.dict."""
    if symbol in WHITESPACE_NAMES:
        return WHITESPACE_NAMES[symbol]
    if not symbol or any(ch.isspace() for ch in symbol):
        return "<" + "".join(f"U+{ord(ch):04X}" if ch.isspace() else ch for ch in symbol) + ">"
    return symbol


def _yaml_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid YAML flow scalar


def write_lstmvis(folder: Path, rec, vocab, header: dict, cell: str) -> list[str]:
    from rnnlab.inspect.recording import state_kinds

    h5py = require_h5py()
    types = []
    with h5py.File(folder / "states.h5", "w") as f:
        for (layer, direction), values in sorted(rec.states.items()):
            suffix = "_reverse" if direction else ""
            for kind in state_kinds(cell):
                path = ("states" if kind == "c" else "output") + f"{layer + 1}{suffix}"
                f.create_dataset(path, data=np.ascontiguousarray(values[kind], dtype=np.float32))
                types.append(f"    {{type: {'state' if kind == 'c' else 'output'}, layer: {layer + 1}, path: {path}}}")
    with h5py.File(folder / "train.h5", "w") as f:
        f.create_dataset("word_ids", data=np.asarray(rec.ids, dtype=np.int64))
    seen = set()
    lines = []
    for i, symbol in enumerate(vocab.itos):
        token = dict_symbol(symbol)
        while token in seen:  # two symbols must not share a name
            token += "'"
        seen.add(token)
        lines.append(f"{token} {i}")
    (folder / "words.dict").write_text("\n".join(lines) + "\n", encoding="utf-8")
    yml = "\n".join(
        [
            f"name: {_yaml_string('rnnlab ' + header['run'])}",
            f"description: {_yaml_string(header['model'] + '; ' + header['inspected'])}",
            "",
            "files:",
            "  states: states.h5",
            "  train: train.h5",
            "  words: words.dict",
            "",
            "word_sequence:",
            "  file: train",
            "  path: word_ids",
            "  dict_file: words",
            "",
            "states:",
            "  file: states",
            "  types: [",
            ",\n".join(types),
            "  ]",
            "",
        ]
    )
    (folder / "lstm.yml").write_text(yml, encoding="utf-8")
    return ["states.h5", "train.h5", "words.dict", "lstm.yml"]
