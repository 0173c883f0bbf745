"""The long-range tasks: data generators, baselines, and tiny training runs."""
import json
import math

import numpy as np
import pytest

from rnnlab import api
from rnnlab.cli import main
from rnnlab.errors import UsageError
from rnnlab.tasks.longrange import ADDING_BASELINE_MSE, adding_batch, copy_batch


def test_adding_batch_markers_and_targets():
    x, y = adding_batch(np.random.default_rng(0), 20, 64)
    assert x.shape == (20, 64, 2) and y.shape == (64,)
    markers = x[:, :, 1]
    assert np.all(markers.sum(axis=0) == 2)
    assert np.all(markers[:10].sum(axis=0) == 1) and np.all(markers[10:].sum(axis=0) == 1)
    np.testing.assert_allclose(y, (x[:, :, 0] * markers).sum(axis=0))


def test_adding_baseline_of_predicting_the_mean_is_one_sixth():
    _, y = adding_batch(np.random.default_rng(1), 10, 200_000)
    assert float(np.mean(y)) == pytest.approx(1.0, abs=0.01)
    assert float(np.mean((y - 1.0) ** 2)) == pytest.approx(ADDING_BASELINE_MSE, abs=0.003)
    assert ADDING_BASELINE_MSE == pytest.approx(0.1667, abs=1e-4)


def test_copy_batch_layout():
    x, y = copy_batch(np.random.default_rng(0), delay=7, batch_size=5, copy_length=3, symbols=4)
    assert x.shape == (13, 5) and y.shape == (3, 5)
    np.testing.assert_array_equal(x[:3], y)
    assert np.all((y >= 1) & (y <= 4))
    assert np.all(x[3 + 7 - 1] == 5)  # the "go" marker ends the delay
    assert np.all(x[3:9] == 0) and np.all(x[10:] == 0)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_adding_trains_on_tiny_settings(tmp_path, cell):
    final = api.train("adding", run_dir=tmp_path / "run", quiet=True, progress=False, cell=cell, hidden=8,
                      seq_len=10, epochs=2, steps_per_epoch=5, batch_size=8, eval_size=20)
    for key in ("test_mse", "baseline_mse", "val_mse"):
        assert math.isfinite(final[key])
    assert (tmp_path / "run" / "checkpoints" / "best.safetensors").exists()


def test_copy_trains_on_tiny_settings(tmp_path):
    final = api.train("copy", run_dir=tmp_path / "run", quiet=True, progress=False, cell="gru", hidden=8,
                      seq_len=6, copy_length=2, symbols=3, epochs=1, steps_per_epoch=4, batch_size=8, eval_size=20)
    assert math.isfinite(final["test_loss"]) and 0.0 <= final["test_accuracy"] <= 1.0
    assert final["baseline_loss"] == pytest.approx(math.log(3))


def test_adding_learns_a_short_sequence(tmp_path):
    """A few hundred updates at T=5 go well below the memoryless baseline."""
    final = api.train("adding", run_dir=tmp_path / "run", quiet=True, progress=False, cell="gru", hidden=16,
                      seq_len=5, epochs=3, steps_per_epoch=100, batch_size=32, eval_size=200, lr=1e-2)
    assert final["test_mse"] < 0.5 * final["baseline_mse"]


def test_resume_continues_the_generated_stream(tmp_path):
    settings = dict(cell="rnn", hidden=4, seq_len=6, steps_per_epoch=3, batch_size=4, eval_size=8)
    whole = api.train("adding", run_dir=tmp_path / "a", quiet=True, progress=False, epochs=2, **settings)
    api.train("adding", run_dir=tmp_path / "b", quiet=True, progress=False, epochs=1, **settings)
    config = json.loads((tmp_path / "b" / "config.json").read_text())
    assert config["task"] == "adding"
    resumed = api.resume(tmp_path / "b", epochs=2, quiet=True, progress=False)
    assert resumed["test_mse"] == pytest.approx(whole["test_mse"], rel=1e-6)


def test_bad_settings_are_usage_errors(tmp_path):
    with pytest.raises(UsageError):
        api.train("adding", run_dir=tmp_path / "a", seq_len=1)
    with pytest.raises(UsageError):
        api.train("copy", run_dir=tmp_path / "b", copy_length=0)
    with pytest.raises(UsageError):
        api.train("adding", run_dir=tmp_path / "c", steps_per_epoch=0)


def test_cli_train_adding(tmp_path, capsys):
    code = main(["train", "adding", "--cell", "lstm", "--hidden", "4", "--seq-len", "6", "--epochs", "1",
                 "--steps-per-epoch", "2", "--batch-size", "4", "--eval-size", "8",
                 "--run-dir", str(tmp_path / "run"), "--quiet", "--json"])
    assert code == 0
    final = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert final["task"] == "adding" and math.isfinite(final["test_mse"])
