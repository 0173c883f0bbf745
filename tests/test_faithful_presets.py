"""The faithful presets reproduce the tutorials: every line they print is the original program's.

`addition --preset iamtrask` against tests/oracles/iamtrask.py (the iamtrask tutorial) and
`lstm-toy --preset nicodjimenez` against tests/oracles/nicodjimenez.py (nicodjimenez/lstm):
the same random draws, the same starting weights, the same printed lines; and where the
arithmetic is the tutorial's own (lstm-toy), the same weights bit for bit after training.
The defaults, which do better, keep the old preset names as aliases.
"""
from __future__ import annotations

import contextlib
import functools
import io
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from oracles import iamtrask, nicodjimenez

import rnnlab.api as api
from rnnlab.checkpoint import load_checkpoint, split_prefix
from rnnlab.cli import main
from rnnlab.tasks import TASKS
from rnnlab.tasks.lstm_toy_tutorial import GATES, tutorial_step, tutorial_weights

IAMTRASK_LINE = re.compile(r"Error:\[.*\]|Pred:\[[01 ]*\]|True:\[[01 ]*\]|\d+ \+ \d+ = \d+|-{12}")
NICODJIMENEZ_LINE = re.compile(r"cur iter:  \d+|y_pred\[\d+\] : -?\d+\.\d{6}|loss:  \S+")


pytestmark = pytest.mark.usefixtures("one_blas_thread")  # tests/conftest.py


def _task(name, preset=None, **settings):
    task = TASKS[name](api.make_options(name, preset, **settings))
    task.build_model()
    return task


@functools.cache
def _cli_run(task: str, *flags: str):
    """(stdout lines, final weights) of `rnnlab train TASK FLAGS` in a fresh folder, run once per arguments."""
    out = io.StringIO()
    with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stdout(out):
        run = Path(folder) / "run"
        assert main(["train", task, "--run-dir", str(run), *flags]) == 0
        tensors, _ = load_checkpoint(run / "checkpoints" / "last.safetensors")
    return out.getvalue().splitlines(), split_prefix(tensors, "model")


@functools.cache
def _iamtrask(seed: int):
    return iamtrask.train(seed, 10000)


def _iamtrask_run(seed: int):
    # long operands are not part of the tutorial (and cost time); they print nothing it prints
    return _cli_run("addition", "--preset", "iamtrask", "--seed", str(seed), "--long-bits", "")


# ------------------------------------------------------------------------------ iamtrask
@pytest.mark.parametrize("seed", [0, 3])
def test_iamtrask_preset_starts_from_the_tutorials_weights(seed):
    params = _task("addition", "iamtrask", seed=seed).model.params
    synapse_0, synapse_1, synapse_h = iamtrask.initial_synapses(seed)
    assert np.array_equal(params["rnn.weight_ih_l0"], synapse_0.T)
    assert np.array_equal(params["rnn.weight_hh_l0"], synapse_h.T)
    assert np.array_equal(params["head.weight"], synapse_1.T)


def test_iamtrask_preset_draws_the_tutorials_operands_after_its_weights():
    task = _task("addition", "iamtrask", seed=2)
    np.random.seed(2)
    iamtrask.initial_synapses(2)  # reseeds and draws the weights, as the tutorial does
    expected = [(np.random.randint(128), np.random.randint(128)) for _ in range(5)]
    batches = task.sampler().epoch()
    for a_int, b_int in expected:
        inputs, targets = next(batches)  # (T, 1, 2), (T, 1, 1), LSB first
        bits = inputs[:, 0].astype(int)
        assert (int(bits[:, 0] @ (1 << np.arange(8))), int(bits[:, 1] @ (1 << np.arange(8)))) == (a_int, b_int)
        assert int(targets[:, 0, 0].astype(int) @ (1 << np.arange(8))) == a_int + b_int


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_iamtrask_preset_prints_the_tutorials_lines(seed):
    lines, _ = _iamtrask_run(seed)
    ours = [line for line in lines if IAMTRASK_LINE.fullmatch(line)]
    assert ours == _iamtrask(seed)[0]


@pytest.mark.slow
def test_iamtrask_preset_ends_at_the_tutorials_weights_up_to_summation_order():
    # the engine sums the same products in another order (one matrix product over the 8 steps, where the
    # tutorial adds step by step): after 10,000 updates the weights agree to ~1e-14, far below printed digits
    _, weights = _iamtrask_run(0)
    synapse_0, synapse_1, synapse_h = _iamtrask(0)[1]
    for ours, theirs in ((weights["rnn.weight_ih_l0"], synapse_0.T), (weights["rnn.weight_hh_l0"], synapse_h.T),
                         (weights["head.weight"], synapse_1.T)):
        assert np.allclose(ours, theirs, rtol=0, atol=1e-10)


def test_legacy_draws_need_the_tutorials_three_matrices(tmp_path, capsys):
    assert main(["train", "addition", "--draws", "legacy", "--bias", "--run-dir", str(tmp_path / "run")]) == 2
    assert "--draws legacy" in capsys.readouterr().err


