"""`charlm --preset keras` follows the Keras text-generation example (lstm_text_generation.py).

Keras is not installed, so each part is checked against a transcription of the example's
own lines (its windows, its sample(), Keras's RMSprop and initialisers) rather than against
Keras itself: the preset is faithful, not proved exact.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rnnlab import api
from rnnlab.checkpoint import load_checkpoint, split_prefix
from rnnlab.cli import main
from rnnlab.data import StridedWindows, load_corpus, prepare_chars
from rnnlab.engine.gradcheck import assert_gradients
from rnnlab.engine.optim import RMSprop
from rnnlab.errors import UsageError
from rnnlab.models import ModelConfig, NumpyModel, last_step_loss
from rnnlab.tasks import TASKS
from rnnlab.tasks.charlm_keras import keras_sample, parse_temperatures

SMALL = dict(max_chars=3000, hidden_size=16, batch_size=16, sample_length=20)


pytestmark = pytest.mark.usefixtures("one_blas_thread")  # tests/conftest.py


def final_weights(run_dir: Path) -> dict:
    tensors, _ = load_checkpoint(run_dir / "checkpoints" / "last.safetensors")
    return split_prefix(tensors, "model")


# ---------------------------------------------------------------------------------- windows
def the_examples_windows(text: str, maxlen: int, step: int):
    sentences = [text[i : i + maxlen] for i in range(0, len(text) - maxlen, step)]
    next_chars = [text[i + maxlen] for i in range(0, len(text) - maxlen, step)]
    return sentences, next_chars


@pytest.mark.parametrize("n, maxlen, step, batch", [(200, 40, 3, 7), (100, 10, 1, 32), (41, 40, 3, 128), (57, 5, 7, 4)])
def test_strided_windows_are_the_examples_sentences_and_next_chars(n, maxlen, step, batch):
    text = "".join(chr(97 + (i * 7) % 26) for i in range(n))
    ids = np.array([ord(c) for c in text])
    sentences, next_chars = the_examples_windows(text, maxlen, step)
    windows = StridedWindows(ids, maxlen, batch, step, shuffle=False)
    X, Y = zip(*windows.epoch())
    got_x = np.concatenate(X, axis=1)  # (T, W) time-major
    got_y = np.concatenate(Y)  # (W,)
    assert ["".join(map(chr, column)) for column in got_x.T] == sentences
    assert "".join(map(chr, got_y)) == "".join(next_chars)
    assert len(X) == -(-len(sentences) // batch) and X[-1].shape[1] == len(sentences) - batch * (len(X) - 1)


def test_one_shuffled_epoch_serves_every_window_once_in_a_new_order_each_epoch():
    windows = StridedWindows(np.arange(1000), 40, 128, 3, rng=5)
    first = np.concatenate([X[0] for X, _ in windows.epoch()])
    second = np.concatenate([X[0] for X, _ in windows.epoch()])
    expected = np.arange(0, 1000 - 40, 3)
    assert np.array_equal(np.sort(first), expected) and np.array_equal(np.sort(second), expected)
    assert not np.array_equal(first, second) and not np.array_equal(first, expected)


def test_strided_windows_resume_mid_epoch_with_the_same_batches():
    straight = StridedWindows(np.arange(500), 10, 8, 3, rng=1)
    stopped = StridedWindows(np.arange(500), 10, 8, 3, rng=1)
    batches = stopped.epoch()
    next(batches), next(batches)
    again = StridedWindows(np.arange(500), 10, 8, 3, rng=99)
    again.set_state(stopped.state())
    expected = list(straight.epoch())[2:] + list(straight.epoch())
    got = list(again.epoch()) + list(again.epoch())
    assert len(got) == len(expected)
    for (x, y), (ex, ey) in zip(got, expected):
        assert np.array_equal(x, ex) and np.array_equal(y, ey)
    with pytest.raises(UsageError, match="--window-step"):
        StridedWindows(np.arange(500), 10, 8, 4).set_state(stopped.state())


def test_a_keras_run_stopped_mid_epoch_resumes_to_the_same_weights_bit_for_bit(tmp_path):
    settings = dict(preset="keras", epochs=2, quiet=True, **SMALL)
    api.train("charlm", run_dir=tmp_path / "straight", **settings)
    stopped = api.train("charlm", run_dir=tmp_path / "stopped", minutes=1e-9, **settings)
    assert stopped["steps"] == 1
    api.resume(tmp_path / "stopped", quiet=True, minutes=1e9)
    a, b = final_weights(tmp_path / "straight"), final_weights(tmp_path / "stopped")
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


# -------------------------------------------------------------------------- many-to-one loss
def tiny_model(backend: str = "numpy", hidden_bias: bool = False):
    config = ModelConfig(input="onehot", input_size=7, output_size=7, cell="lstm", hidden_size=5,
                         hidden_bias=hidden_bias, init="keras", dtype="float64")
    if backend == "torch":
        from rnnlab.backends.torch import TorchModel

        return TorchModel(config, seed=4, device="cpu")
    return NumpyModel(config, seed=4)


def batch(seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 7, size=(6, 3)), rng.integers(0, 7, size=3)  # (T, B) windows, (B,) next chars


def test_the_many_to_one_loss_is_the_mean_cross_entropy_of_the_last_steps_prediction():
    model, (inputs, targets) = tiny_model(), batch()
    loss, _ = last_step_loss(model, inputs, targets, need_grad=False)
    logits, _ = model.forward(inputs)
    last = logits[-1] - logits[-1].max(axis=1, keepdims=True)  # (B, V)
    log_p = last - np.log(np.exp(last).sum(axis=1, keepdims=True))
    assert np.isclose(loss, -log_p[np.arange(3), targets].mean(), rtol=1e-12)
    changed = inputs.copy()
    changed[-1] = (changed[-1] + 1) % 7  # the last input character changes the prediction
    assert not np.isclose(last_step_loss(model, changed, targets, need_grad=False)[0], loss)


def test_the_many_to_one_gradient_matches_finite_differences_in_float64():
    model, (inputs, targets) = tiny_model(), batch()
    model.zero_grad()
    last_step_loss(model, inputs, targets)
    grads = {name: g.copy() for name, g in model.grads.items()}
    assert all(np.abs(g).sum() > 0 for g in grads.values())
    assert_gradients(model.params, grads, lambda: last_step_loss(model, inputs, targets, need_grad=False)[0],
                     threshold=1e-6, eps=1e-5)  # eps 1e-5: below it rounding noise |L| 1e-16 / eps dominates


def test_the_many_to_one_loss_and_gradient_equal_torch_autograd_in_float64():
    pytest.importorskip("torch")
    ours, theirs = tiny_model(hidden_bias=True), tiny_model("torch", hidden_bias=True)
    inputs, targets = batch(1)
    for model in (ours, theirs):
        model.zero_grad()
    loss, _ = last_step_loss(ours, inputs, targets)
    torch_loss, _ = last_step_loss(theirs, inputs, targets)
    assert np.isclose(loss, torch_loss, rtol=0, atol=1e-12)
    for name, value in ours.grads.items():
        np.testing.assert_allclose(value, theirs.grads[name], rtol=0, atol=1e-10, err_msg=name)


# -------------------------------------------------------------------------------- RMSprop
def keras_rmsprop(p, grads, lr=0.01, rho=0.9, epsilon=1e-7):
    """Keras 2's RMSprop.get_updates, transcribed: a = rho a + (1 - rho) g^2; p -= lr g / (sqrt(a) + eps)."""
    a = np.zeros_like(p)
    for g in grads:
        new_a = rho * a + (1.0 - rho) * np.square(g)
        a = new_a
        p = p - lr * g / (np.sqrt(new_a) + epsilon)
    return p


