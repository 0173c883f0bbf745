"""Checkpoints as data: arrays in one safetensors file, versioned JSON metadata in its header.

A checkpoint is a single file `<run>/checkpoints/<name>.safetensors`:
- tensors: model weights (`model/rnn.weight_ih_l0`, ...), optimiser state (`optim/...`),
  carried hidden state (`state/...`) and anything else a task keeps as arrays;
- metadata (the header's `rnnlab` entry, JSON): format version, model and task config,
  vocabulary, optimiser/schedule scalars, RNG states, data position, step, metrics.

No pickle anywhere: loading a checkpoint cannot run code. Writes go to a temporary
file in the same folder and are renamed into place, so a crash mid-write leaves the
previous checkpoint intact.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Tuple

import numpy as np

from rnnlab.errors import UsageError

FORMAT = "rnnlab.checkpoint"
VERSION = 1


def save_checkpoint(path: Path, tensors: dict, meta: dict) -> None:
    """Atomically write `tensors` (name -> array) and `meta` (JSON-able) to `path`."""
    from safetensors.numpy import save

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {"format": FORMAT, "version": VERSION, **meta}
    payload = save({name: np.ascontiguousarray(value) for name, value in tensors.items()},
                   metadata={"rnnlab": json.dumps(header)})
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_checkpoint(path: Path) -> Tuple[dict, dict]:
    """-> (tensors, meta); UsageError for a missing, corrupt or foreign file."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"checkpoint not found: {path}")
    data = path.read_bytes()
    try:
        tensors = load(data)
        header_size = int.from_bytes(data[:8], "little")
        header = json.loads(data[8:8 + header_size])
        meta = json.loads(header.get("__metadata__", {}).get("rnnlab", "null"))
    except (SafetensorError, ValueError, UnicodeDecodeError) as error:
        raise UsageError(f"checkpoint {path} is corrupt or not a safetensors file ({error}); "
                         f"use another checkpoint (e.g. best instead of last) or retrain") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise UsageError(f"{path} is a safetensors file but not an rnnlab checkpoint")
    if meta.get("version") != VERSION:
        raise UsageError(f"{path} has checkpoint format version {meta.get('version')}; this rnnlab reads "
                         f"version {VERSION}")
    return tensors, meta


def split_prefix(tensors: dict, prefix: str) -> dict:
    """{'model/x': a, 'optim/y': b} with prefix 'model' -> {'x': a}."""
    start = prefix + "/"
    return {name[len(start):]: value for name, value in tensors.items() if name.startswith(start)}


def with_prefix(arrays: dict, prefix: str) -> dict:
    return {f"{prefix}/{name}": value for name, value in arrays.items()}
