"""The torch backend against the NumPy engine: same model, same numbers, interchangeable runs.

- the network: forward and backward in float64 agree to ~1e-12 over cells x inputs x stacks;
- training (float64): from the same initial weights and batches, the first 20 steps of
  charlm, wordlm and sincos give the same losses (relative difference < 1e-9) and the
  same weights after them, for every optimiser;
- runs (float32): a run trained on one engine is evaluated, generated from and resumed
  on the other; logits agree to 1e-5;
- ONNX: the exported file run by onnxruntime gives torch's logits.
"""
import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # tiny shapes: threads only contend (and this machine may have a CPU quota)

from rnnlab import api  # noqa: E402
from rnnlab.backends import require_backend  # noqa: E402
from rnnlab.backends.torch import TorchModel  # noqa: E402
from rnnlab.checkpoint import load_checkpoint, split_prefix  # noqa: E402
from rnnlab.cli import main  # noqa: E402
from rnnlab.engine.registry import CELLS as REGISTRY, cell_names, get_cell  # noqa: E402
from rnnlab.errors import UsageError  # noqa: E402
from rnnlab.models import ModelConfig, NumpyModel  # noqa: E402
from rnnlab.tasks import TASKS  # noqa: E402
from rnnlab.train import clip_gradients, make_optimizer  # noqa: E402

# no dropout unless a test asks (the two engines draw their masks from different generators), and
# no cosine curve (it spans --epochs, so a run stopped at 1 of 1 epochs and one at 1 of 2 differ)
TINY = dict(max_chars=3000, hidden=16, seq_len=10, batch_size=4, sample_length=10, dropout=0.0, weight_dropout=0.0,
            schedule="none")
TINY_FLAGS = ["--max-chars", "3000", "--hidden", "16", "--seq-len", "10", "--batch-size", "4",
              "--sample-length", "10", "--dropout", "0", "--weight-dropout", "0", "--schedule", "none"]


@pytest.fixture(autouse=True)
def no_plots(monkeypatch):
    """Run folders here need no curves.png (test_runs checks it); drawing it is most of a tiny run's time."""
    import rnnlab.plots

    monkeypatch.setattr(rnnlab.plots, "plot_history", lambda *args, **kwargs: None)


def weights(run_dir, name="last"):
    tensors, _ = load_checkpoint(run_dir / "checkpoints" / f"{name}.safetensors")
    return split_prefix(tensors, "model")


def assert_close_weights(a, b, rtol, atol=0.0):
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=rtol, atol=atol, err_msg=name)


