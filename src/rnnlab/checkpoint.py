"""Checkpoints as data: arrays in one safetensors file, versioned JSON metadata in its header.

A checkpoint is a single file `<run>/checkpoints/<name>.safetensors`:
- tensors: model weights (`model/rnn.weight_ih_l0`, ...), optimiser state (`optim/...`),
  carried hidden state (`state/...`) and anything else a task keeps as arrays;
- metadata (the header's `rnnlab` entry, JSON): format version, model and task config,
  vocabulary, optimiser/schedule scalars, RNG states, data position, step, metrics.

The safetensors format is read and written here with NumPy alone (8-byte little-endian
header length, a JSON header padded with spaces to a multiple of 8, then the raw
little-endian buffers), byte for byte as the `safetensors` package writes it, so the
plain install needs nothing else and the files open in any safetensors reader.
No pickle anywhere: loading a checkpoint cannot run code. Writes go to a temporary
file in the same folder and are renamed into place, so a crash mid-write leaves the
previous checkpoint intact.

Compatibility is by format version (`VERSION`, in every checkpoint and in config.json
as `format_version`): what an older version lacked is filled in by `upgrade`, the one
place that knows the history.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Optional

import numpy as np

from rnnlab.errors import UsageError

FORMAT = "rnnlab.checkpoint"
VERSION = 2


def upgrade(meta: dict, from_version: int) -> dict:
    """A checkpoint's metadata or a run's config.json written by format `from_version`, as
    format VERSION has it (a new dict; the caller's is left alone).

    1 -> 2: runs from before weight dropout existed trained without it (the option's default
            is now 0.2 for charlm): options.weight_dropout = 0.0 where it is missing.
    """
    meta = json.loads(json.dumps(meta))  # a deep copy of JSON data
    if from_version > VERSION:
        raise UsageError(
            f"this run was written by a newer rnnlab (format version {from_version}; this "
            f"rnnlab reads up to {VERSION}): upgrade rnnlab (pip install -U rnnlab)"
        )
    options = meta.get("options")
    if from_version < 2 and isinstance(options, dict):
        options.setdefault("weight_dropout", 0.0)
    return meta


def config_version(config: dict) -> int:
    """config.json's format version: `format_version`, or 1 for runs written before it existed."""
    return int(config.get("format_version", 1))


def save_checkpoint(path: Path, tensors: dict, meta: dict) -> None:
    """Atomically write `tensors` (name -> array) and `meta` (JSON-able) to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {"format": FORMAT, "version": VERSION, **meta}
    payload = safetensors_bytes(
        {name: np.ascontiguousarray(value) for name, value in tensors.items()}, metadata={"rnnlab": json.dumps(header)}
    )
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


def load_checkpoint(path: Path) -> tuple[dict, dict]:
    """-> (tensors, meta upgraded to VERSION); UsageError for a missing, corrupt or foreign file."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"checkpoint not found: {path}")
    try:
        tensors, metadata = read_safetensors(bytearray(path.read_bytes()))
        meta = json.loads((metadata or {}).get("rnnlab", "null"))
    except (ValueError, TypeError, KeyError, UnicodeDecodeError) as error:
        raise UsageError(
            f"checkpoint {path} is corrupt or not a safetensors file ({error}); "
            f"use another checkpoint (e.g. best instead of last) or retrain"
        ) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise UsageError(f"{path} is a safetensors file but not an rnnlab checkpoint")
    version = meta.get("version")
    if not isinstance(version, int) or version < 1:
        raise UsageError(f"{path} has an unknown checkpoint format version {version!r}; it is damaged")
    meta = upgrade(meta, version)
    meta["version"] = VERSION
    return tensors, meta


def split_prefix(tensors: dict, prefix: str) -> dict:
    """{'model/x': a, 'optim/y': b} with prefix 'model' -> {'x': a}."""
    start = prefix + "/"
    return {name[len(start) :]: value for name, value in tensors.items() if name.startswith(start)}


def with_prefix(arrays: dict, prefix: str) -> dict:
    return {f"{prefix}/{name}": value for name, value in arrays.items()}


# -- the safetensors file format, in NumPy ---------------------------------------------------
# safetensors' dtype names, in its own order: tensors are laid out by dtype, largest first,
# then by name (the order the safetensors package writes, so the bytes are the same).
_DTYPES = [
    ("BOOL", "|b1"),
    ("U8", "|u1"),
    ("I8", "|i1"),
    ("I16", "<i2"),
    ("U16", "<u2"),
    ("F16", "<f2"),
    ("I32", "<i4"),
    ("U32", "<u4"),
    ("F32", "<f4"),
    ("F64", "<f8"),
    ("I64", "<i8"),
    ("U64", "<u8"),
]
_NAME_OF = {np.dtype(code): name for name, code in _DTYPES}
_DTYPE_OF = {name: np.dtype(code) for name, code in _DTYPES}
_RANK = {name: rank for rank, (name, _) in enumerate(_DTYPES)}


def safetensors_bytes(tensors: dict[str, np.ndarray], metadata: Optional[dict[str, str]] = None) -> bytes:
    """The safetensors file of `tensors` (name -> array) with string `metadata`."""
    arrays = {}
    for name, value in tensors.items():
        array = np.asarray(value)
        dtype = array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype
        if dtype not in _NAME_OF:
            raise ValueError(f"tensor {name!r} has dtype {array.dtype}, which safetensors cannot hold")
        arrays[name] = array.astype(dtype, order="C", copy=False)  # 0-d stays 0-d
    order = sorted(arrays, key=lambda name: (-_RANK[_NAME_OF[arrays[name].dtype]], name))
    header: dict[str, object] = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    offset = 0
    for name in order:
        size = arrays[name].nbytes
        header[name] = {
            "dtype": _NAME_OF[arrays[name].dtype],
            "shape": list(arrays[name].shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return b"".join([len(text).to_bytes(8, "little"), text] + [arrays[name].tobytes() for name in order])


def read_safetensors(data: bytearray) -> tuple[dict[str, np.ndarray], Optional[dict[str, str]]]:
    """-> (tensors, metadata) of a safetensors file's bytes; ValueError when they are not one.
    The arrays are views of `data` (writable when `data` is a bytearray)."""
    if len(data) < 8:
        raise ValueError("shorter than a safetensors header")
    size = int.from_bytes(bytes(data[:8]), "little")
    if size > len(data) - 8:
        raise ValueError("header length beyond the end of the file")
    header = json.loads(bytes(data[8 : 8 + size]).decode("utf-8"))
    if not isinstance(header, dict):
        raise ValueError("header is not a JSON object")
    metadata = header.pop("__metadata__", None)
    buffer = memoryview(data)[8 + size :]
    tensors = {}
    for name, info in header.items():
        dtype = _DTYPE_OF.get(info["dtype"])
        if dtype is None:
            raise ValueError(f"tensor {name!r} has dtype {info['dtype']!r}, which rnnlab does not read")
        shape = tuple(int(n) for n in info["shape"])
        start, end = (int(n) for n in info["data_offsets"])
        if not 0 <= start <= end <= len(buffer) or end - start != int(np.prod(shape)) * dtype.itemsize:
            raise ValueError(f"tensor {name!r} has data offsets that do not fit its shape or the file")
        tensors[name] = np.frombuffer(buffer[start:end], dtype=dtype).reshape(shape)
    return tensors, metadata
