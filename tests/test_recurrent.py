"""RNN, LSTM and GRU layers: torch parity in float64, finite differences, dropout,
truncated BPTT, carried state, edge shapes, recorded hidden gradients, properties.

Every test is seeded and runs on tiny shapes (T <= 5, B <= 3, H <= 4). Comparisons
with torch build the torch modules with `dtype=torch.float64`; the global default
dtype is never changed. A failing comparison prints ours and theirs side by side.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from rnnlab.engine import RECURRENT
from rnnlab.engine.gradcheck import assert_gradients
from rnnlab.engine.registry import CELLS as REGISTRY


def _variants(spec, nonlinearities):
    """A registered cell's test ids: `rnn_tanh`, `rnn_relu`, ... when its nonlinearity varies, else its name."""
    return [spec.name] if len(spec.nonlinearities) == 1 else [f"{spec.name}_{n}" for n in nonlinearities]


# every registered cell (and nonlinearity) that torch computes too: torch.nn's module or backends/loop.py
CELLS = [v for spec in REGISTRY.values() for v in _variants(spec, spec.torch_nonlinearities)]
ALL_VARIANTS = [v for spec in REGISTRY.values() for v in _variants(spec, spec.nonlinearities)]
ONE_PER_CELL = [_variants(spec, spec.nonlinearities)[0] for spec in REGISTRY.values()]
TORCH_TOL = 1e-9  # float64, same weights: only rounding differs
FD_TOL = 1e-6  # central differences, float64
FD_EPS = 1e-5  # rounding noise ~ |L| 1e-16 / eps dominates below this; truncation ~ eps^2 is far below


def _torch():
    return pytest.importorskip("torch")


# ---- building layers and problems ---------------------------------------------------------
def make_layer(cell, input_size=3, hidden_size=4, num_layers=1, bidirectional=False, bias=True,
               dropout=0.0, dtype=np.float64, seed=0, weight_dropout=0.0, hidden_bias=True):
    kind, _, nonlinearity = cell.partition("_")
    kwargs = dict(num_layers=num_layers, bias=bias, bidirectional=bidirectional, dropout=dropout,
                  dtype=dtype, seed=seed, weight_dropout=weight_dropout, hidden_bias=hidden_bias)
    if nonlinearity:
        kwargs["nonlinearity"] = nonlinearity
    return RECURRENT[kind](input_size, hidden_size, **kwargs)


def make_torch(layer, dropout=None, dtype=None):
    """A torch module with the same architecture as `layer` (weights not copied): torch.nn's
    counterpart of the cell, or the step loop of backends/loop.py for a cell torch.nn lacks."""
    torch = _torch()
    kwargs = dict(num_layers=layer.num_layers, bias=layer.bias, bidirectional=layer.bidirectional,
                  dropout=layer.dropout if dropout is None else dropout,
                  dtype=torch.float64 if dtype is None else dtype)
    if len(layer.spec.nonlinearities) > 1:
        kwargs["nonlinearity"] = layer.nonlinearity
    if layer.spec.torch_module is None:
        from rnnlab.backends.loop import LoopRecurrent
        return LoopRecurrent(layer.cell_name, layer.input_size, layer.hidden_size, **kwargs)
    return getattr(torch.nn, layer.spec.torch_module)(layer.input_size, layer.hidden_size, **kwargs)


def copy_weights_to_torch(layer, module):
    torch = _torch()
    dtype = next(module.parameters()).dtype
    module.load_state_dict({k: torch.tensor(v, dtype=dtype) for k, v in layer.state_dict().items()})


def is_lstm(layer):
    return layer.spec.has_cell_state


def make_problem(layer, steps, batch, seed=0, with_h0=True):
    """Random x, h0 (or None), upstream dy and dh_n (pairs for the LSTM)."""
    rng = np.random.default_rng(seed)
    draw = lambda *shape: rng.standard_normal(shape).astype(layer.dtype)  # noqa: E731
    state_shape = (layer.num_layers * layer.num_directions, batch, layer.hidden_size)  # (L*D, B, H)
    state = lambda: (draw(*state_shape), draw(*state_shape)) if is_lstm(layer) else draw(*state_shape)  # noqa: E731
    x = draw(steps, batch, layer.input_size)  # (T, B, I)
    h0 = state() if with_h0 else None
    dy = draw(steps, batch, layer.num_directions * layer.hidden_size)  # (T, B, D*H)
    dh_n = state()
    return x, h0, dy, dh_n


def _state_items(prefix, state, lstm):
    if lstm:
        return {f"{prefix}h": state[0], f"{prefix}c": state[1]}
    return {f"{prefix}h": state}


def run_ours(layer, x, h0, dy, dh_n, **backward_kwargs):
    """Forward + backward from zeroed grads -> {name: array} of everything comparable."""
    layer.zero_grad()
    y, h_n = layer.forward(x, h0)
    dx = layer.backward(dy, dh_n, **backward_kwargs)
    result = {"y": y, "dx": dx}
    result.update(_state_items("n_", h_n, is_lstm(layer)))
    result.update(_state_items("grad_0", layer.grad_h0, is_lstm(layer)))
    result.update({f"grad:{name}": grad.copy() for name, grad in layer.grads.items()})
    return result


def run_torch(module, x, h0, dy, dh_n, lstm):
    """The same in torch; h0=None becomes explicit zeros so that its gradient exists."""
    torch = _torch()
    dtype = next(module.parameters()).dtype
    leaf = lambda a: torch.tensor(np.asarray(a), dtype=dtype, requires_grad=True)  # noqa: E731
    const = lambda a: torch.tensor(np.asarray(a), dtype=dtype)  # noqa: E731
    if h0 is None:
        shape = (dh_n[0] if lstm else dh_n).shape
        h0 = (np.zeros(shape), np.zeros(shape)) if lstm else np.zeros(shape)
    xt = leaf(x)
    h0t = (leaf(h0[0]), leaf(h0[1])) if lstm else leaf(h0)
    y, h_n = module(xt, h0t)
    loss = (y * const(dy)).sum()
    if lstm:
        loss = loss + (h_n[0] * const(dh_n[0])).sum() + (h_n[1] * const(dh_n[1])).sum()
    else:
        loss = loss + (h_n * const(dh_n)).sum()
    module.zero_grad()
    loss.backward()
    numpy = lambda t: t.detach().numpy()  # noqa: E731
    result = {"y": numpy(y), "dx": numpy(xt.grad)}
    result.update(_state_items("n_", tuple(map(numpy, h_n)) if lstm else numpy(h_n), lstm))
    grad0 = (numpy(h0t[0].grad), numpy(h0t[1].grad)) if lstm else numpy(h0t.grad)
    result.update(_state_items("grad_0", grad0, lstm))
    result.update({f"grad:{name}": numpy(p.grad) for name, p in module.named_parameters()})
    return result


