"""The classic tasks end to end (SEEDS §1, §4, §5): addition, lstm-toy, sincos.

Each run happens in tmp_path; settings are tiny except where the test is the target itself.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import rnnlab.api as api
from rnnlab.checkpoint import load_checkpoint, split_prefix
from rnnlab.cli import main
from rnnlab.engine.gradcheck import check_gradients
from rnnlab.tasks import TASKS
from rnnlab.tasks.addition import add_bits, sigmoid_squared_error
from rnnlab.tasks.lstm_toy import toy_squared_error


def _task(name, **settings):
    task = TASKS[name](api.make_options(name, **settings))
    task.build_model()
    return task


# ------------------------------------------------------------------------------- addition
def test_add_bits_matches_integers():
    rng = np.random.default_rng(0)
    a_int, b_int = rng.integers(0, 2**40, size=(2, 500))
    shifts = np.arange(40)
    a = ((a_int[None] >> shifts[:, None]) & 1).astype(np.int8)
    b = ((b_int[None] >> shifts[:, None]) & 1).astype(np.int8)
    total = add_bits(a, b)  # (41, N)
    assert np.array_equal((total.astype(np.int64) << np.arange(41)[:, None]).sum(axis=0), a_int + b_int)


def test_addition_better_preset_learns_exact_carry(tmp_path):
    # the full 10,000 updates; one evaluation at the end and 2,000 long pairs keep it quick
    final = api.train("addition", preset="better", run_dir=tmp_path / "run", quiet=True, eval_every=10,
                      test_pairs=2000)
    assert final["accuracy_8bit"] == 1.0
    for bits in (16, 32, 64):
        assert final[f"accuracy_{bits}bit"] == 1.0


def test_addition_prints_the_original_lines(tmp_path, capsys):
    assert main(["train", "addition", "--run-dir", str(tmp_path / "run"), "--epochs", "1",
                 "--updates-per-epoch", "50", "--long-bits", "16", "--test-pairs", "10", "--json"]) == 0
    out = capsys.readouterr().out
    for start in ("Error:[", "Pred:[", "True:[", "------------"):
        assert start in out
    final = json.loads(out.strip().splitlines()[-1])
    assert 0.0 <= final["accuracy_16bit"] <= 1.0 and final["steps"] == 50


def test_addition_loss_head_gradient():
    task = _task("addition", bits=5, batch_size=3, bias=True, init_scale=0.5)
    inputs, targets = task.make_batch(np.random.default_rng(1))
    task.model.zero_grad()
    task.train_step((inputs, targets))
    errors = check_gradients(task.model.params, task.model.grads,
                             lambda: sigmoid_squared_error(task.model.forward(inputs)[0], targets, need_grad=False)[0])
    assert max(errors.values()) < 1e-5, errors


# ------------------------------------------------------------------------------- lstm-toy
def test_lstm_toy_reaches_target_loss(tmp_path):
    final = api.train("lstm-toy", run_dir=tmp_path / "run", quiet=True)
    assert final["loss"] < 1e-5  # the tutorial's minimal LSTM with independent draws per gate
    assert np.allclose(final["outputs"], [-0.5, 0.2, 0.1, -0.5], atol=0.01)


def test_lstm_toy_standard_lstm_reaches_target_loss(tmp_path):
    final = api.train("lstm-toy", run_dir=tmp_path / "run", quiet=True, cell="lstm", hidden_bias=True)
    assert final["loss"] < 1e-4
    assert np.allclose(final["outputs"], [-0.5, 0.2, 0.1, -0.5], atol=0.01)


def test_lstm_toy_loss_gradient_and_frozen_readout():
    task = _task("lstm-toy", hidden=6, x_dim=3)
    head = task.model.params["head.weight"].copy()
    task.model.zero_grad()
    task.train_step((task.inputs, task.targets))
    assert not task.model.grads["head.weight"].any()
    body = [name for name in task.model.params if not name.startswith("head.")]
    errors = check_gradients(task.model.params, task.model.grads,
                             lambda: toy_squared_error(task.model.forward(task.inputs)[0], task.targets,
                                                       need_grad=False)[0], names=body)
    assert max(errors.values()) < 1e-5, errors
    assert np.array_equal(head, np.eye(1, 6))


# --------------------------------------------------------------------------------- sincos
SMALL_SINCOS = ["--batches-per-epoch", "5", "--eval-steps", "100", "--eval-warmup", "20"]


def test_sincos_writes_plots_and_mse_falls(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "sincos", "--run-dir", str(run), "--epochs", "4", "--animate", "--quiet"]
                + SMALL_SINCOS) == 0
    assert (run / "prediction.png").stat().st_size > 0
    assert (run / "training.gif").stat().st_size > 0
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert history[-1]["val_mse"] < history[0]["val_mse"]


def test_sincos_batches_continue_row_by_row():
    task = TASKS["sincos"](api.make_options("sincos", batch_size=3, seq_len=4))
    first, _ = task.make_batch(0)   # (T, B, 1)
    second, _ = task.make_batch(1)
    # row i of batch k+1 starts where row i of batch k ended: one step after its last position
    expected = np.sin((np.arange(3) * 4 + 4) / (10 * np.pi)).astype(first.dtype)
    assert np.allclose(second[0, :, 0], expected)
    assert np.allclose(first[-1, 1:, 0], np.sin((np.arange(1, 3) * 4 + 3) / (10 * np.pi)))


def test_sincos_resume_is_exact(tmp_path):
    # a constant lr: the default's cosine anneals over --epochs, which the resume below changes
    settings = dict(batches_per_epoch=3, eval_steps=20, eval_warmup=5, quiet=True, schedule="none")
    api.train("sincos", run_dir=tmp_path / "straight", epochs=2, **settings)
    api.train("sincos", run_dir=tmp_path / "split", epochs=1, **settings)
    api.resume(tmp_path / "split", epochs=2, quiet=True)
    straight, _ = load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.safetensors")
    split, meta = load_checkpoint(tmp_path / "split" / "checkpoints" / "last.safetensors")
    assert meta["step"] == 6
    for prefix in ("model", "extra"):
        a, b = split_prefix(straight, prefix), split_prefix(split, prefix)
        assert a.keys() == b.keys() and a
        for name in a:
            assert np.array_equal(a[name], b[name]), f"{prefix}/{name}"


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("argv", [
    ["addition", "--bits", "0"],
    ["addition", "--long-bits", "16,x"],
    ["lstm-toy", "--targets", "0.1,2"],
    ["lstm-toy", "--cell", "gru"],
    ["sincos", "--eval-steps", "0"],
])
def test_impossible_settings_exit_2(tmp_path, argv, capsys):
    assert main(["train", *argv, "--run-dir", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rnnlab: error:") and "\n" not in err