def test_rmsprop_with_alpha_0_9_and_eps_1e_7_is_keras_rmsprop():
    rng = np.random.default_rng(0)
    start = rng.normal(size=(4, 3))
    grads = [rng.normal(size=(4, 3)) * 10.0 ** -k for k in range(6)]  # small ones too, where eps matters
    param = start.copy()
    optimizer = RMSprop({"w": param}, lr=0.01, alpha=0.9, eps=1e-7)
    for g in grads:
        optimizer.step({"w": g})
    np.testing.assert_allclose(param, keras_rmsprop(start, grads), rtol=1e-13, atol=0)
    other = start.copy()
    defaults = RMSprop({"w": other}, lr=0.01)  # PyTorch's alpha 0.99, eps 1e-8 differ from Keras's
    for g in grads:
        defaults.step({"w": g})
    assert not np.allclose(other, param, rtol=1e-6)


def test_torch_rmsprop_given_alpha_and_eps_is_the_same_keras_update():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    start = rng.normal(size=(4, 3))
    grads = [rng.normal(size=(4, 3)) * 10.0 ** -k for k in range(6)]
    p = torch.tensor(start, requires_grad=True)
    optimizer = torch.optim.RMSprop([p], lr=0.01, alpha=0.9, eps=1e-7)
    for g in grads:
        p.grad = torch.tensor(g)
        optimizer.step()
    np.testing.assert_allclose(p.detach().numpy(), keras_rmsprop(start, grads), rtol=1e-13, atol=0)


