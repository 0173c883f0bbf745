"""The tutorial oracles in tests/oracles reproduce the published programs.

The oracles are what rnnlab's faithful presets are compared with, so they are checked here
against what the tutorials themselves report (iamtrask, nicodjimenez/lstm) and, where the
oracle's backward is written by hand rather than transcribed (d2l), against central
differences in float64.
"""
from __future__ import annotations

import functools
import gzip
import math
import re
from pathlib import Path

import numpy as np
import pytest
from oracles import d2l, iamtrask, nicodjimenez

TANG300 = Path(__file__).resolve().parents[1] / "src/rnnlab/data/corpora/tang300.txt.gz"


pytestmark = pytest.mark.usefixtures("one_blas_thread")  # tests/conftest.py


@functools.cache
def _iamtrask_trained(seed):
    """(printed lines, synapses) of the tutorial's 10,000 updates, trained once per seed."""
    return iamtrask.train(seed, 10000)


def _central_differences(f, arrays, eps=1e-6):
    """d f / d a for every element of every array in `arrays` (changed in place, restored)."""
    grads = []
    for a in arrays:
        g = np.zeros_like(a)
        for i in np.ndindex(a.shape):
            old = a[i]
            a[i] = old + eps
            up = f()
            a[i] = old - eps
            down = f()
            a[i] = old
            g[i] = (up - down) / (2 * eps)
        grads.append(g)
    return grads


def _assert_close(ours, numeric, rtol=1e-6, atol=1e-9):
    for name, a, b in zip(range(len(ours)), ours, numeric):
        assert np.allclose(a, b, rtol=rtol, atol=atol), (name, a, b)


# ------------------------------------------------------------------------------- iamtrask
def test_iamtrask_first_report_is_the_tutorials():
    lines = iamtrask.run(seed=0, iterations=1)
    assert lines == ["Error:[3.45638663]", "Pred:[0 0 0 0 0 0 0 1]", "True:[0 1 0 0 0 1 0 1]",
                     "9 + 60 = 1", "------------"]


def test_iamtrask_float_randint_argument_draws_what_the_integer_draws():
    # the tutorial calls randint(largest_number / 2) = randint(128.0); the oracle passes 128
    np.random.seed(0)
    with_float = [np.random.randint(256 / 2) for _ in range(100)]
    np.random.seed(0)
    with_int = [np.random.randint(128) for _ in range(100)]
    assert with_float == with_int


def test_iamtrask_reports_every_1000_updates_and_adds_right_after_10000():
    lines, _ = _iamtrask_trained(0)
    assert len(lines) == 10 * 5
    sums = [line for line in lines if " + " in line]
    assert len(sums) == 10
    a, b, guess = map(int, re.fullmatch(r"(\d+) \+ (\d+) = (\d+)", sums[-1]).groups())
    assert a + b == guess


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(8))
def test_iamtrask_adds_all_128x128_pairs_after_10000_updates(seed):
    assert iamtrask.fraction_added_right(_iamtrask_trained(seed)[1]) == 1.0


def test_iamtrask_accuracy_trains_then_scores_every_pair():
    fraction, synapses = iamtrask.accuracy(seed=0, iterations=1)
    assert [s.shape for s in synapses] == [(2, 16), (16, 1), (16, 16)]
    assert fraction == iamtrask.fraction_added_right(synapses) < 0.1


def test_iamtrask_add_reads_the_net_as_the_training_forward_does():
    synapses = iamtrask.initial_synapses(0)
    a_int, b_int = np.divmod(np.arange(128 * 128), 128)
    batched = iamtrask.add(synapses, a_int, b_int)
    one_by_one = [int(iamtrask.add(synapses, int(a), int(b))[0]) for a, b in zip(a_int[::97], b_int[::97])]
    assert batched[::97].tolist() == one_by_one
    # seed 0's untrained net answers 9 + 60 with 1 (the tutorial's first report)
    assert iamtrask.add(synapses, 9, 60)[0] == 1


