"""Embedding, OneHot, Linear, Dropout and the initialisers: finite differences, torch, properties."""
import numpy as np
import pytest

from rnnlab.engine import init
from rnnlab.engine.gradcheck import assert_gradients
from rnnlab.engine.layers import Dropout, Embedding, Linear, OneHot, add_rows_at
from rnnlab.engine.registry import cell_names, get_cell


def _rng(seed=0):
    return np.random.default_rng(seed)


# ---- initialisers ---------------------------------------------------------------------
def test_initialisers_return_the_requested_shape_and_dtype():
    rng = _rng()
    assert init.uniform(rng, (3, 4), -1, 1, np.float64).dtype == np.float64
    assert init.normal(rng, (3, 4), 0.1, dtype=np.float32).shape == (3, 4)
    w = init.pytorch_uniform(rng, (8, 5), hidden_size=4, dtype=np.float32)
    assert w.dtype == np.float32 and np.abs(w).max() <= 0.5


def test_orthogonal_makes_every_gate_block_of_a_recurrent_matrix_orthogonal():
    H, G = 5, 4
    w = init.orthogonal(_rng(), (G * H, H), gain=1.0, dtype=np.float64)
    for g in range(G):
        block = w[g * H:(g + 1) * H]                                   # (H, H)
        np.testing.assert_allclose(block @ block.T, np.eye(H), atol=1e-12)


def test_orthogonal_on_a_wide_matrix_has_orthonormal_rows_scaled_by_gain():
    w = init.orthogonal(_rng(), (3, 7), gain=2.0, dtype=np.float64)
    np.testing.assert_allclose(w @ w.T, 4 * np.eye(3), atol=1e-12)