def test_the_preset_trains_with_rmsprop_at_kerass_rho_and_epsilon(tmp_path):
    api.train("charlm", preset="keras", run_dir=tmp_path / "run", epochs=1, quiet=True, **SMALL)
    _, meta = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.safetensors")
    optimizer = meta["optimizer"]
    assert (optimizer["type"], optimizer["lr"], optimizer["alpha"], optimizer["eps"]) == ("rmsprop", 0.01, 0.9, 1e-7)
    assert (optimizer["momentum"], meta["options"]["clip"]) == (0.0, 0.0)


# ---------------------------------------------------------------------------------- init
def test_keras_init_is_glorot_kernels_one_orthogonal_recurrent_kernel_and_a_forget_bias_of_one():
    task = TASKS["charlm"](api.make_options("charlm", preset="keras", max_chars=20000, dtype="float64"))
    task.build_model()
    params, H, V = task.model.params, 128, len(task.vocab)
    assert sorted(params) == ["head.bias", "head.weight", "rnn.bias_ih_l0", "rnn.weight_hh_l0", "rnn.weight_ih_l0"]
    bias = params["rnn.bias_ih_l0"]  # one bias, as Keras has; gates i, f, c, o like Keras's
    assert np.array_equal(bias[H : 2 * H], np.ones(H)) and not bias[:H].any() and not bias[2 * H :].any()
    assert not params["head.bias"].any()
    w_hh = params["rnn.weight_hh_l0"]  # (4H, H): Keras's (H, 4H) recurrent_kernel transposed
    np.testing.assert_allclose(w_hh.T @ w_hh, np.eye(H), atol=1e-12)
    block = w_hh[:H]  # one gate's block alone is not orthogonal: one matrix, not four
    assert not np.allclose(block.T @ block, np.eye(H), atol=0.1)
    for name, fan_in, fan_out in (("rnn.weight_ih_l0", V, 4 * H), ("head.weight", H, V)):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        value = params[name]
        assert value.shape == (fan_out, fan_in)
        assert np.abs(value).max() <= limit and np.abs(value).max() > 0.95 * limit
        assert abs(value.std() - limit / np.sqrt(3)) < 0.05 * limit


# ------------------------------------------------------------------------------ sampling
def the_examples_sample(preds, temperature=1.0):
    # the example's helper, verbatim but for its global np.random
    preds = np.asarray(preds).astype("float64")
    preds = np.log(preds) / temperature
    exp_preds = np.exp(preds)
    preds = exp_preds / np.sum(exp_preds)
    probas = np.random.multinomial(1, preds, 1)
    return np.argmax(probas)


@pytest.mark.parametrize("temperature", [0.2, 0.5, 1.0, 1.2])
def test_the_temperature_sampler_draws_what_the_examples_sample_draws(temperature):
    rng = np.random.default_rng(int(temperature * 10))
    preds = rng.dirichlet(np.ones(30)).astype(np.float32)  # a float32 softmax, as Keras predicts
    np.random.seed(7)
    theirs = [the_examples_sample(preds, temperature) for _ in range(200)]
    ours_rng = np.random.RandomState(7)
    ours = [keras_sample(preds, temperature, ours_rng) for _ in range(200)]
    assert ours == theirs and len(set(ours)) > 1


