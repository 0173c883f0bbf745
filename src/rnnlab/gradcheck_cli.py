"""`rnnlab gradcheck`: backprop through time against central finite differences, in float64.

Builds a small layer (T=4, B=2, input 3, hidden 5) of the chosen cell, a scalar loss
L = sum(y * R) + sum(h_n * S) with random R, S, and prints the maximum relative error
per parameter (and for the input and initial state). Exit code 1 above the threshold.
With --bptt-truncate K it checks the truncated gradient against its definition: the sum
over outputs t of the full gradient of loss_t with the state before step t-K held fixed.
"""

from __future__ import annotations

import numpy as np

from rnnlab.engine import make_recurrent
from rnnlab.engine.gradcheck import check_gradients, format_report


def _loss_fn(layer, x, h0, weights_y, weights_h):
    def loss() -> float:
        y, h_n = layer.forward(x, h0)
        h_last = h_n[0] if isinstance(h_n, tuple) else h_n
        return float(np.sum(y * weights_y) + np.sum(h_last * weights_h))

    return loss


def run_gradcheck(args) -> int:
    rng = np.random.default_rng(args.seed)
    steps, batch, inputs, hidden = 4, 2, 3, 5
    layer = make_recurrent(
        args.cell,
        inputs,
        hidden,
        num_layers=args.layers,
        bidirectional=args.bidirectional,
        dtype=np.float64,
        seed=args.seed,
        nonlinearity=args.nonlinearity,
    )
    directions = 2 if args.bidirectional else 1
    x = rng.normal(size=(steps, batch, inputs))
    state = layer.init_state(batch)
    h0 = tuple(rng.normal(size=s.shape) for s in state) if isinstance(state, tuple) else rng.normal(size=state.shape)
    weights_y = rng.normal(size=(steps, batch, directions * hidden))
    weights_h = rng.normal(size=(args.layers * directions, batch, hidden))
    if args.bptt_truncate is not None:
        return _check_truncated(layer, x, h0, weights_y, args)
    layer.zero_grad()
    layer.forward(x, h0)
    d_h_n = (weights_h, np.zeros_like(weights_h)) if isinstance(h0, tuple) else weights_h
    dx = layer.backward(weights_y, d_h_n)
    grad_state = layer.grad_h0  # dL/dh0, or (dL/dh0, dL/dc0) with a cell state
    assert grad_state is not None and dx is not None  # backward has just set both (dense inputs)
    grad_h0 = grad_state[0] if isinstance(grad_state, tuple) else grad_state
    h0_array = h0[0] if isinstance(h0, tuple) else h0
    params = {**layer.params, "input x": x, "initial h0": h0_array}
    analytic = {**layer.grads, "input x": dx, "initial h0": grad_h0}
    # eps 1e-5: truncation error ~eps^2 and rounding ~1e-16/eps both stay far below 1e-6
    errors = check_gradients(params, analytic, _loss_fn(layer, x, h0, weights_y, weights_h), eps=1e-5)
    title = (
        f"gradcheck: {args.cell} ({layer.nonlinearity if len(layer.spec.nonlinearities) > 1 else 'standard'}), "
        f"{args.layers} layer(s), {'bi' if args.bidirectional else 'uni'}directional, float64, "
        f"T={steps} B={batch} input={inputs} hidden={hidden}"
    )
    print(title)
    print(format_report(errors, args.threshold))
    worst = max(errors.values())
    print(
        f"max relative error {worst:.2e} ({'PASS' if worst <= args.threshold else 'FAIL'}, "
        f"threshold {args.threshold:.0e})"
    )
    return 0 if worst <= args.threshold else 1


def _check_truncated(layer, x, h0, weights_y, args) -> int:
    """Truncated BPTT against its definition, by summing full-BPTT gradients over short windows."""
    if args.layers != 1 or args.bidirectional:
        print("--bptt-truncate is checked for one unidirectional layer; use --layers 1 without --bidirectional")
        return 2
    k, steps = args.bptt_truncate, x.shape[0]
    layer.zero_grad()
    layer.forward(x, h0)
    layer.backward(weights_y, bptt_truncate=k)
    truncated = {name: grad.copy() for name, grad in layer.grads.items()}
    reference = {name: np.zeros_like(grad) for name, grad in layer.grads.items()}
    for t in range(steps):
        start = max(0, t - k)
        state = h0
        if start > 0:
            _, state = layer.forward(x[:start], h0)  # the state before the window: a constant
        layer.zero_grad()
        y, _ = layer.forward(x[start : t + 1], state)
        d_y = np.zeros_like(y)
        d_y[-1] = weights_y[t]
        layer.backward(d_y)
        for name in reference:
            reference[name] += layer.grads[name]
    errors = {
        name: float(np.max(np.abs(truncated[name] - reference[name])) / max(np.max(np.abs(reference[name])), 1e-300))
        for name in reference
    }
    print(f"truncated BPTT (k={k}) vs. the sum of per-output windowed gradients, {args.cell}, float64")
    print(format_report(errors, args.threshold))
    worst = max(errors.values())
    print(f"max relative error {worst:.2e} ({'PASS' if worst <= args.threshold else 'FAIL'})")
    return 0 if worst <= args.threshold else 1
