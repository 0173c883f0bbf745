"""The gradient-flow measurement (rnnlab.gradients) on tiny settings, and `rnnlab gradients`."""
import json

import numpy as np
import pytest

from rnnlab import gradients
from rnnlab.cli import main
from rnnlab.engine import RECURRENT
from rnnlab.engine.registry import cell_names, get_cell
from rnnlab.errors import UsageError


@pytest.mark.parametrize("cell", cell_names())
def test_zero_recurrent_weights_stop_the_gradient_after_one_step_unless_the_cell_has_a_direct_path(cell):
    layer = gradients.make_layer(cell, hidden=5, input_size=3, seed=0)
    for name, value in layer.params.items():
        if name.startswith("weight_hh"):
            value[...] = 0.0
    rng = np.random.default_rng(0)
    norms = gradients.hidden_grad_norms(layer, rng.normal(size=(6, 4, 3)), rng)  # (T, B)
    np.testing.assert_allclose(norms[0], 1.0)  # the unit error at h_T
    if get_cell(cell).direct_hidden_grad:  # GRU's h_t = (1 - z) n + z h_{t-1}: survives without W_hh
        assert np.all(norms[1:] > 0)
    else:
        assert np.all(norms[1:] == 0.0)


def test_zero_recurrent_weights_zero_beyond_one_step_for_the_rnn():
    layer = gradients.make_layer("rnn", hidden=4, input_size=2, seed=1)
    layer.params["weight_hh_l0"][...] = 0.0
    rng = np.random.default_rng(1)
    norms = gradients.hidden_grad_norms(layer, rng.normal(size=(5, 3, 2)), rng)
    assert norms.shape == (5, 3)
    assert np.all(norms[0] > 0) and np.all(norms[1:] == 0)


def test_identity_recurrence_in_a_linear_regime_keeps_norm_one():
    """ReLU RNN, W_hh = I, positive inputs and weights: h stays positive, so dh_t/dh_{t-1} = I."""
    hidden, steps = 6, 30
    layer = RECURRENT["rnn"](3, hidden, dtype=np.float64, seed=0, nonlinearity="relu")
    layer.params["weight_hh_l0"][...] = np.eye(hidden)
    layer.params["weight_ih_l0"][...] = np.abs(layer.params["weight_ih_l0"]) + 0.1
    layer.params["bias_ih_l0"][...] = 0.1
    layer.params["bias_hh_l0"][...] = 0.0
    rng = np.random.default_rng(0)
    x = rng.uniform(0.1, 1.0, size=(steps, 2, 3))
    norms = gradients.hidden_grad_norms(layer, x, rng)
    np.testing.assert_allclose(norms, 1.0, rtol=1e-12)


def test_tanh_rnn_with_small_weights_forgets_geometrically():
    norms = gradients.measure_cell("rnn", steps=30, hidden=8, seeds=(0, 1), batch=4, spectral_radius=0.5)
    assert norms[0] == pytest.approx(1.0)
    assert np.all(np.diff(norms) < 0)  # strictly decreasing with distance
    assert norms[-1] < 0.5 ** 20


def test_larger_spectral_radius_keeps_more_gradient():
    far = [gradients.measure_cell("rnn", steps=40, hidden=16, seeds=(0,), batch=4, spectral_radius=r)[-1]
           for r in (0.5, 0.9, 1.2)]
    assert far[0] < far[1] < far[2]


def test_spectral_radius_is_set():
    layer = gradients.make_layer("rnn", hidden=7, input_size=2, seed=3, spectral_radius=1.3)
    assert np.max(np.abs(np.linalg.eigvals(layer.params["weight_hh_l0"]))) == pytest.approx(1.3)
    with pytest.raises(UsageError):
        gradients.make_layer("lstm", hidden=7, input_size=2, seed=3, spectral_radius=1.3)


def test_clipping_demo_bounds_the_update_norm():
    unclipped, clipped = gradients.clipping_demo(updates=20, seq_len=10, hidden=8, radius=1.5, lr=0.05)
    assert len(clipped.losses) == 20 and all(np.isfinite(clipped.losses))
    assert clipped.grad_norms[0] == pytest.approx(unclipped.grad_norms[0])  # same start, norm before clipping


def test_run_reports_and_rejects_bad_input(tmp_path):
    report = gradients.run(cells=("rnn", "gru"), steps=12, hidden=4, seeds=2, batch=3, radii=(0.9,),
                           clip_updates=3, out_dir=None)
    text = gradients.format_report(report)
    assert "rnn (init)" in text and "radius 0.9" in text and "no clipping" in text
    saved = json.loads(json.dumps(report.to_json()))
    assert len(saved["cells"][0]["norms"]) == 12 and saved["cells"][1]["label"] == "gru (init)"
    assert not list(tmp_path.iterdir())
    with pytest.raises(UsageError):
        gradients.run(cells=("transformer",), steps=5, out_dir=None)
    with pytest.raises(UsageError):
        gradients.run(cells=("rnn",), steps=0, out_dir=None)


def test_trained_run_is_measured(tmp_path):
    from rnnlab import api

    run_dir = tmp_path / "run"
    api.train("adding", run_dir=run_dir, quiet=True, progress=False, cell="gru", hidden=4, seq_len=8,
              epochs=1, steps_per_epoch=2, batch_size=4, eval_size=8)
    curve = gradients.measure_run(run_dir, steps=10, seeds=(0,), batch=3)
    assert "gru trained" in curve.label and curve.norms.shape == (10,)
    assert curve.norms[0] == pytest.approx(1.0) and np.all(np.isfinite(curve.norms))


def test_cli_gradients(tmp_path, capsys):
    code = main(["gradients", "--cells", "rnn,lstm", "--steps", "8", "--hidden", "3", "--seeds", "1",
                 "--batch", "2", "--radii", "1.0", "--clip-updates", "2", "--out", str(tmp_path), "--json"])
    assert code == 0
    out = capsys.readouterr().out
    assert json.loads(out.strip().splitlines()[-1])["steps"] == 8
    assert (tmp_path / "gradients.json").exists()
    pytest.importorskip("matplotlib")
    assert {p.name for p in tmp_path.glob("*.png")} == {"gradient-flow.png", "spectral-radius.png", "clipping.png"}
    assert main(["gradients", "--cells", "rnn", "--radii", "x", "--out", str(tmp_path)]) == 2


@pytest.mark.parametrize("cell", [name for name in cell_names() if get_cell(name).forget_gate is not None])
def test_a_forget_bias_sets_the_forget_rows_of_bias_ih_and_zeroes_those_of_bias_hh(cell):
    layer = gradients.make_layer(cell, hidden=3, input_size=2, seed=0, forget_bias=2.5)
    rows = get_cell(cell).forget_rows(3)
    np.testing.assert_array_equal(layer.params["bias_ih_l0"][rows], 2.5)
    np.testing.assert_array_equal(layer.params["bias_hh_l0"][rows], 0.0)
    untouched = gradients.make_layer(cell, hidden=3, input_size=2, seed=0)
    others = np.ones(untouched.params["bias_ih_l0"].shape, bool)
    others[rows] = False
    np.testing.assert_array_equal(layer.params["bias_ih_l0"][others], untouched.params["bias_ih_l0"][others])