def test_temperatures_parse_or_give_a_usage_error():
    assert parse_temperatures("0.2,0.5,1.0,1.2") == (0.2, 0.5, 1.0, 1.2)
    for bad in ("hot", "0.2,,1", "0", "-1", "nan", ""):
        with pytest.raises(UsageError, match="--temperatures"):
            parse_temperatures(bad)


# ------------------------------------------------------------------------------- report
def test_the_keras_report_prints_the_examples_lines_after_every_epoch(tmp_path):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        api.train("charlm", preset="keras", run_dir=tmp_path / "run", epochs=2, progress=False, **SMALL)
    lines = out.getvalue().splitlines()
    text = prepare_chars(load_corpus("tinyshakespeare"), max_chars=3000, lowercase=True)
    batches = -(-len(range(0, 3000 - 40, 3)) // 16)
    for epoch in (0, 1):
        at = lines.index(f"----- Generating text after Epoch: {epoch}")
        assert lines[at - 3] == f"Epoch {epoch + 1}/2" and re.fullmatch(rf"{batches}/{batches} - loss: \d+\.\d{{4}}", lines[at - 2])
        assert lines[at - 1] == ""
        block = "\n".join(lines[at + 1 :])
        found = re.findall(r'----- diversity: (\S+)\n----- Generating with seed: "(.{40})"\n\2(.{20})', block, re.S)
        assert [d for d, _, _ in found[:4]] == ["0.2", "0.5", "1.0", "1.2"]
        seeds = {seed for _, seed, _ in found[:4]}
        assert len(seeds) == 1 and seeds.pop() in text  # one random start per epoch, from the text
        assert all(set(generated) <= set(text) for _, _, generated in found[:4])


def test_the_preset_reads_tinyshakespeare_lowercased_and_trains_on_all_of_it():
    options = api.make_options("charlm", preset="keras")
    task = TASKS["charlm"](options)
    text = load_corpus("tinyshakespeare").lower()
    assert task.vocab.itos == sorted(set(text)) and len(task.train_ids) == len(text)
    assert task.val_ids is None and task.evaluate() == {}
    assert (options.seq_len, options.window_step, options.batch_size, options.hidden_size, options.epochs) == (
        40, 3, 128, 128, 60)


def test_windows_sampling_with_validation_reports_the_many_to_one_loss(tmp_path):
    result = api.train("charlm", preset="keras", run_dir=tmp_path / "run", epochs=1, quiet=True,
                       val_fraction=0.2, **SMALL)
    assert 0 < result["val_loss"] < 5 and np.isclose(result["val_ppl"], np.exp(result["val_loss"]))


# ---------------------------------------------------------------------------------- CLI
def test_the_keras_preset_runs_end_to_end_from_the_command_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src"), "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "rnnlab", "train", "charlm", "--preset", "keras", "--max-chars", "3000",
         "--epochs", "1", "--run-dir", str(tmp_path / "run")],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "----- Generating text after Epoch: 0" in done.stdout and done.stdout.count("----- diversity:") == 4
    assert (tmp_path / "run" / "checkpoints" / "last.safetensors").exists()


def test_charlm_help_lists_the_keras_preset_on_one_line(capsys):
    with pytest.raises(SystemExit):
        main(["train", "charlm", "--help"])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  keras:")]
    assert len(lines) == 1 and "--sampling windows" in lines[0] and "--init keras" in lines[0]


@pytest.mark.parametrize("flags, named", [
    (["--window-step", "0"], "--window-step"),
    (["--temperatures", "nonsense"], "--temperatures"),
    (["--rmsprop-alpha", "1.5"], "--rmsprop-alpha"),
    (["--rmsprop-eps", "0"], "--rmsprop-eps"),
])
def test_bad_keras_settings_are_one_line_usage_errors(tmp_path, capsys, flags, named):
    assert main(["train", "charlm", "--preset", "keras", *flags, "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert named in err and len(err.splitlines()) == 1