def test_legacy_draws_resume_exactly(tmp_path):
    settings = dict(preset="iamtrask", updates_per_epoch=40, long_bits="", quiet=True)
    api.train("addition", run_dir=tmp_path / "straight", epochs=2, **settings)
    api.train("addition", run_dir=tmp_path / "split", epochs=1, **settings)
    api.resume(tmp_path / "split", epochs=2, quiet=True)
    straight, _ = load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.safetensors")
    split, _ = load_checkpoint(tmp_path / "split" / "checkpoints" / "last.safetensors")
    for name, value in split_prefix(straight, "model").items():
        assert np.array_equal(value, split_prefix(split, "model")[name]), name


# -------------------------------------------------------------------------- nicodjimenez
def test_nicodjimenez_preset_starts_from_the_tutorials_weights_and_inputs():
    task = _task("lstm-toy", "nicodjimenez")
    np.random.seed(0)
    param = nicodjimenez.LstmParam(100, 50)
    inputs = [np.random.random(50) for _ in range(4)]  # drawn after the reseeds inside LstmParam
    ours = tutorial_weights(task.model.params, 100)  # as the tutorial's {'wg': (H, I+H), ..., 'bg': (H,), ...}
    for name in ("wg", "wi", "wf", "wo", "bg", "bi", "bf", "bo"):
        assert np.array_equal(ours[name], getattr(param, name)), name
    assert np.array_equal(task.inputs[:, 0], np.array(inputs))
    assert "rnn.bias_hh_l0" not in task.model.params  # one bias per gate, as the tutorial


def test_nicodjimenez_preset_prints_the_tutorials_lines():
    lines, _ = _cli_run("lstm-toy", "--preset", "nicodjimenez")
    ours = [line for line in lines if NICODJIMENEZ_LINE.fullmatch(line)]
    assert ours == nicodjimenez.run()


def test_nicodjimenez_preset_ends_at_the_tutorials_weights_bit_for_bit():
    _, weights = _cli_run("lstm-toy", "--preset", "nicodjimenez")
    _, param = nicodjimenez.example_0()
    ours = tutorial_weights(weights, 100)
    for name in ("wg", "wi", "wf", "wo", "bg", "bi", "bf", "bo"):
        assert np.array_equal(ours[name], getattr(param, name)), name


def test_tutorial_step_computes_the_engines_loss_and_gradient():
    task = _task("lstm-toy", cell="minimal-lstm", hidden_bias=False, hidden_size=7, x_dim=3, seed=4)
    rng = np.random.default_rng(0)
    for value in task.model.params.values():  # break any symmetry of the start
        value[...] = rng.uniform(-0.5, 0.5, value.shape)
    task.model.params["head.weight"][...] = np.eye(1, 7)
    task.model.params["head.bias"][...] = 0.0
    task.model.zero_grad()
    engine_loss, _ = task.train_step((task.inputs, task.targets))
    engine = {name: grad.copy() for name, grad in task.model.grads.items()}
    task.model.zero_grad()
    loss, outputs = tutorial_step(task.model.params, task.model.grads, task.inputs[:, 0], task.targets[:, 0, 0])
    assert np.isclose(loss, engine_loss, rtol=1e-12)
    assert np.allclose(outputs, task.outputs(), rtol=1e-12, atol=1e-15)
    for name in ("rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0"):
        assert np.allclose(task.model.grads[name], engine[name], rtol=1e-10, atol=1e-14), name


def test_tutorial_arithmetic_needs_the_tutorials_cell(tmp_path, capsys):
    assert main(["train", "lstm-toy", "--arithmetic", "tutorial", "--cell", "lstm", "--run-dir", str(tmp_path / "run")]) == 2
    assert "--cell minimal-lstm" in capsys.readouterr().err


# ------------------------------------------------------------------- presets and defaults
@pytest.mark.parametrize("task", ["addition", "sincos"])
def test_better_is_the_old_name_of_the_default(task):
    assert api.make_options(task, "better") == api.make_options(task)


def test_morvan_preset_is_the_tutorials_settings():
    options = api.make_options("sincos", "morvan")
    assert (options.init, options.init_scale, options.clip, options.schedule) == ("normal", 1.0, 0.0, "none")
    assert (options.optimizer, options.lr, options.hidden_size, options.projection_size) == ("adam", 0.006, 10, 10)
    assert (options.seq_len, options.batch_size, options.epochs * options.batches_per_epoch) == (20, 50, 200)


def test_iamtrask_preset_is_the_tutorials_settings():
    options = api.make_options("addition", "iamtrask")
    assert (options.lr, options.optimizer, options.clip, options.batch_size, options.draws) == (0.1, "sgd", 0.0, 1,
                                                                                                "legacy")
    assert (options.hidden_size, options.bias, options.epochs * options.updates_per_epoch) == (16, False, 10000)


@pytest.mark.parametrize("task", ["addition", "lstm-toy", "sincos"])
def test_help_lists_each_preset_on_one_line(task, capsys):
    with pytest.raises(SystemExit):
        main(["train", task, "--help"])
    out = capsys.readouterr().out
    for name, values in TASKS[task].presets.items():
        lines = [line for line in out.splitlines() if line.startswith(f"  {name}: ")]
        assert len(lines) == 1, name
        assert all(f"--{key.replace('_', '-')}" in lines[0] for key in values)


def test_gates_are_the_minimal_cells_row_order():
    from rnnlab.engine.registry import get_cell

    assert get_cell("minimal-lstm").gate_names == GATES
