"""`rnnlab inspect`: recorded activations, text features, found units, the page's data, LSTMVis files, bad input."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rnnlab import api
from rnnlab.engine.registry import cell_names, get_cell
from rnnlab.errors import UsageError
from rnnlab.inspect import inspect
from rnnlab.inspect.features import char_features, word_features
from rnnlab.inspect.page import read_payload
from rnnlab.inspect.recording import gate_kinds, record, state_kinds
from rnnlab.inspect.units import UnitTable, saturation, strongest_units
from rnnlab.models import ModelConfig, NumpyModel

TINY_CHAR = dict(max_chars=4000, hidden=12, seq_len=10, batch_size=4, sample_length=5, epochs=1)
WORDS = "the cat sat on the mat .\nthe dog ( a big dog ) ran .\n\" hello \" said the cat 2 times .\n"


def _model(cell: str, layers: int, dtype: str = "float64", input: str = "embedding") -> NumpyModel:
    config = ModelConfig(input=input, input_size=11, output_size=11, cell=cell, hidden_size=6, num_layers=layers,
                         embedding_size=5, dtype=dtype)
    return NumpyModel(config, seed=3).eval()


def _state_parts(state, cell):
    return {"h": state[0], "c": state[1]} if get_cell(cell).has_cell_state else {"h": state}


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def char_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("inspect") / "char"
    api.train("charlm", run_dir=run, quiet=True, **TINY_CHAR)
    return run


@pytest.fixture(scope="module")
def word_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("inspect-words")
    data = root / "data"
    data.mkdir()
    for split in ("train", "valid", "test"):
        (data / f"{split}.txt").write_text(WORDS * 3)
    run = root / "word"
    api.train("wordlm", run_dir=run, quiet=True, epochs=1, data=str(data), hidden=8, layers=2, batch_size=2,
              seq_len=6, sample_length=2)
    return run


# ------------------------------------------------------------------------------ recording
@pytest.mark.parametrize("cell", cell_names())
@pytest.mark.parametrize("layers", [1, 2])
def test_recorded_states_equal_a_step_by_step_forward(cell, layers):
    model = _model(cell, layers)
    ids = np.random.default_rng(0).integers(0, 11, size=13)
    rec = record(model, ids, chunk=5)  # chunks of 5: the state is carried across them
    state = None
    for t, symbol in enumerate(ids):
        logits, state = model.forward(np.array([[symbol]]), state)  # one step: (1, 1, V)
        for kind, values in _state_parts(state, cell).items():  # (L, 1, H)
            for layer in range(layers):
                np.testing.assert_allclose(rec.states[(layer, 0)][kind][t], values[layer, 0], rtol=0, atol=1e-12)
        log_probs = logits[0, 0] - np.log(np.exp(logits[0, 0]).sum())
        np.testing.assert_allclose(rec.top_probs[t], np.sort(np.exp(log_probs))[::-1][:5], atol=1e-12)
        if t + 1 < len(ids):
            assert rec.loss[t + 1] == pytest.approx(-log_probs[ids[t + 1]], abs=1e-12)
    assert np.isnan(rec.loss[0])
    assert set(rec.states[(0, 0)]) == {*state_kinds(cell), *get_cell(cell).gate_names}


@pytest.mark.parametrize("cell", cell_names())
def test_recorded_gates_have_the_registry_names_and_shapes(cell):
    model = _model(cell, 1, input="onehot")
    rec = record(model, np.arange(7) % 11)
    for name, activation in gate_kinds(cell):
        values = rec.states[(0, 0)][name]
        assert values.shape == (7, 6)
        lo, hi = (0, 1) if activation == "sigmoid" else (-1, 1)
        assert values.min() >= lo and values.max() <= hi


@pytest.mark.parametrize("cell", [name for name in cell_names() if get_cell(name).torch_module])
def test_torch_step_by_step_recording_agrees_with_the_numpy_engine(cell):
    torch = pytest.importorskip("torch")
    from rnnlab.engine import make_recurrent
    from rnnlab.inspect.torch_recording import record_stack_torch

    layer = make_recurrent(cell, 4, 5, num_layers=2, dtype=np.float64, seed=1)
    x = np.random.default_rng(2).normal(size=(9, 3, 4))
    layer.forward(x, record=True)
    ours = layer.recorded
    theirs = record_stack_torch(cell, layer.state_dict(), x, num_layers=2)
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert ours[key].keys() == theirs[key].keys()
        for kind in ours[key]:
            np.testing.assert_allclose(ours[key][kind], theirs[key][kind], rtol=0, atol=1e-6, err_msg=f"{key} {kind}")
    # and the torch recording's states are torch.nn's own
    module = getattr(torch.nn, get_cell(cell).torch_module)(4, 5, num_layers=2).double()
    module.load_state_dict({k: torch.as_tensor(v) for k, v in layer.state_dict().items()})
    with torch.no_grad():
        y, _ = module(torch.as_tensor(x))
    np.testing.assert_allclose(theirs[(1, 0)]["h"], y.numpy(), rtol=0, atol=1e-12)


# ------------------------------------------------------------------------------- features
def test_inside_quotes_marks_the_symbols_between_the_quote_marks():
    assert char_features(list('a "b" c'))["inside_quotes"].tolist() == [0, 0, 0, 1, 0, 0, 0]


def test_inside_brackets_counts_nesting_and_leaves_the_brackets_out():
    assert char_features(list("a(b[c]d)e"))["inside_brackets"].tolist() == [0, 0, 1, 0, 1, 0, 1, 0, 0]


def test_line_and_word_positions_restart_after_a_newline_and_a_space():
    f = char_features(list("ab c\nde"))
    assert f["line_position"].tolist() == [0, 1, 2, 3, 4, 0, 1]
    assert f["word_position"].tolist() == [1, 2, 0, 1, 0, 1, 2]
    assert f["after_newline"].tolist() == [0, 0, 0, 0, 0, 1, 0]


def test_uppercase_and_digit_flag_their_characters():
    f = char_features(list("Ab1"))
    assert f["uppercase"].tolist() == [1, 0, 0]
    assert f["digit"].tolist() == [0, 0, 1]


def test_word_features_count_the_position_in_the_sentence():
    f = word_features("The cat sat . It ran <eos> Then".split())
    assert f["sentence_position"].tolist() == [0, 1, 2, 3, 0, 1, 2, 0]
    assert f["uppercase"].tolist() == [1, 0, 0, 0, 1, 0, 0, 1]
    assert f["after_newline"].tolist() == [0, 0, 0, 0, 0, 0, 0, 1]


# ---------------------------------------------------------------------------- found units
def test_the_ranking_finds_a_planted_unit():
    rng = np.random.default_rng(0)
    features = char_features(list('say "hi" (now) to Bob 42 times\n' * 20))
    h = rng.normal(size=(len(features["digit"]), 16))
    h[:, 11] = features["inside_quotes"] * 0.7 - 0.2 + rng.normal(scale=0.01, size=len(h))
    c = rng.normal(size=h.shape)
    c[:, 3] = -features["line_position"]
    table = UnitTable({(0, 0, "h"): h, (0, 0, "c"): c, (1, 0, "h"): rng.normal(size=h.shape)})
    found = {item["feature"]: item["units"][0] for item in strongest_units(table, features)}
    assert (found["inside_quotes"]["kind"], found["inside_quotes"]["unit"], found["inside_quotes"]["layer"]) == \
        ("h", 11, 0)
    assert found["inside_quotes"]["r"] > 0.99
    assert (found["line_position"]["kind"], found["line_position"]["unit"]) == ("c", 3)
    assert found["line_position"]["r"] == pytest.approx(-1.0)


def test_a_feature_absent_from_the_text_finds_no_unit():
    features = char_features(list("no digits here"))
    table = UnitTable({(0, 0, "h"): np.random.default_rng(0).normal(size=(14, 4))})
    digit = next(item for item in strongest_units(table, features) if item["feature"] == "digit")
    assert digit["present"] is False and digit["units"] == []


def test_saturation_counts_steps_beyond_the_thresholds():
    values = np.array([[0.05, 0.5], [0.95, 0.5], [0.05, 0.99], [0.5, 0.5]])
    s = saturation(values, "sigmoid")
    assert s["left"].tolist() == [0.5, 0.0] and s["right"].tolist() == [0.25, 0.25]
    t = saturation(np.array([[-0.95], [0.0], [0.95], [0.5]]), "tanh")
    assert t["left"].tolist() == [0.25] and t["right"].tolist() == [0.25]


# ------------------------------------------------------------------------------- the page
def test_the_page_embeds_exactly_the_recorded_numbers(char_run, tmp_path):
    from safetensors.numpy import load_file

    out = tmp_path / "out"
    result = inspect(char_run, length=300, units=4, out=out, say=lambda _: None)
    page = (out / "inspect.html").read_text()
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "") and "https://" not in page
    data = read_payload(page)
    arrays = load_file(str(out / "activations.safetensors"))
    assert len(data["symbols"]) == result["symbols"] == 300
    for u in data["units"]:
        recorded = arrays[f"l{u['layer']}.d{u['direction']}.{u['kind']}"][:, u["unit"]]
        assert u["values"] == np.round(recorded.astype(np.float64), 3).tolist()
    assert {(u["layer"], u["kind"]) for u in data["units"]} == {(0, "h"), (0, "c")}
    assert max(sum(u["kind"] == k for u in data["units"]) for k in "hc") >= 4
    loss = arrays["loss"].astype(np.float64)
    assert data["loss"][0] is None and data["loss"][1:] == np.round(loss[1:], 3).tolist()
    top = [[data["top"]["symbols"][i] for i in row] for row in data["top"]["ids"]]
    task = api.load(char_run)
    assert top == [[task.vocab.itos[i] for i in row] for row in arrays["top_ids"].tolist()]
    assert data["top"]["probs"] == np.round(arrays["top_probs"].astype(np.float64), 3).tolist()
    gates = {(g["gate"], g["activation"]) for g in data["saturation"]}
    assert gates == {("i", "sigmoid"), ("f", "sigmoid"), ("g", "tanh"), ("o", "sigmoid")}
    for g in data["saturation"]:
        values = arrays[f"l0.d0.{g['gate']}"].astype(np.float64)
        low, high = g["thresholds"]
        assert g["left"] == np.round((values < low).mean(axis=0), 3).tolist()
        assert g["right"] == np.round((values > high).mean(axis=0), 3).tolist()
    summary = json.loads((out / "inspect.json").read_text())
    assert summary["arrays"]["l0.d0.h"] == [300, 12] and "l0.d0.f" in summary["arrays"]
    assert {item["feature"] for item in summary["top_units"]} == set(summary["features"])
    assert "val_loss" not in data["header"]["val_loss"] and "ppl" in data["header"]["val_loss"]


def test_pngs_are_written_when_matplotlib_is_there(char_run, tmp_path):
    pytest.importorskip("matplotlib")
    inspect(char_run, length=120, out=tmp_path / "out", say=lambda _: None)
    for name in ("saturation.png", "units.png"):
        assert (tmp_path / "out" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_text_file_is_read_and_unknown_symbols_are_skipped_and_counted(char_run, tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("First Citizen:\u2603 speak\u2603\n")
    notes = []
    result = inspect(char_run, text=str(text), out=tmp_path / "out", say=notes.append)
    assert result["symbols"] == len("First Citizen: speak\n")
    assert notes == [f"note: 2 unknown symbols in {text} were skipped"]
    assert read_payload((tmp_path / "out" / "inspect.html").read_text())["symbols"][:5] == list("First")


@pytest.mark.parametrize("cell", ["gru", "rnn"])
def test_cells_without_a_cell_state_show_h_only(cell, tmp_path):
    run = tmp_path / cell
    api.train("charlm", run_dir=run, quiet=True, cell=cell, layers=2, **TINY_CHAR)
    data = read_payload(Path(inspect(run, length=80, out=tmp_path / "out", say=lambda _: None)["out"],
                             "inspect.html").read_text())
    assert {u["kind"] for u in data["units"]} == {"h"}
    assert {u["layer"] for u in data["units"]} == {0, 1}
    assert sorted({g["gate"] for g in data["saturation"]}) == sorted(name for name, _ in gate_kinds(cell))
    if not gate_kinds(cell):
        assert "no gates" in data["saturation_note"]


def test_a_run_trained_on_torch_is_inspected_on_the_numpy_engine(tmp_path):
    pytest.importorskip("torch")
    run = tmp_path / "torch-run"
    api.train("charlm", run_dir=run, quiet=True, backend="torch", device="cpu", **TINY_CHAR)
    result = inspect(run, length=50, out=tmp_path / "out", say=lambda _: None)
    assert result["symbols"] == 50


def test_a_word_model_reads_its_validation_split_and_a_text(word_run, tmp_path):
    data = read_payload(Path(inspect(word_run, out=tmp_path / "a", say=lambda _: None)["out"],
                             "inspect.html").read_text())
    assert data["kind"] == "word" and data["line_end"] == "<eos>"
    assert "sentence_position" in {item["feature"] for item in data["found"]}
    assert {u["layer"] for u in data["units"]} == {0, 1}
    text = tmp_path / "w.txt"
    text.write_text("the zebra sat .\n")
    notes = []
    result = inspect(word_run, text=str(text), out=tmp_path / "b", say=notes.append)
    assert result["symbols"] == 5  # the, <unk>, sat, ., <eos>
    assert notes == [f"note: 1 unknown symbols in {text} were read as '<unk>'"]


def test_lstmvis_files_are_what_lstmvis_reads(char_run, tmp_path):
    h5py = pytest.importorskip("h5py")
    inspect(char_run, length=60, out=tmp_path / "out", lstmvis=tmp_path / "lv", say=lambda _: None)
    with h5py.File(tmp_path / "lv" / "states.h5", "r") as f:
        assert sorted(f) == ["output1", "states1"]
        assert f["output1"].shape == (60, 12) and f["output1"].dtype == np.float32
    with h5py.File(tmp_path / "lv" / "train.h5", "r") as f:
        ids = f["word_ids"][()]
    words = {}
    for line in (tmp_path / "lv" / "words.dict").read_text().splitlines():
        word, number = line.split()  # LSTMVis reads "word id" with str.split()
        words[int(number)] = word
    task = api.load(char_run)
    assert len(words) == len(task.vocab) and len(set(words.values())) == len(words)
    decoded = "".join({"<space>": " ", "<newline>": "\n"}.get(words[i], words[i]) for i in ids)
    assert decoded == "".join(task.vocab.itos[i] for i in ids)
    yml = (tmp_path / "lv" / "lstm.yml").read_text()
    for needle in ("states: states.h5", "path: word_ids", "dict_file: words", "{type: state, layer: 1, path: states1}",
                   "{type: output, layer: 1, path: output1}"):
        assert needle in yml


# ------------------------------------------------------------------------------ bad input
def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rnnlab.inspect", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def test_bad_input_is_one_line_exit_2_and_leaves_the_run_alone(char_run, tmp_path):
    before = _snapshot(char_run)
    empty, binary, unknown = tmp_path / "empty.txt", tmp_path / "bin.txt", tmp_path / "unknown.txt"
    empty.write_text("")
    binary.write_bytes(b"\xff\xfe\x00abc")
    unknown.write_text("\u2603\u2603\u2603")
    existing = tmp_path / "existing"
    existing.mkdir()
    cases = {("--text", empty): "empty", ("--text", binary): "UTF-8", ("--text", unknown): "unknown ones skipped: 3",
             ("--units", 0): "--units", ("--units", 13): "12 hidden units", ("--length", 0): "--length",
             ("--out", existing): "--force"}
    for flags, needle in cases.items():
        done = _cli(char_run, *flags, *(() if "--out" in flags else ("--out", tmp_path / "never")))
        assert done.returncode == 2, (flags, done.stderr)
        assert done.stderr.count("\n") == 1 and needle in done.stderr and "Traceback" not in done.stderr, flags
        assert not (tmp_path / "never").exists()
    assert _snapshot(char_run) == before
    assert not (char_run / "inspect").exists()


def test_a_run_that_is_not_a_language_model_is_refused(tmp_path):
    run = tmp_path / "sincos"
    api.train("sincos", run_dir=run, epochs=1, batches_per_epoch=2, eval_steps=5, eval_warmup=2, quiet=True)
    done = _cli(run)
    assert done.returncode == 2 and "language models" in done.stderr and done.stderr.count("\n") == 1
    assert not (run / "inspect").exists()


def test_an_existing_output_is_replaced_with_force(char_run, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    done = _cli(char_run, "--out", out, "--force", "--length", 40)
    assert done.returncode == 0, done.stderr
    assert not (out / "old.txt").exists() and (out / "inspect.html").exists()
    assert "wrote" in done.stdout


def test_the_header_takes_the_validation_loss_from_the_checkpoint_without_a_log(char_run, tmp_path):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(char_run, run)
    logged = read_payload(Path(inspect(run, length=30, out=tmp_path / "a", say=lambda _: None)["out"],
                               "inspect.html").read_text())["header"]["val_loss"]
    (run / "metrics.jsonl").unlink()
    header = read_payload(Path(inspect(run, length=30, out=tmp_path / "b", say=lambda _: None)["out"],
                               "inspect.html").read_text())["header"]
    assert header["val_loss"].endswith("from the checkpoint")
    assert header["val_loss"].split()[1] == logged.split("best ")[1].split()[0]
    assert header["model"].startswith("LSTM 1x12")


def test_an_existing_lstmvis_folder_is_refused_before_anything_is_written(char_run, tmp_path):
    (tmp_path / "lv").mkdir()
    with pytest.raises(UsageError, match="--lstmvis .* already exists"):
        inspect(char_run, out=tmp_path / "out", lstmvis=tmp_path / "lv", say=lambda _: None)
    assert not (tmp_path / "out").exists()


def test_lstmvis_without_h5py_names_the_extra(char_run, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)  # import h5py now raises ImportError
    with pytest.raises(UsageError, match=r"rnnlab\[lstmvis\]"):
        inspect(char_run, out=tmp_path / "out", lstmvis=tmp_path / "lv", say=lambda _: None)
    assert not (tmp_path / "out").exists() and not (tmp_path / "lv").exists()