# ---- comparisons that print both sides ------------------------------------------------------
def relative_error(ours, theirs):
    """max|a - b| / max|b| (absolute error when b is all zeros)."""
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    scale = np.abs(theirs).max() if theirs.size else 0.0
    diff = np.abs(ours - theirs).max() if theirs.size else 0.0
    return diff / scale if scale > 0 else diff


def _side_by_side(ours, theirs, name, err):
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    k = int(np.argmax(np.abs(ours - theirs))) if ours.size else 0
    return (f"{name}: rel err {err:.3e}  shape {ours.shape}\n"
            f"    ours   first {np.array2string(ours.ravel()[:4], precision=10)}  worst[{k}] {ours.ravel()[k]:.12e}\n"
            f"    theirs first {np.array2string(theirs.ravel()[:4], precision=10)}  worst[{k}] {theirs.ravel()[k]:.12e}")


def assert_close(ours, theirs, name, tol=TORCH_TOL):
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.shape == theirs.shape, f"{name}: shape ours {ours.shape} != theirs {theirs.shape}"
    err = relative_error(ours, theirs)
    assert err < tol, _side_by_side(ours, theirs, name, err)


def assert_all_close(ours: dict, theirs: dict, tol=TORCH_TOL):
    """Every entry of `theirs` has a match in `ours`; all failures reported together."""
    assert set(ours) == set(theirs), f"keys differ: ours only {set(ours) - set(theirs)}, " \
                                     f"theirs only {set(theirs) - set(ours)}"
    failures = []
    for name in sorted(theirs):
        a, b = np.asarray(ours[name]), np.asarray(theirs[name])
        if a.shape != b.shape:
            failures.append(f"{name}: shape ours {a.shape} != theirs {b.shape}")
            continue
        err = relative_error(a, b)
        if not err < tol:
            failures.append(_side_by_side(a, b, name, err))
    assert not failures, "\n".join(failures)


SHAPES = dict(input_size=3, hidden_size=3)
T, B = 4, 2