def test_set_forget_bias_sets_only_the_second_quarter_in_place():
    bias = np.zeros(12)
    out = init.set_forget_bias(bias, hidden_size=3, value=1.0, cell="lstm")
    assert out is bias
    np.testing.assert_array_equal(bias, [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    with pytest.raises(ValueError):
        init.set_forget_bias(np.zeros(9), 3, 1.0, "gru")


@pytest.mark.parametrize("cell", cell_names())
def test_set_forget_bias_sets_the_registry_forget_gate_rows_or_refuses_a_cell_without_one(cell):
    spec = get_cell(cell)
    bias = np.zeros(spec.num_gates * 2)
    if spec.forget_gate is None:
        with pytest.raises(ValueError, match="no forget gate"):
            init.set_forget_bias(bias, 2, 1.0, cell)
        return
    init.set_forget_bias(bias, 2, 1.0, cell)
    expected = np.zeros_like(bias)
    expected[2 * spec.forget_gate:2 * spec.forget_gate + 2] = 1.0
    np.testing.assert_array_equal(bias, expected)


# ---- finite differences ----------------------------------------------------------------
def test_linear_backward_agrees_with_central_differences():
    rng = _rng(1)
    layer = Linear(4, 3, dtype=np.float64, seed=0)
    x = rng.standard_normal((2, 5, 4))                                 # (T, B, in)
    w_out = rng.standard_normal((2, 5, 3))                             # (T, B, out)
    layer.zero_grad()
    layer.forward(x)
    dx = layer.backward(w_out)
    params = dict(layer.params, x=x)
    grads = dict(layer.grads, x=dx)
    assert_gradients(params, grads, lambda: float((layer.forward(x) * w_out).sum()))


def test_embedding_backward_agrees_with_central_differences_with_repeated_indices():
    rng = _rng(2)
    layer = Embedding(6, 3, dtype=np.float64, seed=0)
    idx = np.array([[0, 2, 2], [5, 0, 2]])                              # (T, B), repeats
    w_out = rng.standard_normal((2, 3, 3))                             # (T, B, E)
    layer.forward(idx)
    assert layer.backward(w_out) is None
    assert_gradients(layer.params, layer.grads, lambda: float((layer.forward(idx) * w_out).sum()))


def test_dropout_backward_agrees_with_central_differences_for_a_fixed_mask():
    rng = _rng(3)
    layer = Dropout(0.4, locked=True, seed=0)
    x = rng.standard_normal((3, 2, 4))
    w_out = rng.standard_normal((3, 2, 4))
    state = layer.rng.bit_generator.state

    def loss():
        layer.rng.bit_generator.state = state                          # the same mask every call
        return float((layer.forward(x) * w_out).sum())

    loss()
    dx = layer.backward(w_out)
    assert_gradients({"x": x}, {"x": dx}, loss)


# ---- against torch -------------------------------------------------------------------------
def test_linear_matches_torch_values_and_gradients():
    torch = pytest.importorskip("torch")
    rng = _rng(4)
    layer = Linear(7, 5, dtype=np.float64, seed=1)
    ref = torch.nn.Linear(7, 5).double()
    ref.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in layer.params.items()})
    x = rng.standard_normal((3, 2, 7))
    dy = rng.standard_normal((3, 2, 5))
    tx = torch.tensor(x, requires_grad=True)
    ty = ref(tx)
    ty.backward(torch.from_numpy(dy))
    y = layer.forward(x)
    dx = layer.backward(dy)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(layer.grads["weight"], ref.weight.grad.numpy(), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(layer.grads["bias"], ref.bias.grad.numpy(), rtol=1e-9, atol=1e-9)


def test_linear_without_bias_has_only_a_weight():
    layer = Linear(3, 2, bias=False, seed=0)
    assert set(layer.params) == {"weight"}
    y = layer.forward(np.ones((4, 3), np.float32))
    assert y.dtype == np.float32 and y.shape == (4, 2)
    assert layer.backward(np.ones((4, 2), np.float32)).shape == (4, 3)


def test_linear_gradients_accumulate_until_zeroed():
    layer = Linear(3, 2, dtype=np.float64, seed=0)
    x, dy = np.ones((4, 3)), np.ones((4, 2))
    layer.forward(x)
    layer.backward(dy)
    once = layer.grads["weight"].copy()
    layer.backward(dy)
    np.testing.assert_allclose(layer.grads["weight"], 2 * once)
    layer.zero_grad()
    assert not layer.grads["weight"].any()
    layer.backward(dy)  # the first backward after zero_grad writes instead of adding
    np.testing.assert_allclose(layer.grads["weight"], once)


def test_embedding_matches_torch_values_and_gradients():
    torch = pytest.importorskip("torch")
    rng = _rng(5)
    layer = Embedding(50, 8, dtype=np.float64, seed=3)
    ref = torch.nn.Embedding(50, 8).double()
    ref.load_state_dict({"weight": torch.from_numpy(layer.params["weight"].copy())})
    idx = rng.integers(0, 10, size=(7, 4))                             # many repeats
    dy = rng.standard_normal((7, 4, 8))
    ty = ref(torch.from_numpy(idx))
    ty.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(layer.forward(idx), ty.detach().numpy(), rtol=1e-9, atol=1e-9)
    layer.backward(dy)
    np.testing.assert_allclose(layer.grads["weight"], ref.weight.grad.numpy(), rtol=1e-9, atol=1e-9)


def test_embedding_init_is_standard_normal_by_default_and_rejects_unknown_inits():
    w = Embedding(200, 50, seed=0).params["weight"]
    assert w.dtype == np.float32
    assert abs(w.mean()) < 0.02 and abs(w.std() - 1) < 0.02
    assert np.abs(Embedding(20, 5, seed=0, init="uniform").params["weight"]).max() <= 0.1
    with pytest.raises(ValueError):
        Embedding(3, 2, init="xavier")


def test_embedding_rejects_out_of_range_indices():
    with pytest.raises(ValueError):
        Embedding(4, 2, seed=0).forward(np.array([0, 4]))


# ---- one-hot -------------------------------------------------------------------------------
def test_one_hot_puts_a_single_one_at_each_index():
    out = OneHot(5, dtype=np.float64).forward(np.array([[0, 4], [2, 2]]))
    assert out.shape == (2, 2, 5) and out.dtype == np.float64
    np.testing.assert_array_equal(out.argmax(-1), [[0, 4], [2, 2]])
    np.testing.assert_array_equal(out.sum(-1), np.ones((2, 2)))


@pytest.mark.parametrize("bad", [[0, 5], [-1, 0]])
def test_one_hot_raises_value_error_on_out_of_range_index(bad):
    with pytest.raises(ValueError):
        OneHot(5, dtype=np.float32).forward(np.array(bad))


# ---- dropout ------------------------------------------------------------------------------
def test_locked_dropout_uses_the_same_mask_at_every_time_step():
    layer = Dropout(0.5, locked=True, seed=0)
    x = np.ones((6, 3, 10), np.float32)
    y = layer.forward(x)
    assert y.dtype == np.float32
    for t in range(6):
        np.testing.assert_array_equal(y[t], y[0])
    assert set(np.unique(y)) <= {0.0, 2.0} and (y == 0).any() and (y == 2).any()


def test_standard_dropout_draws_different_masks_per_time_step_and_keeps_the_mean():
    layer = Dropout(0.3, seed=1)
    y = layer.forward(np.ones((20, 8, 50)))
    assert not np.array_equal(y[0], y[1])
    assert abs(y.mean() - 1.0) < 0.05


def test_dropout_backward_multiplies_by_the_forward_mask():
    layer = Dropout(0.5, seed=2)
    x = np.ones((4, 3, 5))
    y = layer.forward(x)
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), y)


def test_dropout_in_eval_mode_or_with_p_zero_is_the_identity():
    x = np.random.default_rng(0).standard_normal((3, 2, 4))
    layer = Dropout(0.5, seed=0).eval()
    assert layer.forward(x) is x
    assert layer.backward(x) is x
    assert Dropout(0.0).forward(x) is x


def test_dropout_rng_state_can_be_saved_and_restored():
    layer = Dropout(0.5, seed=0)
    state = layer.rng.bit_generator.state
    first = layer.forward(np.ones((3, 4)))
    layer.rng.bit_generator.state = state
    np.testing.assert_array_equal(layer.forward(np.ones((3, 4))), first)


def test_dropout_rejects_probabilities_outside_zero_one():
    with pytest.raises(ValueError):
        Dropout(1.5)


@pytest.mark.parametrize("num_rows,width,count", [(3, 2000, 50), (3, 4, 50), (1000, 3, 20), (5, 2, 0)],
                         ids=["few wide rows (summed per index)", "few narrow rows (bincount)",
                              "many rows, few ids (bincount)", "no ids"])
def test_add_rows_at_sums_repeated_indices_like_numpy_add_at(num_rows, width, count):
    rng = np.random.default_rng(7)
    indices = rng.integers(0, num_rows, count)
    rows = rng.standard_normal((count, width))
    table = rng.standard_normal((num_rows, width))
    expected = table.copy()
    np.add.at(expected, indices, rows)
    add_rows_at(table, indices, rows)
    np.testing.assert_allclose(table, expected, rtol=1e-13, atol=1e-13)
