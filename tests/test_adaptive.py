"""The adaptive softmax: exact gradients, the same function as torch's, a proper distribution."""

import numpy as np
import pytest

from rnnlab.engine.adaptive import AdaptiveSoftmax
from rnnlab.engine.gradcheck import assert_gradients
from rnnlab.engine.losses import softmax_cross_entropy

ROWS, FEATURES, CLASSES, CUTOFFS = 23, 6, 17, (5, 11)


def _layer_and_data(seed=0, bias=True, targets_in=None):
    rng = np.random.default_rng(seed)
    layer = AdaptiveSoftmax(FEATURES, CLASSES, CUTOFFS, bias=bias, dtype=np.float64, seed=seed)
    x = rng.normal(size=(ROWS, FEATURES))
    low, high = targets_in or (0, CLASSES)
    targets = rng.integers(low, high, ROWS)
    targets[:3] = (0, 5, 16)  # the shortlist and both clusters, whatever the draw
    return layer, x, targets


@pytest.mark.parametrize("bias", [True, False])
def test_gradients_agree_with_central_differences_for_every_parameter_and_the_input(bias):
    layer, x, targets = _layer_and_data(bias=bias)
    layer.zero_grad()
    layer.loss(x, targets)
    dx = layer.backward()
    params = {**layer.params, "x": x}
    grads = {**layer.grads, "x": dx}
    errors = assert_gradients(params, grads, lambda: layer.loss(params["x"], targets, need_grad=False), eps=1e-5)
    assert set(errors) == set(params)


def test_a_cluster_that_no_target_falls_in_gets_no_gradient_and_costs_nothing():
    layer, x, targets = _layer_and_data(targets_in=(0, 11))
    targets[:3] = (0, 5, 10)  # no word of the last cluster [11, 17)
    layer.zero_grad()
    layer.loss(x, targets)
    layer.backward()
    assert not layer.grads["weight"][11:].any() and not layer.grads["bias"][11:].any()
    assert layer.grads["weight"][5:11].any() and layer.grads["cluster_weight"].all()


def test_log_probs_are_a_distribution_and_score_the_targets_as_the_loss_does():
    layer, x, targets = _layer_and_data()
    log_p = layer.log_probs(x)
    assert log_p.shape == (ROWS, CLASSES)
    np.testing.assert_allclose(np.exp(log_p).sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(-log_p[np.arange(ROWS), targets].mean(), layer.loss(x, targets, need_grad=False),
                               rtol=1e-12)
    # a full softmax over them gives the same loss: log-probabilities are valid logits
    np.testing.assert_allclose(softmax_cross_entropy(log_p, targets, need_grad=False)[0],
                               layer.loss(x, targets, need_grad=False), rtol=1e-12)


def test_a_second_backward_without_zero_grad_adds_and_the_first_after_zero_grad_writes():
    layer, x, targets = _layer_and_data()
    layer.zero_grad()
    layer.loss(x, targets)
    layer.backward()
    once = {name: grad.copy() for name, grad in layer.grads.items()}
    layer.loss(x, targets)
    layer.backward()
    for name, grad in layer.grads.items():
        np.testing.assert_allclose(grad, 2 * once[name], rtol=1e-12, err_msg=name)
    layer.grads["weight"][...] = 7.0  # stale values the next zero_grad clears (a tied embedding shares them)
    layer.zero_grad()
    layer.loss(x, targets)
    layer.backward()
    np.testing.assert_allclose(layer.grads["weight"], once["weight"], rtol=1e-12)


def test_bad_cutoffs_and_targets_are_value_errors():
    for cutoffs in ([], [0], [5, 5], [7, 3], [17]):
        with pytest.raises(ValueError, match="cutoffs"):
            AdaptiveSoftmax(FEATURES, CLASSES, cutoffs)
    layer, x, _ = _layer_and_data()
    with pytest.raises(ValueError, match="out of range"):
        layer.loss(x, np.full(ROWS, CLASSES))
    with pytest.raises(RuntimeError, match="loss"):
        AdaptiveSoftmax(FEATURES, CLASSES, CUTOFFS).backward()


def test_the_same_function_and_gradients_as_torch_adaptive_log_softmax():
    torch = pytest.importorskip("torch")
    layer, x, targets = _layer_and_data()
    for low, high in zip(CUTOFFS, (*CUTOFFS[1:], CLASSES)):
        layer.params["bias"][low:high] = 0.0  # torch's tails have no bias
    shortlist = CUTOFFS[0]
    reference = torch.nn.AdaptiveLogSoftmaxWithLoss(FEATURES, CLASSES, list(CUTOFFS), div_value=1.0,
                                                    head_bias=True).double()
    weight = layer.params["weight"]
    with torch.no_grad():
        reference.head.weight.copy_(torch.from_numpy(np.concatenate([weight[:shortlist],
                                                                     layer.params["cluster_weight"]])))
        reference.head.bias.copy_(torch.from_numpy(np.concatenate([layer.params["bias"][:shortlist],
                                                                   layer.params["cluster_bias"]])))
        for k, (low, high) in enumerate(zip(CUTOFFS, (*CUTOFFS[1:], CLASSES))):
            reference.tail[k][0].weight.copy_(torch.eye(FEATURES, dtype=torch.float64))
            reference.tail[k][1].weight.copy_(torch.from_numpy(weight[low:high]))
    x_t = torch.from_numpy(x.copy()).requires_grad_(True)
    result = reference(x_t, torch.from_numpy(targets))
    result.loss.backward()
    layer.zero_grad()
    loss = layer.loss(x, targets)
    dx = layer.backward()
    assert abs(loss - result.loss.item()) < 1e-12
    np.testing.assert_allclose(layer.log_probs(x), reference.log_prob(x_t).detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(dx, x_t.grad.numpy(), rtol=1e-9, atol=1e-15)
    head_grad = reference.head.weight.grad.numpy()
    np.testing.assert_allclose(layer.grads["weight"][:shortlist], head_grad[:shortlist], rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(layer.grads["cluster_weight"], head_grad[shortlist:], rtol=1e-9, atol=1e-15)
    for k, (low, high) in enumerate(zip(CUTOFFS, (*CUTOFFS[1:], CLASSES))):
        np.testing.assert_allclose(layer.grads["weight"][low:high], reference.tail[k][1].weight.grad.numpy(),
                                   rtol=1e-9, atol=1e-15)