# ---- 1. parity with torch (float64) ------------------------------------------------------------
@pytest.mark.parametrize("with_h0", [True, False], ids=["h0", "no_h0"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("cell", CELLS)
def test_outputs_and_every_gradient_match_torch_given_our_weights(cell, num_layers, bidirectional, with_h0):
    layer = make_layer(cell, num_layers=num_layers, bidirectional=bidirectional, seed=1, **SHAPES)
    module = make_torch(layer)
    copy_weights_to_torch(layer, module)
    x, h0, dy, dh_n = make_problem(layer, T, B, seed=2, with_h0=with_h0)
    assert_all_close(run_ours(layer, x, h0, dy, dh_n), run_torch(module, x, h0, dy, dh_n, is_lstm(layer)))


@pytest.mark.parametrize("with_h0", [True, False], ids=["h0", "no_h0"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("cell", CELLS)
def test_outputs_and_every_gradient_match_torch_given_torchs_weights(cell, num_layers, bidirectional, with_h0):
    torch = _torch()
    layer = make_layer(cell, num_layers=num_layers, bidirectional=bidirectional, seed=1, **SHAPES)
    torch.manual_seed(3)
    module = make_torch(layer)
    layer.load_state_dict({k: v.detach().numpy() for k, v in module.state_dict().items()})
    x, h0, dy, dh_n = make_problem(layer, T, B, seed=4, with_h0=with_h0)
    assert_all_close(run_ours(layer, x, h0, dy, dh_n), run_torch(module, x, h0, dy, dh_n, is_lstm(layer)))


@pytest.mark.parametrize("cell", CELLS)
def test_parameter_names_and_shapes_are_torchs(cell):
    layer = make_layer(cell, num_layers=2, bidirectional=True, **SHAPES)
    module = make_torch(layer)
    theirs = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    assert {k: v.shape for k, v in layer.params.items()} == theirs
    assert {k: v.shape for k, v in layer.grads.items()} == theirs


# ---- 2. finite differences (float64) ----------------------------------------------------------
def _fd_check(layer, x, h0, dy, dh_n, before_forward=lambda: None):
    """Central differences of L = sum(y*R) + sum(h_n*S) [+ sum(c_n*S_c)] over every
    parameter, x and the initial state, against our backward."""
    lstm = is_lstm(layer)
    before_forward()
    ours = run_ours(layer, x, h0, dy, dh_n)

    def loss():
        before_forward()
        y, h_n = layer.forward(x, h0)
        total = float((y * dy).sum())
        if lstm:
            return total + float((h_n[0] * dh_n[0]).sum() + (h_n[1] * dh_n[1]).sum())
        return total + float((h_n * dh_n).sum())

    params = dict(layer.params, x=x)
    grads = {name: ours[f"grad:{name}"] for name in layer.params}
    grads["x"] = ours["dx"]
    params.update(_state_items("state0_", h0, lstm))  # perturbed in place: forward reads these arrays
    grads.update(_state_items("state0_", (ours["grad_0h"], ours["grad_0c"]) if lstm else ours["grad_0h"], lstm))
    assert_gradients(params, grads, loss, threshold=FD_TOL, eps=FD_EPS)


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("cell", ALL_VARIANTS)  # with those torch lacks (the sigmoid RNN)
def test_backward_agrees_with_central_differences(cell, num_layers, bidirectional):
    layer = make_layer(cell, num_layers=num_layers, bidirectional=bidirectional, seed=5, **SHAPES)
    x, h0, dy, dh_n = make_problem(layer, T, B, seed=6)
    _fd_check(layer, x, h0, dy, dh_n)


# ---- 3. dropout between layers and on the recurrent weights ---------------------------------------------
@pytest.mark.parametrize("kind", ["dropout", "weight_dropout"])  # between layers; on W_hh
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("cell", CELLS)
def test_training_dropout_gradient_agrees_with_central_differences_under_fixed_masks(cell, bidirectional, kind):
    layer = make_layer(cell, num_layers=2, bidirectional=bidirectional, seed=7, **{kind: 0.4}, **SHAPES)
    x, h0, dy, dh_n = make_problem(layer, T, B, seed=8)

    def reseed():
        layer.rng = np.random.default_rng(123)  # the same masks on every forward

    reseed()
    y_train, _ = layer.forward(x, h0)
    y_eval, _ = layer.eval().forward(x, h0)
    layer.train()
    assert not np.allclose(y_train, y_eval), f"{kind}=0.4 in training should change the output"
    _fd_check(layer, x, h0, dy, dh_n, before_forward=reseed)


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("cell", CELLS)
def test_in_eval_mode_dropout_is_off_and_output_equals_torchs_eval_output(cell, bidirectional):
    torch = _torch()
    layer = make_layer(cell, num_layers=2, bidirectional=bidirectional, dropout=0.5, seed=9, **SHAPES)
    module = make_torch(layer)
    copy_weights_to_torch(layer, module)
    layer.eval()
    module.eval()
    x, h0, _, _ = make_problem(layer, T, B, seed=10)
    y, h_n = layer.forward(x, h0)
    hx = tuple(torch.from_numpy(s) for s in h0) if is_lstm(layer) else torch.from_numpy(h0)
    with torch.no_grad():
        y_t, h_n_t = module(torch.from_numpy(x), hx)
    assert_close(y, y_t.numpy(), "y")
    assert_close(h_n[0] if is_lstm(layer) else h_n, (h_n_t[0] if is_lstm(layer) else h_n_t).numpy(), "h_n")


@pytest.mark.parametrize("cell", CELLS)
def test_dropout_does_not_apply_after_the_last_layer(cell):
    one_layer = make_layer(cell, num_layers=1, dropout=0.5, seed=11, **SHAPES)
    x, h0, _, _ = make_problem(one_layer, T, B, seed=12)
    y_train, h_train = one_layer.forward(x, h0)
    y_eval, h_eval = one_layer.eval().forward(x, h0)
    np.testing.assert_array_equal(y_train, y_eval)
    # two layers: the top layer's outputs are never zeroed (a mask on them would zero ~half)
    two_layers = make_layer(cell, num_layers=2, dropout=0.5, seed=11, **SHAPES)
    x, h0, _, _ = make_problem(two_layers, T, B, seed=12)
    y_two, _ = two_layers.forward(x, h0)
    y_two = y_two.copy()
    assert np.count_nonzero(y_two == 0) == 0 or cell == "rnn_relu"
    assert not np.allclose(y_two, two_layers.eval().forward(x, h0)[0]), "dropout between layers had no effect"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_weight_dropout_zeroes_a_fraction_p_of_the_recurrent_weights_and_scales_the_rest_by_1_over_1_minus_p(dtype):
    layer = make_layer("lstm", hidden_size=64, weight_dropout=0.3, dtype=dtype, seed=1)
    ones = np.ones((256, 64), dtype=dtype)
    dropped, keep = layer._drop_weights(ones)
    assert abs(np.mean(dropped == 0) - 0.3) < 0.01  # 16,384 weights: the standard error is 0.004
    np.testing.assert_allclose(dropped[keep], 1 / 0.7, rtol=1e-6)
    assert np.all(dropped[~keep] == 0)
    assert layer._drop_weights(ones)[1].tolist() != keep.tolist()  # a new mask on every call
    same, no_mask = layer.eval()._drop_weights(ones)
    assert same is ones and no_mask is None  # evaluation uses the weights themselves


@pytest.mark.parametrize("cell", CELLS)
def test_weight_dropout_runs_the_layer_on_masked_recurrent_weights_and_leaves_the_weights_unchanged(cell):
    dropped = make_layer(cell, num_layers=2, weight_dropout=0.5, seed=13, **SHAPES)
    original = {name: value.copy() for name, value in dropped.params.items()}
    x, h0, dy, _ = make_problem(dropped, T, B, seed=14)
    dropped.rng = np.random.default_rng(5)
    y_dropped, _ = dropped.forward(x, h0)
    dropped.backward(dy)
    for name, value in dropped.params.items():
        np.testing.assert_array_equal(value, original[name], err_msg=name)
    # the same layer without weight dropout, its W_hh replaced by the masks drawn in the same order
    masks = np.random.default_rng(5)
    plain = make_layer(cell, num_layers=2, seed=13, **SHAPES)
    for layer_index in range(2):
        name = f"weight_hh_l{layer_index}"
        keep = masks.random(plain.params[name].shape) < 0.5
        plain.params[name][...] = original[name] * keep / 0.5
        assert 0 < keep.mean() < 1
    np.testing.assert_allclose(plain.forward(x, h0)[0], y_dropped, rtol=1e-12, atol=1e-12)


# ---- 4. truncated BPTT ------------------------------------------------------------------------------
def truncated_reference(layer, x, h0, dy, k, dh_n=None):
    """Sum over output steps t of the FULL gradient of loss_t = sum(y_t * dy_t), computed
    by running forward over [max(0, t-k), t] only, from the state reached before that
    window (held constant); dh_n joins the loss of the last step."""
    lstm = is_lstm(layer)
    steps = x.shape[0]
    if h0 is None:
        h0 = layer.init_state(x.shape[1])
    layer.zero_grad()
    dx = np.zeros_like(x)
    grad_h0 = [np.zeros_like(s) for s in (h0 if lstm else (h0,))]
    for t in range(steps):
        start = max(0, t - k)
        state = h0 if start == 0 else layer.forward(x[:start], h0)[1]  # detached: a plain array
        window_dy = np.zeros_like(dy[start:t + 1])  # (t-start+1, B, H)
        window_dy[-1] = dy[t]
        layer.forward(x[start:t + 1], state)
        dx[start:t + 1] += layer.backward(window_dy, dh_n if t == steps - 1 else None)
        if start == 0:
            for total, g in zip(grad_h0, layer.grad_h0 if lstm else (layer.grad_h0,)):
                total += g
    result = {"dx": dx, "grad_0h": grad_h0[0]}
    if lstm:
        result["grad_0c"] = grad_h0[1]
    result.update({f"grad:{name}": grad.copy() for name, grad in layer.grads.items()})
    return result


def _gradients_only(result):
    return {k: v for k, v in result.items() if k == "dx" or k.startswith("grad")}


@pytest.mark.parametrize("with_dh_n", [False, True], ids=["dy_only", "dy_and_dh_n"])
@pytest.mark.parametrize("k", [0, 1, 3, 5, 9])
@pytest.mark.parametrize("cell", ONE_PER_CELL)
def test_truncated_backward_equals_the_sum_of_windowed_full_gradients(cell, k, with_dh_n):
    steps = 5
    layer = make_layer(cell, seed=13, **SHAPES)
    x, h0, dy, dh_n = make_problem(layer, steps, B, seed=14)
    dh_n = dh_n if with_dh_n else None
    ours = _gradients_only(run_ours(layer, x, h0, dy, dh_n, bptt_truncate=k))
    reference = truncated_reference(make_layer(cell, seed=13, **SHAPES), x, h0, dy, k, dh_n)
    assert_all_close(ours, reference, tol=1e-12)


def _direction_as_unidirectional(layer, direction):
    """A one-layer unidirectional copy of one direction of a one-layer bidirectional layer."""
    uni = make_layer(f"{layer.cell_name}_{layer.nonlinearity}" if len(layer.spec.nonlinearities) > 1
                     else layer.cell_name, layer.input_size, layer.hidden_size, bias=layer.bias)
    suffix = "_reverse" if direction else ""
    uni.load_state_dict({name: layer.params[name + suffix] for name in uni.params})
    return uni


@pytest.mark.parametrize("k", [0, 1, 3])
@pytest.mark.parametrize("cell", ONE_PER_CELL)
def test_bidirectional_truncation_truncates_each_direction_in_its_own_time_order(cell, k):
    """The reverse direction is a unidirectional layer over reversed time, truncated the same way."""
    steps = 5
    layer = make_layer(cell, bidirectional=True, seed=43, **SHAPES)
    lstm = is_lstm(layer)
    x, h0, dy, dh_n = make_problem(layer, steps, B, seed=44)
    ours = _gradients_only(run_ours(layer, x, h0, dy, dh_n, bptt_truncate=k))
    H = layer.hidden_size
    expected = {"dx": np.zeros_like(x)}
    grad0 = []
    for direction in (0, 1):
        time = slice(None, None, -1 if direction else 1)
        pick = lambda state: state[direction:direction + 1]  # noqa: E731  (1, B, H)
        reference = truncated_reference(
            _direction_as_unidirectional(layer, direction), x[time], (pick(h0[0]), pick(h0[1])) if lstm else pick(h0),
            dy[time][:, :, direction * H:(direction + 1) * H], k,
            (pick(dh_n[0]), pick(dh_n[1])) if lstm else pick(dh_n))
        expected["dx"] += reference["dx"][time]
        grad0.append(reference)
        suffix = "_reverse" if direction else ""
        expected.update({f"{name}{suffix}": g for name, g in reference.items() if name.startswith("grad:")})
    for key in ("grad_0h", "grad_0c") if lstm else ("grad_0h",):
        expected[key] = np.concatenate([grad0[0][key], grad0[1][key]])
    assert_all_close(ours, expected, tol=1e-12)


@pytest.mark.parametrize("k", [0, 1])
@pytest.mark.parametrize("cell", ONE_PER_CELL)
def test_short_truncation_differs_from_full_backprop(cell, k):
    layer = make_layer(cell, seed=15, **SHAPES)
    x, h0, dy, dh_n = make_problem(layer, 5, B, seed=16)
    truncated = run_ours(layer, x, h0, dy, dh_n, bptt_truncate=k)
    full = run_ours(layer, x, h0, dy, dh_n)
    assert relative_error(truncated["grad:weight_hh_l0"], full["grad:weight_hh_l0"]) > 1e-3


@pytest.mark.parametrize("extra", [-1, 0, 4])  # k = T-1, T, T+4
@pytest.mark.parametrize("num_layers,bidirectional", [(1, False), (1, True), (2, True)], ids=["1uni", "1bi", "2bi"])
@pytest.mark.parametrize("cell", CELLS)
def test_truncation_at_least_T_minus_1_equals_full_backprop(cell, num_layers, bidirectional, extra):
    steps = 5
    layer = make_layer(cell, num_layers=num_layers, bidirectional=bidirectional, seed=17, **SHAPES)
    x, h0, dy, dh_n = make_problem(layer, steps, B, seed=18)
    full = _gradients_only(run_ours(layer, x, h0, dy, dh_n))
    truncated = _gradients_only(run_ours(layer, x, h0, dy, dh_n, bptt_truncate=steps + extra))
    assert_all_close(truncated, full, tol=1e-12)


def test_negative_truncation_is_rejected():
    layer = make_layer("gru", **SHAPES)
    x, h0, dy, _ = make_problem(layer, T, B)
    layer.forward(x, h0)
    with pytest.raises(ValueError, match="bptt_truncate"):
        layer.backward(dy, bptt_truncate=-1)


# ---- 5. carrying state across windows ----------------------------------------------------------------
@pytest.mark.parametrize("bidirectional", [False], ids=["uni"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("cell", CELLS)
def test_two_windows_with_carried_state_equal_one_run_over_the_whole_sequence(cell, num_layers, bidirectional):
    layer = make_layer(cell, num_layers=num_layers, seed=19, **SHAPES)
    x, h0, _, _ = make_problem(layer, 5, B, seed=20)
    y_whole, h_whole = layer.forward(x, h0)
    y_whole = y_whole.copy()
    y_first, h_mid = layer.forward(x[:2], h0)
    y_first = y_first.copy()
    y_second, h_end = layer.forward(x[2:], h_mid)
    assert_close(np.concatenate([y_first, y_second]), y_whole, "y", tol=1e-14)
    for ours, theirs, name in zip(h_end if is_lstm(layer) else (h_end,),
                                  h_whole if is_lstm(layer) else (h_whole,), ("h_n", "c_n")):
        assert_close(ours, theirs, name, tol=1e-14)


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("cell", CELLS)
def test_grad_h0_of_the_second_window_fed_as_dh_n_of_the_first_gives_full_gradients(cell, num_layers):
    first = make_layer(cell, num_layers=num_layers, seed=21, **SHAPES)
    second = make_layer(cell, num_layers=num_layers, seed=21, **SHAPES)
    whole = make_layer(cell, num_layers=num_layers, seed=21, **SHAPES)
    x, h0, dy, dh_n = make_problem(whole, 5, B, seed=22)
    expected = _gradients_only(run_ours(whole, x, h0, dy, dh_n))
    for layer in (first, second):
        layer.zero_grad()
    _, h_mid = first.forward(x[:2], h0)
    second.forward(x[2:], h_mid)
    dx_second = second.backward(dy[2:], dh_n)
    dx_first = first.backward(dy[:2], second.grad_h0)
    got = {"dx": np.concatenate([dx_first, dx_second])}
    got.update(_state_items("grad_0", first.grad_h0, is_lstm(first)))
    got.update({f"grad:{n}": first.grads[n] + second.grads[n] for n in first.grads})
    assert_all_close(got, expected, tol=1e-12)


# ---- 5b. integer ids as one-hot input ------------------------------------------------------------
def one_hot(ids, size):
    return np.eye(size)[ids]  # (T, B) -> (T, B, V), float64


@pytest.mark.parametrize("symbols", [3, 50], ids=["20 ids of 3 symbols", "20 ids of 50 symbols"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("cell", CELLS)
def test_integer_ids_give_torchs_outputs_and_gradients_for_their_one_hot_vectors(cell, num_layers, bidirectional,
                                                                                symbols):
    layer = make_layer(cell, input_size=symbols, hidden_size=3, num_layers=num_layers, bidirectional=bidirectional,
                       seed=41)
    module = make_torch(layer)
    copy_weights_to_torch(layer, module)
    _, h0, dy, dh_n = make_problem(layer, 5, 4, seed=42)
    ids = np.random.default_rng(43).integers(0, symbols, size=(5, 4))
    ours = run_ours(layer, ids, h0, dy, dh_n)
    assert ours.pop("dx") is None  # ids have no gradient
    theirs = run_torch(module, one_hot(ids, symbols), h0, dy, dh_n, is_lstm(layer))
    del theirs["dx"]
    assert_all_close(ours, theirs)


@pytest.mark.parametrize("cell", ONE_PER_CELL)
def test_integer_ids_backward_agrees_with_central_differences(cell):
    layer = make_layer(cell, num_layers=2, bidirectional=True, seed=44, **SHAPES)
    _, h0, dy, dh_n = make_problem(layer, 3, B, seed=45)
    ids = np.array([[0, 2], [2, 2], [1, 0]])

    def loss():
        y, h_n = layer.forward(ids, h0)
        states = h_n if is_lstm(layer) else (h_n,)
        douts = dh_n if is_lstm(layer) else (dh_n,)
        return float((y * dy).sum() + sum((s * d).sum() for s, d in zip(states, douts)))

    layer.zero_grad()
    layer.forward(ids, h0)
    layer.backward(dy, dh_n)
    assert_gradients(layer.params, {n: g.copy() for n, g in layer.grads.items()}, loss, threshold=FD_TOL, eps=FD_EPS)


@pytest.mark.parametrize("bad,message", [(np.array([[0, 3]]), "out of range"), (np.array([0, 1]), "shape")])
def test_integer_ids_out_of_range_or_of_the_wrong_shape_raise_value_errors(bad, message):
    layer = make_layer("lstm", **SHAPES)
    with pytest.raises(ValueError, match=message):
        layer.forward(bad)


# ---- 6. edge shapes and errors ---------------------------------------------------------------------------
@pytest.mark.parametrize("steps,batch", [(1, 1), (1, 3), (5, 1)], ids=["T1B1", "T1B3", "T5B1"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("cell", CELLS)
def test_single_step_and_single_sequence_batches_match_torch(cell, bidirectional, steps, batch):
    layer = make_layer(cell, num_layers=2, bidirectional=bidirectional, seed=23, **SHAPES)
    module = make_torch(layer)
    copy_weights_to_torch(layer, module)
    x, h0, dy, dh_n = make_problem(layer, steps, batch, seed=24)
    ours = run_ours(layer, x, h0, dy, dh_n)
    assert ours["y"].shape == (steps, batch, layer.num_directions * layer.hidden_size)
    assert_all_close(ours, run_torch(module, x, h0, dy, dh_n, is_lstm(layer)))


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("cell", CELLS)
def test_without_biases_layers_have_only_weights_and_match_torch(cell, bidirectional):
    layer = make_layer(cell, num_layers=2, bidirectional=bidirectional, bias=False, seed=25, **SHAPES)
    assert not any(name.startswith("bias") for name in layer.params)
    module = make_torch(layer)
    copy_weights_to_torch(layer, module)
    x, h0, dy, dh_n = make_problem(layer, T, B, seed=26)
    assert_all_close(run_ours(layer, x, h0, dy, dh_n), run_torch(module, x, h0, dy, dh_n, is_lstm(layer)))


@pytest.mark.parametrize("cell", CELLS)
def test_without_biases_backward_agrees_with_central_differences(cell):
    layer = make_layer(cell, num_layers=2, bidirectional=True, bias=False, seed=27, **SHAPES)
    x, h0, dy, dh_n = make_problem(layer, 3, B, seed=28)
    _fd_check(layer, x, h0, dy, dh_n)


@pytest.mark.parametrize("cell", CELLS)
def test_init_state_is_zeros_in_the_shape_forward_takes_and_is_the_default(cell):
    layer = make_layer(cell, num_layers=2, bidirectional=True, seed=29, **SHAPES)
    state = layer.init_state(3)
    parts = state if is_lstm(layer) else (state,)
    assert isinstance(state, tuple) == is_lstm(layer)
    for part in parts:
        assert part.shape == (4, 3, layer.hidden_size) and part.dtype == layer.dtype and not part.any()
    x, _, _, _ = make_problem(layer, T, 3, seed=30)
    y_default, _ = layer.forward(x)
    y_default = y_default.copy()
    np.testing.assert_array_equal(layer.forward(x, state)[0], y_default)


@pytest.mark.parametrize("cell", CELLS)
def test_wrong_input_shapes_raise_value_errors_that_name_the_expected_shape(cell):
    layer = make_layer(cell, num_layers=2, seed=31, **SHAPES)
    x, h0, _, _ = make_problem(layer, T, B, seed=32)
    with pytest.raises(ValueError, match=r"input must have shape \(T, B, 3\)"):
        layer.forward(np.zeros((T, B, 4)))
    with pytest.raises(ValueError, match="input must have shape"):
        layer.forward(np.zeros((T, 3)))
    bad = np.zeros((2, B + 1, layer.hidden_size))
    with pytest.raises(ValueError, match=r"h0 (for an LSTM )?must"):
        layer.forward(x, (bad, bad) if is_lstm(layer) else bad)


def test_lstm_h0_that_is_not_a_pair_raises_a_value_error():
    layer = make_layer("lstm", **SHAPES)
    x, h0, _, _ = make_problem(layer, T, B)
    with pytest.raises(ValueError, match=r"pair \(h, c\)"):
        layer.forward(x, h0[0])
    with pytest.raises(ValueError, match=r"pair \(h, c\)"):
        layer.forward(x, (h0[0], h0[1], h0[1]))


@pytest.mark.parametrize("cell", CELLS)
def test_backward_before_forward_raises(cell):
    layer = make_layer(cell, **SHAPES)
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.zeros((T, B, layer.hidden_size)))


@pytest.mark.parametrize("cell", CELLS)
def test_dy_of_the_wrong_shape_raises_a_value_error(cell):
    layer = make_layer(cell, bidirectional=True, **SHAPES)
    x, h0, dy, _ = make_problem(layer, T, B)
    layer.forward(x, h0)
    with pytest.raises(ValueError, match="dy must have shape"):
        layer.backward(dy[:, :, : layer.hidden_size])


@pytest.mark.parametrize("kwargs", [dict(hidden_size=0), dict(num_layers=0), dict(dropout=1.0),
                                    dict(dropout=-0.1)], ids=["hidden0", "layers0", "dropout1", "dropout_neg"])
def test_invalid_constructor_arguments_raise_value_errors(kwargs):
    args = dict(input_size=3, hidden_size=4, num_layers=1, dropout=0.0)
    args.update(kwargs)
    with pytest.raises(ValueError, match="must"):
        RECURRENT["gru"](args.pop("input_size"), args.pop("hidden_size"), **args)


def test_an_unknown_rnn_nonlinearity_raises_a_value_error():
    with pytest.raises(ValueError, match="nonlinearity"):
        RECURRENT["rnn"](3, 4, nonlinearity="softsign")


@pytest.mark.parametrize("cell", CELLS)
def test_gradients_add_up_across_backward_calls_until_zeroed(cell):
    layer = make_layer(cell, num_layers=2, seed=33, **SHAPES)
    x, h0, dy, dh_n = make_problem(layer, T, B, seed=34)
    once = run_ours(layer, x, h0, dy, dh_n)
    layer.forward(x, h0)
    layer.backward(dy, dh_n)  # no zero_grad: adds a second copy
    for name, grad in layer.grads.items():
        assert_close(grad, 2 * once[f"grad:{name}"], name, tol=1e-14)
    layer.zero_grad()
    assert not any(grad.any() for grad in layer.grads.values())


# ---- 7. recorded hidden-state gradients -----------------------------------------------------------------
def test_with_zero_recurrence_only_the_last_step_hidden_grad_is_nonzero():
    layer = make_layer("rnn_tanh", seed=35, **SHAPES)
    layer.params["weight_hh_l0"][...] = 0
    layer.record_hidden_grads = True
    x, h0, dy, _ = make_problem(layer, T, B, seed=36)
    dy[:-1] = 0
    layer.forward(x, h0)
    layer.backward(dy)
    recorded = layer.hidden_grads[(0, 0)]  # (T, B, H)
    assert recorded.shape == (T, B, layer.hidden_size)
    assert not recorded[:-1].any()
    np.testing.assert_array_equal(recorded[-1], dy[-1])


def torch_cell_step(layer, direction):
    """One step of layer 0 in torch: torch.nn's XCell, or the cell's own step equations for a loop cell."""
    torch = _torch()
    suffix = "_reverse" if direction else ""
    weights = {kind: torch.from_numpy(layer.params[f"{kind}_l0{suffix}"])
               for kind in layer.spec.param_shapes(layer.input_size, layer.hidden_size)}
    if layer.spec.torch_module is None:
        weights = {kind: w.clone().requires_grad_() for kind, w in weights.items()}  # so h_t has a graph
        extras = {kind: weights[kind] for kind in layer.spec.extra_param_kinds}

        def step(x_t, state):
            h, c = state if is_lstm(layer) else (state, None)
            projected = x_t @ weights["weight_ih"].T + weights["bias_ih"] + weights["bias_hh"]
            h, c = layer.cell.step(projected, h, c, weights["weight_hh"], extras, torch.sigmoid, torch.tanh)
            return (h, c) if is_lstm(layer) else h
        return step
    kwargs = dict(nonlinearity=layer.nonlinearity) if len(layer.spec.nonlinearities) > 1 else {}
    cell = getattr(torch.nn, layer.spec.torch_module + "Cell")(layer.input_size, layer.hidden_size,
                                                               dtype=torch.float64, **kwargs)
    cell.load_state_dict(weights)
    return cell


def torch_unrolled_hidden_grads(layer, x, h0, dy, dh_n):
    """dL/dh_t per direction from an unrolled torch cell loop with retained grads."""
    torch = _torch()
    lstm = is_lstm(layer)
    steps, hidden = x.shape[0], layer.hidden_size
    xt = torch.from_numpy(x)
    loss, hidden_states = 0.0, {}
    for direction in range(layer.num_directions):
        cell = torch_cell_step(layer, direction)
        h = torch.from_numpy(h0[0][direction] if lstm else h0[direction])
        c = torch.from_numpy(h0[1][direction]) if lstm else None
        states = {}
        for t in (reversed(range(steps)) if direction else range(steps)):
            if lstm:
                h, c = cell(xt[t], (h, c))
            else:
                h = cell(xt[t], h)
            h.retain_grad()
            states[t] = h
            loss = loss + (h * torch.from_numpy(dy[t, :, direction * hidden:(direction + 1) * hidden])).sum()
        loss = loss + (h * torch.from_numpy(dh_n[0][direction] if lstm else dh_n[direction])).sum()
        if lstm:
            loss = loss + (c * torch.from_numpy(dh_n[1][direction])).sum()
        hidden_states[direction] = states
    loss.backward()
    return {(0, d): np.stack([s[t].grad.numpy() for t in range(steps)]) for d, s in hidden_states.items()}


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("cell", CELLS)
def test_recorded_hidden_grads_equal_torchs_retained_grads_of_an_unrolled_cell_loop(cell, bidirectional):
    layer = make_layer(cell, bidirectional=bidirectional, seed=37, **SHAPES)
    layer.record_hidden_grads = True
    x, h0, dy, dh_n = make_problem(layer, T, B, seed=38)
    layer.forward(x, h0)
    layer.backward(dy, dh_n)
    expected = torch_unrolled_hidden_grads(layer, x, h0, dy, dh_n)
    assert set(layer.hidden_grads) == set(expected)
    for key, theirs in expected.items():
        assert_close(layer.hidden_grads[key], theirs, f"hidden_grads{key}")


def test_hidden_grads_are_recorded_for_every_layer_and_direction_only_when_asked():
    layer = make_layer("lstm", num_layers=2, bidirectional=True, seed=39, **SHAPES)
    x, h0, dy, dh_n = make_problem(layer, T, B, seed=40)
    layer.forward(x, h0)
    layer.backward(dy, dh_n)
    assert layer.hidden_grads == {}
    layer.record_hidden_grads = True
    layer.forward(x, h0)
    layer.backward(dy, dh_n)
    assert set(layer.hidden_grads) == {(0, 0), (0, 1), (1, 0), (1, 1)}
    # the top layer's recorded dL/dh_t is dy plus what flows back from later steps; at the
    # last processed step of each direction that is dy_t + dh_n
    H = layer.hidden_size
    np.testing.assert_allclose(layer.hidden_grads[(1, 0)][-1], dy[-1, :, :H] + dh_n[0][2], rtol=1e-14)
    np.testing.assert_allclose(layer.hidden_grads[(1, 1)][0], dy[0, :, H:] + dh_n[0][3], rtol=1e-14)


# ---- 8. properties -----------------------------------------------------------------------------------------
@settings(max_examples=15, deadline=None, derandomize=True)
@given(cell=st.sampled_from(CELLS), steps=st.integers(1, 4), batch=st.integers(1, 3),
       input_size=st.integers(1, 4), hidden_size=st.integers(1, 4), num_layers=st.integers(1, 2),
       bidirectional=st.booleans(), with_h0=st.booleans(), seed=st.integers(0, 2**16))
def test_any_small_configuration_matches_torch_in_float64(cell, steps, batch, input_size, hidden_size,
                                                           num_layers, bidirectional, with_h0, seed):
    _torch()
    layer = make_layer(cell, input_size, hidden_size, num_layers, bidirectional, seed=seed)
    module = make_torch(layer)
    copy_weights_to_torch(layer, module)
    x, h0, dy, dh_n = make_problem(layer, steps, batch, seed=seed + 1, with_h0=with_h0)
    assert_all_close(run_ours(layer, x, h0, dy, dh_n), run_torch(module, x, h0, dy, dh_n, is_lstm(layer)))


# ---- 9. float32 by default -------------------------------------------------------------------------------------
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("cell", CELLS)
def test_float32_is_the_default_and_stays_close_to_torch_float32(cell, bidirectional):
    torch = _torch()
    kind, _, nonlinearity = cell.partition("_")
    kwargs = dict(nonlinearity=nonlinearity) if nonlinearity else {}
    layer = RECURRENT[kind](3, 4, num_layers=2, bidirectional=bidirectional, seed=41, **kwargs)
    assert all(p.dtype == np.float32 for p in layer.params.values())
    module = make_torch(layer, dtype=torch.float32)
    copy_weights_to_torch(layer, module)
    x, h0, dy, dh_n = make_problem(layer, T, B, seed=42)
    ours = run_ours(layer, x.astype(np.float64), h0, dy, dh_n)  # float64 input is converted
    for name in ("y", "dx", "n_h", "grad_0h"):
        assert ours[name].dtype == np.float32, name
    assert all(grad.dtype == np.float32 for grad in layer.grads.values())
    theirs = run_torch(module, x, h0, dy, dh_n, is_lstm(layer))
    for name in ("y", "n_h", "n_c") if is_lstm(layer) else ("y", "n_h"):
        np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-4, atol=1e-6, err_msg=name)
    for name in theirs:  # gradients: float32 rounding accumulates over steps and layers
        np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-3, atol=1e-5, err_msg=name)


# ---- 10. recording what happens inside ---------------------------------------------------------------------------
def _sig(a):
    return 1.0 / (1.0 + np.exp(-a))


def _split(a, parts):
    return np.split(a, parts, axis=-1)


def _rnn_step(p, x, h, c, nonlinearity):
    act = {"tanh": np.tanh, "relu": lambda a: np.maximum(a, 0), "sigmoid": _sig}[nonlinearity]
    h = act(x @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"])
    return h, None, {"h": h}


def _lstm_step(p, x, h, c, nonlinearity):
    i, f, g, o = _split(x @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"], 4)
    i, f, g, o = _sig(i), _sig(f), np.tanh(g), _sig(o)
    c = f * c + i * g
    return o * np.tanh(c), c, {"i": i, "f": f, "g": g, "o": o}


def _gru_step(p, x, h, c, nonlinearity):
    xr, xz, xn = _split(x @ p["weight_ih"].T + p["bias_ih"], 3)
    hr, hz, hn = _split(h @ p["weight_hh"].T + p["bias_hh"], 3)
    r, z = _sig(xr + hr), _sig(xz + hz)
    n = np.tanh(xn + r * hn)
    return (1 - z) * n + z * h, None, {"r": r, "z": z, "n": n}


def _peephole_step(p, x, h, c, nonlinearity):  # Gers & Schmidhuber 2000
    i, f, g, o = _split(x @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"], 4)
    i, f, g = _sig(i + p["weight_ci"] * c), _sig(f + p["weight_cf"] * c), np.tanh(g)
    c = f * c + i * g
    o = _sig(o + p["weight_co"] * c)
    return o * np.tanh(c), c, {"i": i, "f": f, "g": g, "o": o}


def _minimal_lstm_step(p, x, h, s, nonlinearity):  # the nicodjimenez/lstm tutorial, on [x, h]
    w = np.concatenate([p["weight_ih"], p["weight_hh"]], axis=1)  # the tutorial's stacked (4H, I+H)
    g, i, f, o = _split(np.concatenate([x, h], axis=1) @ w.T + p["bias_ih"] + p["bias_hh"], 4)
    g, i, f, o = np.tanh(g), _sig(i), _sig(f), _sig(o)
    s = g * i + s * f
    return s * o, s, {"g": g, "i": i, "f": f, "o": o}


# one step of each registered cell from its equations: a new cell needs its own entry here
REFERENCE_STEPS = {"rnn": _rnn_step, "lstm": _lstm_step, "gru": _gru_step, "peephole": _peephole_step,
                   "minimal-lstm": _minimal_lstm_step}


def manual_recording(layer, x, h0):
    """(layer, direction) -> {"h", "c"?, gates...} by running the reference step over time."""
    step = REFERENCE_STEPS[layer.cell_name]
    has_c = is_lstm(layer)
    steps = x.shape[0]
    out, layer_input = {}, x
    for k in range(layer.num_layers):
        outputs = []
        for d in range(layer.num_directions):
            suffix = "_reverse" if d else ""
            p = {kind: layer.params[f"{kind}_l{k}{suffix}"]
                 for kind in layer.spec.param_shapes(1, layer.hidden_size)}
            index = k * layer.num_directions + d
            h, c = (h0[0][index], h0[1][index]) if has_c else (h0[index], None)
            rec = {}
            for t in (reversed(range(steps)) if d else range(steps)):
                h, c, gates = step(p, layer_input[t], h, c, layer.nonlinearity)
                for name, value in dict(gates, h=h, **({"c": c} if has_c else {})).items():
                    rec.setdefault(name, [None] * steps)[t] = value
            out[(k, d)] = {name: np.stack(values) for name, values in rec.items()}
            outputs.append(out[(k, d)]["h"])
        layer_input = np.concatenate(outputs, axis=2)
    return out


@pytest.mark.parametrize("cell", ALL_VARIANTS)
def test_recorded_h_c_and_gate_activations_equal_a_step_by_step_forward_from_the_equations(cell):
    assert cell.partition("_")[0] in REFERENCE_STEPS, f"write the reference equations of the {cell} cell"
    layer = make_layer(cell, num_layers=2, bidirectional=True, seed=45, **SHAPES)
    x, h0, _, _ = make_problem(layer, T, B, seed=46)
    y, _ = layer.forward(x, h0, record=True)
    expected = manual_recording(layer, x, h0)
    assert set(layer.recorded) == set(expected)
    for key, theirs in expected.items():
        names = {"h", *layer.spec.gate_names} | ({"c"} if is_lstm(layer) else set())
        assert set(layer.recorded[key]) == names == set(theirs), key
        for name, value in theirs.items():
            assert_close(layer.recorded[key][name], value, f"recorded{key}[{name}]", tol=1e-12)
    np.testing.assert_array_equal(layer.recorded[(1, 0)]["h"], y[:, :, :layer.hidden_size])


@pytest.mark.parametrize("cell", ONE_PER_CELL)
def test_recordings_are_copies_that_a_later_forward_leaves_alone_and_are_empty_when_not_asked(cell):
    layer = make_layer(cell, seed=47, **SHAPES)
    x, h0, _, _ = make_problem(layer, T, B, seed=48)
    layer.forward(x, h0, record=True)
    first = {name: value.copy() for name, value in layer.recorded[(0, 0)].items()}
    recorded = layer.recorded
    layer.forward(x[::-1].copy(), h0)  # reuses every work buffer
    assert layer.recorded == {}
    for name, value in first.items():
        np.testing.assert_array_equal(recorded[(0, 0)][name], value, err_msg=name)


def test_a_models_forward_with_record_fills_its_recurrent_layers_recordings():
    from rnnlab.models import ModelConfig, NumpyModel

    model = NumpyModel(ModelConfig(input="embedding", input_size=7, output_size=7, hidden_size=4, num_layers=2),
                       seed=0)
    model.forward(np.zeros((3, 2), dtype=np.int64), record=True)
    assert set(model.rnn.recorded) == {(0, 0), (1, 0)}
    assert model.rnn.recorded[(1, 0)]["h"].shape == (3, 2, 4)
    model.forward(np.zeros((3, 2), dtype=np.int64))
    assert model.rnn.recorded == {}



@pytest.mark.parametrize("cell", ALL_VARIANTS)
def test_one_bias_per_gate_leaves_out_bias_hh_and_its_backward_agrees_with_central_differences(cell):
    both = make_layer(cell, num_layers=2, bidirectional=True, seed=5, **SHAPES)
    layer = make_layer(cell, num_layers=2, bidirectional=True, seed=5, hidden_bias=False, **SHAPES)
    assert set(both.params) - set(layer.params) == {name for name in both.params if name.startswith("bias_hh")}
    assert any(name.startswith("bias_ih") for name in layer.params)
    x, h0, dy, dh_n = make_problem(layer, T, B, seed=6)
    _fd_check(layer, x, h0, dy, dh_n)


@pytest.mark.parametrize("shape", [(1, 1), (31, 7), (32, 5), (65, 33), (2048, 512)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_blocked_transpose_of_w_hh_equals_its_transpose_exactly_and_is_contiguous(shape, dtype):
    from rnnlab.engine.cells import transposed

    w = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    out = transposed(w)
    assert out.flags.c_contiguous and out.dtype == dtype
    np.testing.assert_array_equal(out, w.T)
