"""Losses: finite differences, torch in float64, stability, and properties of cross-entropy."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from rnnlab.engine.gradcheck import assert_gradients
from rnnlab.engine.losses import (log_softmax, mean_squared_error, sigmoid_binary_cross_entropy,
                                  softmax, softmax_cross_entropy, sum_squared_error)

TOL = dict(rtol=1e-9, atol=1e-12)


def _rng(seed=0):
    return np.random.default_rng(seed)


def _case(seed=0, N=6, V=5):
    rng = _rng(seed)
    return rng.standard_normal((N, V)), rng.integers(0, V, N), rng


# ---- finite differences -----------------------------------------------------------------
def test_cross_entropy_gradient_agrees_with_central_differences():
    z, t, _ = _case(1)
    _, dz = softmax_cross_entropy(z, t)
    assert_gradients({"z": z}, {"z": dz}, lambda: softmax_cross_entropy(z, t, need_grad=False)[0])


def test_masked_cross_entropy_gradient_agrees_with_central_differences():
    z, t, _ = _case(2)
    mask = np.array([1, 0, 1, 1, 0, 1], bool)
    _, dz = softmax_cross_entropy(z, t, mask)
    assert not dz[~mask].any()
    assert_gradients({"z": z}, {"z": dz}, lambda: softmax_cross_entropy(z, t, mask)[0])


@pytest.mark.parametrize("loss", [mean_squared_error, sum_squared_error])
def test_squared_error_gradients_agree_with_central_differences(loss):
    rng = _rng(3)
    pred, target = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    _, grad = loss(pred, target)
    assert_gradients({"pred": pred}, {"pred": grad}, lambda: loss(pred, target)[0])


def test_binary_cross_entropy_gradient_agrees_with_central_differences():
    rng = _rng(4)
    x, t = 3 * rng.standard_normal((5, 3)), rng.random((5, 3))
    _, grad = sigmoid_binary_cross_entropy(x, t)
    assert_gradients({"x": x}, {"x": grad}, lambda: sigmoid_binary_cross_entropy(x, t)[0])


# ---- against torch -------------------------------------------------------------------------
def test_cross_entropy_matches_torch_value_and_gradient():
    torch = pytest.importorskip("torch")
    z, t, _ = _case(5, N=12, V=30)
    tz = torch.tensor(z, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(tz, torch.from_numpy(t))
    ref.backward()
    loss, dz = softmax_cross_entropy(z, t)
    assert loss == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(dz, tz.grad.numpy(), **TOL)


def test_masked_cross_entropy_matches_torch_ignore_index():
    torch = pytest.importorskip("torch")
    z, t, rng = _case(6, N=15, V=9)
    mask = rng.random(15) < 0.6
    ignored = np.where(mask, t, -100)                      # PyTorch's ignore_index
    tz = torch.tensor(z, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(tz, torch.from_numpy(ignored), ignore_index=-100)
    ref.backward()
    loss, dz = softmax_cross_entropy(z, ignored, mask)
    assert loss == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(dz, tz.grad.numpy(), **TOL)


def test_float_mask_weights_rows_like_a_weighted_mean():
    z, t, rng = _case(7)
    w = rng.random(6)
    per_row = -log_softmax(z)[np.arange(6), t]
    loss, _ = softmax_cross_entropy(z, t, w)
    assert loss == pytest.approx((w * per_row).sum() / w.sum(), rel=1e-12)


def test_squared_and_binary_losses_match_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = _rng(8)
    pred, target = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    for ours, theirs in [(mean_squared_error, lambda a, b: F.mse_loss(a, b)),
                         (sum_squared_error, lambda a, b: 0.5 * F.mse_loss(a, b, reduction="sum")),
                         (sigmoid_binary_cross_entropy,
                          lambda a, b: F.binary_cross_entropy_with_logits(a, b.sigmoid()))]:
        target_used = 1 / (1 + np.exp(-target)) if ours is sigmoid_binary_cross_entropy else target
        tp = torch.tensor(pred, requires_grad=True)
        ref = theirs(tp, torch.from_numpy(target))
        ref.backward()
        loss, grad = ours(pred, target_used)
        assert loss == pytest.approx(ref.item(), rel=1e-12), ours.__name__
        np.testing.assert_allclose(grad, tp.grad.numpy(), **TOL)


def test_log_softmax_and_softmax_with_temperature_match_torch():
    torch = pytest.importorskip("torch")
    z = _rng(9).standard_normal((3, 7))
    tz = torch.from_numpy(z)
    np.testing.assert_allclose(log_softmax(z), torch.log_softmax(tz, -1).numpy(), **TOL)
    np.testing.assert_allclose(softmax(z, temperature=0.5), torch.softmax(tz / 0.5, -1).numpy(), **TOL)


# ---- stability, options, properties ------------------------------------------------------
def test_cross_entropy_is_finite_for_huge_float32_logits_and_leaves_them_unchanged():
    z = np.array([[1e4, -1e4, 0.0], [-3e4, 3e4, 3e4]], np.float32)
    before = z.copy()
    loss, dz = softmax_cross_entropy(z, np.array([0, 1]))
    assert np.isfinite(loss) and np.isfinite(dz).all() and dz.dtype == np.float32
    assert loss == pytest.approx(np.log(2) / 2, rel=1e-5)
    np.testing.assert_array_equal(z, before)


def test_cross_entropy_writes_its_gradient_into_a_given_buffer():
    z, t, _ = _case(10)
    buf = np.empty_like(z)
    loss, dz = softmax_cross_entropy(z, t, out=buf)
    assert dz is buf
    assert loss == softmax_cross_entropy(z, t)[0]


def test_cross_entropy_over_many_row_blocks_matches_torch_with_a_mask_and_in_place():
    # a 5,000-word float64 vocabulary fills the ~1 MB row block in 26 rows: 70 rows are 3 blocks
    torch = pytest.importorskip("torch")
    z, t, rng = _case(12, N=70, V=5000)
    z *= 4
    mask = rng.random(70) < 0.8
    tz = torch.tensor(z, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(tz, torch.from_numpy(np.where(mask, t, -100)), ignore_index=-100)
    ref.backward()
    assert softmax_cross_entropy(z, t, mask, need_grad=False)[0] == pytest.approx(ref.item(), rel=1e-12)
    work = z.copy()
    loss, dz = softmax_cross_entropy(work, t, mask, out=work)  # the logits themselves as the work array
    assert dz is work
    assert loss == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(dz, tz.grad.numpy(), **TOL)


def test_losses_return_no_gradient_when_not_asked():
    z, t, _ = _case(11)
    assert softmax_cross_entropy(z, t, need_grad=False)[1] is None
    assert mean_squared_error(z, z, need_grad=False) == (0.0, None)
    assert sigmoid_binary_cross_entropy(z, (z > 0) * 1.0, need_grad=False)[1] is None


def test_cross_entropy_rejects_targets_out_of_range():
    z, _, _ = _case(12)
    with pytest.raises(ValueError):
        softmax_cross_entropy(z, np.array([0, 1, 2, 3, 4, 5]))


def test_binary_cross_entropy_is_finite_for_extreme_logits():
    loss, grad = sigmoid_binary_cross_entropy(np.array([800.0, -800.0]), np.array([0.0, 1.0]))
    assert loss == pytest.approx(800.0) and np.allclose(grad, [0.5, -0.5])


@settings(max_examples=60, deadline=None)
@given(N=st.integers(1, 8), V=st.integers(1, 12), seed=st.integers(0, 2**16),
       scale=st.sampled_from([1e-3, 1.0, 50.0]), dtype=st.sampled_from([np.float32, np.float64]))
def test_cross_entropy_is_nonnegative_and_gradient_rows_sum_to_zero(N, V, seed, scale, dtype):
    rng = np.random.default_rng(seed)
    z = (scale * rng.standard_normal((N, V))).astype(dtype)
    t = rng.integers(0, V, N)
    loss, dz = softmax_cross_entropy(z, t)
    assert loss >= 0 and np.isfinite(loss)
    assert dz.shape == (N, V) and dz.dtype == dtype
    np.testing.assert_allclose(dz.sum(axis=1), 0, atol=1e-6 if dtype == np.float32 else 1e-12)