# ------------------------------------------------------------------------------ the network
CONFIGS = {
    "onehot-lstm": dict(input="onehot", cell="lstm"),
    "embedding-gru-2-tied": dict(input="embedding", cell="gru", num_layers=2, tied=True, embedding_size=8),
    "embedding-lstm-2-tied-head-projection": dict(input="embedding", cell="lstm", num_layers=2, tied=True,
                                                  embedding_size=5),
    "embedding-rnn-relu-3-locked": dict(input="embedding", cell="rnn", nonlinearity="relu", num_layers=3,
                                        dropout=0.3, locked_dropout=True),
    "dense-lstm-projection-2-dropout": dict(input="dense", cell="lstm", projection_size=5, num_layers=2, dropout=0.2),
    "onehot-rnn-nobias-T1": dict(input="onehot", cell="rnn", bias=False),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("steps,batch", [(6, 4), (1, 1)])
def test_the_network_matches_the_numpy_model_forward_and_backward(name, steps, batch):
    _assert_network_matches(ModelConfig(input_size=11, output_size=11, hidden_size=8, dtype="float64",
                                        **CONFIGS[name]), steps, batch)


# every registered cell torch computes (torch.nn's module or backends/loop.py's step loop), on a 2-layer stack
TORCH_CELLS = [(spec.name, nonlinearity) for spec in REGISTRY.values() for nonlinearity in spec.torch_nonlinearities]


@pytest.mark.parametrize("cell,nonlinearity", TORCH_CELLS, ids=[f"{c}-{n}" for c, n in TORCH_CELLS])
def test_every_registered_cell_matches_the_numpy_model_on_torch_in_float64(cell, nonlinearity):
    _assert_network_matches(ModelConfig(input="embedding", input_size=11, output_size=11, hidden_size=8, cell=cell,
                                        nonlinearity=nonlinearity, num_layers=2, forget_bias=1.0, dtype="float64"),
                            5, 3)


def _assert_network_matches(config, steps, batch):
    ours, theirs = NumpyModel(config, seed=3), TorchModel(config, seed=3, device="cpu")
    ours.eval(), theirs.eval()  # dropout masks differ between the engines: compare without them
    assert list(theirs.params) == list(ours.params)
    for key, value in ours.state_dict().items():
        np.testing.assert_array_equal(theirs.state_dict()[key], value, err_msg=f"initial {key}")
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(steps, batch, 11)) if config.input == "dense" else rng.integers(0, 11, (steps, batch))
    state = ours.init_state(batch)
    state = tuple(rng.normal(size=s.shape) for s in state) if isinstance(state, tuple) else rng.normal(size=state.shape)
    out_a, state_a = ours.forward(inputs, state)
    out_b, state_b = theirs.forward(inputs, state)
    np.testing.assert_allclose(out_b, out_a, rtol=1e-10, atol=1e-12)
    for a, b in zip(*(s if isinstance(s, tuple) else (s,) for s in (state_a, state_b))):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)
    d_out = rng.normal(size=out_a.shape)
    d_state = tuple(rng.normal(size=s.shape) for s in state_a) if isinstance(state_a, tuple) \
        else rng.normal(size=state_a.shape)
    ours.zero_grad(), theirs.zero_grad()
    dx_a, dx_b = ours.backward(d_out, d_state), theirs.backward(d_out, d_state)
    for key in ours.grads:
        np.testing.assert_allclose(theirs.grads[key], ours.grads[key], rtol=1e-9, atol=1e-12, err_msg=key)
    if config.input == "dense":
        np.testing.assert_allclose(dx_b, dx_a, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("cell,num_layers", [(name, 1 + k % 2) for k, name in enumerate(cell_names())])
def test_weight_dropout_on_torch_is_the_numpy_model_on_the_masked_recurrent_weights(cell, num_layers):
    config = ModelConfig(input="embedding", input_size=11, output_size=11, hidden_size=8, cell=cell,
                         num_layers=num_layers, weight_dropout=0.5, dtype="float64")
    theirs = TorchModel(config, seed=3, device="cpu")
    replay = torch.Generator().set_state(theirs.generators["rnn"].get_state())  # the masks it is about to draw
    masks = {}
    for k in range(num_layers):
        gate_rows = get_cell(cell).num_gates * 8
        draw = torch.rand((gate_rows, 8), generator=replay, dtype=torch.float32).numpy()
        masks[f"rnn.weight_hh_l{k}"] = (draw >= 0.5) / 0.5
    ours = NumpyModel(ModelConfig(**{**config.to_dict(), "weight_dropout": 0.0}), seed=3)
    weights = ours.state_dict()
    ours.load_state_dict({name: value * masks[name] if name in masks else value for name, value in weights.items()})
    rng = np.random.default_rng(0)
    inputs = rng.integers(0, 11, (6, 4))
    out_ours, _ = ours.forward(inputs)
    out_theirs, _ = theirs.forward(inputs)
    np.testing.assert_allclose(out_theirs, out_ours, rtol=1e-10, atol=1e-12)
    d_out = rng.normal(size=out_ours.shape)
    ours.zero_grad(), theirs.zero_grad()
    ours.backward(d_out), theirs.backward(d_out)
    for key in ours.grads:
        expected = ours.grads[key] * masks[key] if key in masks else ours.grads[key]
        np.testing.assert_allclose(theirs.grads[key], expected, rtol=1e-9, atol=1e-12, err_msg=key)
    np.testing.assert_array_equal(theirs.state_dict()["rnn.weight_hh_l0"], weights["rnn.weight_hh_l0"])
    theirs.eval()  # no masks in evaluation: the plain model on the unmasked weights
    ours.load_state_dict(weights)
    np.testing.assert_allclose(theirs.forward(inputs)[0], ours.forward(inputs)[0], rtol=1e-10, atol=1e-12)


def test_state_dicts_move_both_ways_and_bad_ones_are_refused():
    config = ModelConfig(input="embedding", input_size=7, output_size=7, hidden_size=6, num_layers=2, dropout=0.1)
    numpy_model, torch_model = NumpyModel(config, seed=1), TorchModel(config, seed=2, device="cpu")
    torch_model.load_state_dict(numpy_model.state_dict())
    numpy_model.eval(), torch_model.eval()
    ids = np.arange(7).reshape(7, 1)
    np.testing.assert_allclose(torch_model.forward(ids)[0], numpy_model.forward(ids)[0], atol=1e-5)
    with pytest.raises(KeyError):
        torch_model.load_state_dict({"head.weight": np.zeros((7, 6))})
    broken = torch_model.state_dict()
    broken["head.bias"] = np.zeros(3)
    with pytest.raises(ValueError):
        torch_model.load_state_dict(broken)


def test_settings_the_torch_backend_cannot_run_are_usage_errors():
    with pytest.raises(UsageError, match="sigmoid"):
        TorchModel(ModelConfig(input_size=3, output_size=3, hidden_size=4, cell="rnn", nonlinearity="sigmoid"),
                   device="cpu")
    with pytest.raises(UsageError, match="--device"):
        TorchModel(ModelConfig(input_size=3, output_size=3, hidden_size=4), device="tpu")
    model = TorchModel(ModelConfig(input_size=3, output_size=3, hidden_size=4), device="cpu")
    with pytest.raises(UsageError, match="CUDA"):
        model.enable_amp("bf16")
    with pytest.raises(ValueError, match="out of range"):
        model.forward(np.array([[3]]))


def test_without_torch_the_backend_flag_says_how_to_install_it(monkeypatch, capsys, tmp_path):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    with pytest.raises(UsageError, match=r"pip install 'rnnlab\[torch\]'"):
        require_backend("torch")
    assert main(["train", "charlm", *TINY_FLAGS, "--backend", "torch", "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "pip install 'rnnlab[torch]'" in err


# -------------------------------------------------------------------- training equivalence
def first_steps(task_name, backend, steps=20, **settings):
    """The Trainer's phases for `steps` batches -> (losses, final weights)."""
    options = api.make_options(task_name, **settings)
    task = TASKS[task_name](options)
    api._build(task, backend, "cpu")
    model, sampler = task.model, task.sampler()
    optimizer = make_optimizer(options, model.params, model)
    losses = []
    while len(losses) < steps:
        for batch in sampler.epoch():
            model.zero_grad()
            loss_sum, count = task.train_step(batch)
            if options.clip > 0:
                clip_gradients(model, options.clip)
            optimizer.step(model.grads)
            losses.append(loss_sum / count)
            if len(losses) == steps:
                break
    return np.array(losses), model.state_dict()


def assert_same_training(task_name, **settings):
    losses_numpy, weights_numpy = first_steps(task_name, "numpy", dtype="float64", **settings)
    losses_torch, weights_torch = first_steps(task_name, "torch", dtype="float64", **settings)
    relative = np.abs(losses_torch - losses_numpy) / np.abs(losses_numpy)
    assert relative.max() < 1e-9, np.c_[losses_numpy, losses_torch]
    assert_close_weights(weights_torch, weights_numpy, rtol=1e-7, atol=1e-10)


OPTIMISERS = {"adam": dict(optimizer="adam", lr=3e-3), "sgd-momentum": dict(optimizer="sgd", lr=0.5, momentum=0.9),
              "rmsprop": dict(optimizer="rmsprop", lr=1e-3, momentum=0.5, weight_decay=1e-4),
              "adagrad": dict(optimizer="adagrad", lr=0.05)}


@pytest.mark.parametrize("optimiser", sorted(OPTIMISERS))
def test_charlm_trains_the_same_on_both_engines(optimiser):
    assert_same_training("charlm", **TINY, clip=1.0, **OPTIMISERS[optimiser])


def test_charlm_with_embeddings_gru_layers_and_random_windows_trains_the_same():
    assert_same_training("charlm", **TINY, input="embedding", cell="gru", layers=2, sampling="random", clip=0.5)


def need_task(name):
    if name not in TASKS:
        pytest.skip(f"task {name} is not registered (yet)")


def test_wordlm_trains_the_same_on_both_engines():
    need_task("wordlm")
    assert_same_training("wordlm", max_tokens=2000, hidden=8, layers=2, dropout=0.0, seq_len=5, batch_size=4,
                         sample_length=0)


def test_sincos_trains_the_same_on_both_engines():
    need_task("sincos")
    options = {f.name for f in __import__("dataclasses").fields(TASKS["sincos"].Options)}
    settings = {k: v for k, v in dict(hidden=8, batch_size=4, seq_len=10).items() if k in options}
    assert_same_training("sincos", **settings)


# ----------------------------------------------------------------------- interchangeable runs
@pytest.fixture(scope="module")
def torch_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "torch"
    api.train("charlm", run_dir=run_dir, quiet=True, epochs=2, backend="torch", device="cpu", layers=2,
              **dict(TINY, dropout=0.1))
    return run_dir


def test_a_torch_run_records_its_engine_and_evaluates_the_same_on_numpy(torch_run):
    assert json.loads((torch_run / "config.json").read_text())["backend"] == "torch"
    _, meta = load_checkpoint(torch_run / "checkpoints" / "last.safetensors")
    assert meta["backend"] == "torch" and meta["rngs"]["rnn"]["bit_generator"] == "torch"
    on_numpy, on_torch = api.load(torch_run), api.load(torch_run, backend="torch", device="cpu")
    ids = on_numpy.vocab.encode("the king is dead").reshape(-1, 1)
    np.testing.assert_allclose(on_torch.model.forward(ids)[0], on_numpy.model.forward(ids)[0], atol=1e-5, rtol=1e-5)
    a = api.evaluate(api.load(torch_run, load_data=True))
    b = api.evaluate(api.load(torch_run, load_data=True, backend="torch", device="cpu"))
    assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-5)


def test_generating_from_a_torch_run_on_either_engine_gives_the_same_text(torch_run, capsys):
    for backend in ("numpy", "torch"):
        assert main(["generate", str(torch_run), "--prefix", "the", "--length", "15", "--greedy",
                     "--backend", backend, "--device", "cpu"]) == 0
    numpy_text, torch_text = capsys.readouterr().out.splitlines()
    assert numpy_text == torch_text and numpy_text.startswith("the")


def test_a_torch_run_with_dropout_resumes_exactly(tmp_path):
    settings = dict(TINY, backend="torch", device="cpu", layers=2, dropout=0.2, sampling="random", quiet=True)
    api.train("charlm", run_dir=tmp_path / "straight", epochs=2, **settings)
    api.train("charlm", run_dir=tmp_path / "stopped", epochs=1, **settings)
    api.resume(tmp_path / "stopped", epochs=2, quiet=True, device="cpu")
    straight, resumed = weights(tmp_path / "straight"), weights(tmp_path / "stopped")
    for name in straight:
        np.testing.assert_array_equal(resumed[name], straight[name], err_msg=name)


@pytest.mark.parametrize("first,then", [("numpy", "torch"), ("torch", "numpy")])
@pytest.mark.parametrize("optimiser", ["adam", "sgd-momentum"])
def test_a_run_resumed_on_the_other_engine_continues_where_it_stopped(tmp_path, first, then, optimiser):
    settings = dict(TINY, dtype="float64", clip=1.0, quiet=True, device="cpu", **OPTIMISERS[optimiser])
    api.train("charlm", run_dir=tmp_path / "straight", epochs=2, backend=first, **settings)
    api.train("charlm", run_dir=tmp_path / "switched", epochs=1, backend=first, **settings)
    assert main(["train", "--resume", str(tmp_path / "switched"), "--epochs", "2", "--backend", then,
                 "--device", "cpu", "--quiet"]) == 0
    _, meta = load_checkpoint(tmp_path / "switched" / "checkpoints" / "last.safetensors")
    assert meta["backend"] == then and meta["epoch"] == 2
    assert_close_weights(weights(tmp_path / "switched"), weights(tmp_path / "straight"), rtol=1e-7, atol=1e-10)


def test_cli_training_on_torch_and_flags_it_refuses(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["train", "charlm", *TINY_FLAGS, "--epochs", "1", "--backend", "torch", "--device", "cpu",
                 "--run-dir", str(run_dir), "--quiet", "--json"]) == 0
    final = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert math.isfinite(final["val_loss"])
    for flags, message in ((["--backend", "torch", "--device", "cpu", "--amp", "bf16"], "CUDA"),
                           (["--amp", "bf16"], "--backend torch"),
                           (["--backend", "torch", "--device", "cpu", "--bptt-truncate", "3"], "--bptt-truncate")):
        assert main(["train", "charlm", *TINY_FLAGS, *flags, "--run-dir", str(tmp_path / "x")]) == 2
        assert message in capsys.readouterr().err


# ------------------------------------------------------------------------------------ ONNX
def test_an_exported_onnx_model_gives_torchs_logits(torch_run, tmp_path, capsys):
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    path = tmp_path / "model.onnx"
    assert main(["export", str(torch_run), "--onnx", str(path)]) == 0
    assert path.is_file()
    task = api.load(torch_run, backend="torch", device="cpu")
    rng = np.random.default_rng(0)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for steps, batch in ((7, 3), (1, 1)):  # T and B are dynamic
        ids = rng.integers(0, len(task.vocab), (steps, batch))
        h0, c0 = (rng.normal(size=s.shape).astype(np.float32) for s in task.model.init_state(batch))
        expected, (h_n, c_n) = task.model.forward(ids, (h0, c0))
        logits, h, c = session.run(None, {"inputs": ids.astype(np.int64), "h0": h0, "c0": c0})
        np.testing.assert_allclose(logits, expected, atol=1e-5, rtol=1e-5)
        np.testing.assert_allclose(h, h_n, atol=1e-5)
        np.testing.assert_allclose(c, c_n, atol=1e-5)