# --------------------------------------------------------------------------- nicodjimenez
def test_nicodjimenez_prints_the_tutorials_losses():
    lines = nicodjimenez.run()
    assert len(lines) == 100 * 6
    assert lines[0] == "cur iter:  0"
    assert re.fullmatch(r"y_pred\[0\] : -?\d\.\d{6}", lines[1])
    losses = [float(line.split()[1]) for line in lines if line.startswith("loss:  ")]
    assert len(losses) == 100
    assert round(losses[0], 4) == 0.7535
    assert f"{losses[-1]:.1e}" == "2.6e-06"


def test_nicodjimenez_current_format_prints_the_same_numbers_on_one_line_per_iteration():
    original = nicodjimenez.run(iterations=3)
    current = nicodjimenez.run(iterations=3, print_format="current")
    assert current[0].startswith("iter  0: y_pred = [ 0.04135, ")
    for it, line in enumerate(current):
        preds = [float(v) for v in re.search(r"\[(.*)\]", line).group(1).split(",")]
        expected = [float(original[6 * it + 1 + k].split(" : ")[1]) for k in range(4)]
        assert np.allclose(preds, expected, atol=1e-5)
        assert math.isclose(float(line.rsplit(" ", 1)[1]), float(original[6 * it + 5].split()[1]), rel_tol=1e-3)


def test_nicodjimenez_rand_arr_reseeds_so_the_four_gates_start_identical():
    param = nicodjimenez.LstmParam(100, 50)
    for name in ("wi", "wf", "wo"):
        assert np.array_equal(getattr(param, name), param.wg)
    for name in ("bi", "bf", "bo"):
        assert np.array_equal(getattr(param, name), param.bg)
    assert np.array_equal(param.bg, param.wg[0, :100])
    assert param.wg.min() >= -0.1 and param.wg.max() < 0.1


def test_nicodjimenez_diffs_are_the_gradient_of_the_summed_loss():
    mem_cell_ct, x_dim = 3, 2
    rng = np.random.default_rng(0)
    param = nicodjimenez.LstmParam(mem_cell_ct, x_dim)
    names = ["wg", "wi", "wf", "wo", "bg", "bi", "bf", "bo"]
    for name in names:  # break the tutorial's identical starts so every path is exercised
        setattr(param, name, rng.uniform(-0.5, 0.5, getattr(param, name).shape))
    xs = [rng.random(x_dim) for _ in range(4)]
    y_list = [-0.5, 0.2, 0.1, -0.5]

    def loss():
        net = nicodjimenez.LstmNetwork(param)
        for x in xs:
            net.x_list_add(x)
        return sum(nicodjimenez.ToyLossLayer.loss(node.state.h, y) for node, y in zip(net.lstm_node_list, y_list))

    net = nicodjimenez.LstmNetwork(param)
    for x in xs:
        net.x_list_add(x)
    net.y_list_is(y_list, nicodjimenez.ToyLossLayer)
    ours = [getattr(param, name + "_diff").copy() for name in names]
    _assert_close(ours, _central_differences(loss, [getattr(param, name) for name in names]))


# ------------------------------------------------------------------------------------ d2l
def _tiny_rnn(seed=0, vocab_size=5, num_hiddens=4):
    rng = np.random.default_rng(seed)
    params = [rng.normal(0, 0.5, p.shape) for p in d2l.get_params(vocab_size, num_hiddens, seed, np.float64)]
    return params, rng


def test_d2l_backward_through_the_window_matches_central_differences():
    vocab_size, batch_size, num_steps = 5, 3, 4
    params, rng = _tiny_rnn(vocab_size=vocab_size)
    X = rng.integers(0, vocab_size, (batch_size, num_steps))
    Y = rng.integers(0, vocab_size, (batch_size, num_steps))
    state = (rng.normal(0, 0.5, (batch_size, 4)),)  # a carried state: detached, so a constant

    _, grads, _ = d2l.loss_and_grads(X, Y, state, params, vocab_size)
    numeric = _central_differences(lambda: d2l.loss_and_grads(X, Y, state, params, vocab_size)[0], params)
    _assert_close(grads, numeric)


