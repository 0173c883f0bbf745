"""Checkpoint files: the safetensors format in NumPy alone, and compatibility by format version."""
import json
from pathlib import Path

import numpy as np
import pytest

from rnnlab import api
from rnnlab.checkpoint import (VERSION, load_checkpoint, read_safetensors, safetensors_bytes, save_checkpoint,
                               split_prefix, upgrade)
from rnnlab.errors import UsageError

TINY = dict(max_chars=3000, hidden=16, seq_len=10, batch_size=4, sample_length=10)


def some_tensors():
    rng = np.random.default_rng(0)
    return {"model/w": rng.random((3, 4)).astype(np.float32), "model/b": rng.random(5),
            "extra/ids": np.arange(6, dtype=np.int64).reshape(2, 3), "extra/mask": np.array([True, False]),
            "extra/empty": np.zeros((0, 3), np.float32), "extra/scalar": np.array(3.5),
            "extra/bytes": np.arange(3, dtype=np.uint8), "extra/half": np.ones(2, np.float16),
            "extra/big_endian": np.arange(4, dtype=">f4")}


def test_our_safetensors_files_are_byte_for_byte_those_of_the_safetensors_package_and_read_both_ways():
    numpy_safetensors = pytest.importorskip("safetensors.numpy")
    tensors, metadata = some_tensors(), {"rnnlab": json.dumps({"text": "é \"quoted\"\n"})}
    ours = safetensors_bytes(tensors, metadata)
    assert ours == numpy_safetensors.save(tensors, metadata=metadata)
    theirs_read = numpy_safetensors.load(ours)
    ours_read, ours_metadata = read_safetensors(bytearray(numpy_safetensors.save(tensors, metadata=metadata)))
    assert ours_metadata == metadata
    for name, value in tensors.items():
        for read in (theirs_read, ours_read):
            np.testing.assert_array_equal(read[name], value)
            assert read[name].shape == value.shape and read[name].dtype == value.dtype.newbyteorder("<")


def test_a_checkpoint_round_trips_its_arrays_and_metadata_and_says_its_format_version(tmp_path):
    tensors = some_tensors()
    save_checkpoint(tmp_path / "c.safetensors", tensors, {"task": "charlm", "options": {"weight_dropout": 0.3}})
    loaded, meta = load_checkpoint(tmp_path / "c.safetensors")
    assert meta["version"] == VERSION == 2 and meta["options"] == {"weight_dropout": 0.3}
    for name, value in tensors.items():
        np.testing.assert_array_equal(loaded[name], value)
    loaded["model/w"] += 1  # loaded arrays are the caller's to change


@pytest.mark.parametrize("damage", ["truncated", "header length", "offsets", "dtype"])
def test_a_damaged_safetensors_file_is_a_one_line_corrupt_error(tmp_path, damage):
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, {"w": np.ones(4)}, {"task": "charlm"})
    data = path.read_bytes()
    size = int.from_bytes(data[:8], "little")
    header = data[8:8 + size]
    if damage == "truncated":
        data = data[:-3]
    elif damage == "header length":
        data = (len(data)).to_bytes(8, "little") + data[8:]
    elif damage == "offsets":
        data = data[:8] + header.replace(b"[0,32]", b"[0,64]") + data[8 + size:]
    else:
        data = data[:8] + header.replace(b'"F64"', b'"XYZ"') + data[8 + size:]
    path.write_bytes(data)
    with pytest.raises(UsageError, match="corrupt") as error:
        load_checkpoint(path)
    assert "\n" not in str(error.value)


def rewrite_as_version_1(path: Path) -> None:
    """A checkpoint as format version 1 wrote it before weight dropout existed."""
    data = bytearray(path.read_bytes())
    tensors, metadata = read_safetensors(data)
    meta = json.loads(metadata["rnnlab"])
    meta["version"] = 1
    del meta["options"]["weight_dropout"]
    path.write_bytes(safetensors_bytes({k: np.array(v) for k, v in tensors.items()},
                                       {"rnnlab": json.dumps(meta)}))


def test_upgrading_version_1_fills_weight_dropout_as_off_and_leaves_the_callers_dict_alone():
    old = {"options": {"hidden": 16}}
    assert upgrade(old, 1)["options"] == {"hidden": 16, "weight_dropout": 0.0}
    assert old == {"options": {"hidden": 16}}
    assert upgrade({"options": {"weight_dropout": 0.5}}, 1)["options"]["weight_dropout"] == 0.5
    assert upgrade({"options": {}}, VERSION)["options"] == {}  # what this version writes is left as it is


def test_a_file_from_a_newer_format_version_asks_to_upgrade_rnnlab(tmp_path):
    with pytest.raises(UsageError, match="newer rnnlab"):
        upgrade({"options": {}}, VERSION + 1)


def test_a_version_1_run_loads_and_resumes_as_it_trained_without_weight_dropout(tmp_path):
    settings = dict(TINY, sampling="random", schedule="none", weight_dropout=0.0)
    api.train("charlm", run_dir=tmp_path / "straight", quiet=True, epochs=2, **settings)
    api.train("charlm", run_dir=tmp_path / "old", quiet=True, epochs=1, **settings)
    config_path = tmp_path / "old" / "config.json"
    config = json.loads(config_path.read_text())
    assert config["format_version"] == VERSION
    del config["format_version"], config["options"]["weight_dropout"]
    config_path.write_text(json.dumps(config))
    for name in ("last", "best"):
        rewrite_as_version_1(tmp_path / "old" / "checkpoints" / f"{name}.safetensors")
    assert api.load(tmp_path / "old").options.weight_dropout == 0.0  # charlm's default is now 0.2
    api.resume(tmp_path / "old", epochs=2, quiet=True)
    straight, _ = load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.safetensors")
    resumed, meta = load_checkpoint(tmp_path / "old" / "checkpoints" / "last.safetensors")
    assert meta["version"] == VERSION
    for name, value in split_prefix(straight, "model").items():
        np.testing.assert_array_equal(split_prefix(resumed, "model")[name], value, err_msg=name)