def test_d2l_loss_is_the_mean_cross_entropy_over_time_major_targets():
    vocab_size = 5
    params, rng = _tiny_rnn(vocab_size=vocab_size)
    X = rng.integers(0, vocab_size, (2, 3))
    Y = rng.integers(0, vocab_size, (2, 3))
    loss, _, _ = d2l.loss_and_grads(X, Y, d2l.init_rnn_state(2, 4, np.float64), params, vocab_size)
    outputs, _, _ = d2l.rnn(d2l.to_onehot(X, vocab_size, np.float64), d2l.init_rnn_state(2, 4, np.float64), params)
    by_hand = np.mean([-np.log(np.exp(outputs[t][b]) / np.exp(outputs[t][b]).sum())[Y[b, t]]
                       for t in range(3) for b in range(2)])
    assert math.isclose(loss, by_hand, rel_tol=1e-12)


def test_d2l_grad_clipping_scales_to_theta_only_above_it():
    grads = [np.full((2, 2), 3.0), np.full(2, 4.0)]  # norm sqrt(4*9 + 2*16) = sqrt(68)
    d2l.grad_clipping(grads, 1.0)
    assert math.isclose(math.sqrt(sum((g ** 2).sum() for g in grads)), 1.0)
    small = [np.full(3, 0.1)]
    d2l.grad_clipping(small, 1.0)
    assert np.array_equal(small[0], np.full(3, 0.1))


def test_d2l_consecutive_windows_continue_each_row_from_offset_zero():
    corpus = np.arange(100)
    windows = list(d2l.data_iter_consecutive(corpus, batch_size=4, num_steps=6))
    assert len(windows) == (25 - 1) // 6
    X0, _ = windows[0]
    assert X0[:, 0].tolist() == [0, 25, 50, 75]
    for X, Y in windows:
        assert np.array_equal(Y, X + 1)
    assert np.array_equal(windows[1][0][:, 0], X0[:, -1] + 1)


def test_d2l_perplexity_falls_and_predictions_continue_the_prefix_on_a_short_text():
    with gzip.open(TANG300, "rt", encoding="utf-8") as f:
        text = f.read(4000).replace("\n", " ")[:2000]
    vocab_size = len(set(text))
    prefixes = ("作者", "兰叶春")
    lines = d2l.train(text, num_epochs=20, pred_period=1, prefixes=prefixes)
    assert len(lines) == 20 * 3
    perplexities = [float(re.fullmatch(r"epoch (\d+), perplexity (\d+\.\d{6})", line).group(2))
                    for line in lines[::3]]
    # small initial weights: the first epoch (one batch, scored before its update) is near uniform
    assert abs(perplexities[0] / vocab_size - 1) < 0.01
    assert perplexities[-1] < perplexities[0] / 2
    for prefix, line in zip(prefixes, lines[1:3]):
        assert line.startswith(" - " + prefix) and len(line) == 3 + len(prefix) + 50


def test_d2l_vocabulary_is_sorted_unless_an_order_is_given():
    idx_to_char, char_to_idx = d2l.make_vocab("banana")
    assert idx_to_char == ["a", "b", "n"] and char_to_idx["n"] == 2
    assert d2l.make_vocab("banana", ["n", "a", "b"])[0] == ["n", "a", "b"]


def test_d2l_weights_are_drawn_in_the_order_w_xh_w_hh_w_hq():
    W_xh, W_hh, b_h, W_hq, b_q = d2l.get_params(7, 3, seed=5)
    rng = np.random.default_rng(5)
    for ours, shape in ((W_xh, (7, 3)), (W_hh, (3, 3)), (W_hq, (3, 7))):
        assert ours.dtype == np.float32
        assert np.array_equal(ours, rng.normal(0.0, 0.01, size=shape).astype(np.float32))
    assert not b_h.any() and not b_q.any()
