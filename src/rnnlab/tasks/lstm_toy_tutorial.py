"""The nicodjimenez/lstm program's arithmetic, on rnnlab's parameters of the minimal-lstm cell.

`lstm-toy --arithmetic tutorial` trains with this step instead of the engine's forward and
backward, so that every number the tutorial prints comes out digit for digit. The engine
computes the same function and gradient (tests/test_faithful_presets.py), but in another
order of floating-point operations: it projects the inputs of all steps at once and the
hidden state separately (x W_ih^T + b + h W_hh^T), and forms each weight gradient with one
product over the sequence. Rounding differences of 1e-16 grow over the 100 iterations until
the 12-digit losses the tutorial prints differ from iteration 37 on. Here every product is
the tutorial's own call on arrays of the tutorial's shapes and layouts:

    xc = [x_t, h_{t-1}]                         (I+H,)     the concatenation, input first
    g = tanh(wg xc + bg)   i = s(wi xc + bi)   f = s(wf xc + bf)   o = s(wo xc + bo)
    s_t = g i + s_{t-1} f                        h_t = s_t o
    loss = sum_t (h_t[0] - y_t)^2, summed from the last step back

    backward, last step first (dh_t = 2 (h_t[0] - y_t) e_0 + dh from step t+1, ds from step t+1):
    ds = o dh + ds_next      do = s dh      di = g ds      dg = i ds      df = s_{t-1} ds
    d*_input = *'(.) d*;     w*_diff += outer(d*_input, xc);     b*_diff += d*_input
    dxc = wi^T di_input + wf^T df_input + wo^T do_input + wg^T dg_input
    ds_{t-1} = ds f;          dh_{t-1} = dxc[I:]

wg, wi, wf, wo (H, I+H) are the rows of gates g, i, f, o of [weight_ih | weight_hh] (the
cell's gate order, engine/lstm_variants.py); bg.. are the same rows of bias_ih (one bias per
gate: the cell runs with hidden_bias=False). The diffs are written into the model's gradients
in the same layout; the training loop's SGD step `w -= lr * grad` is the tutorial's apply_diff.
"""

from __future__ import annotations

import numpy as np

GATES = ("g", "i", "f", "o")  # the tutorial's names, in the minimal-lstm cell's row order


def _sigmoid(x):
    return 1.0 / (1 + np.exp(-x))


def tutorial_weights(params: dict[str, np.ndarray], hidden: int) -> dict[str, np.ndarray]:
    """{'wg': (H, I+H), ..., 'bg': (H,), ...}: C-ordered copies, the arrays the tutorial's products read."""
    w_ih, w_hh, b_ih = params["rnn.weight_ih_l0"], params["rnn.weight_hh_l0"], params["rnn.bias_ih_l0"]
    out = {}
    for k, gate in enumerate(GATES):
        rows = slice(k * hidden, (k + 1) * hidden)
        out["w" + gate] = np.hstack((w_ih[rows], w_hh[rows]))  # (H, I+H)
        out["b" + gate] = b_ih[rows].copy()  # (H,)
    return out


def tutorial_step(
    params: dict[str, np.ndarray], grads: dict[str, np.ndarray], inputs: np.ndarray, targets: np.ndarray
) -> tuple[float, np.ndarray]:
    """Forward and backward of the tutorial's LstmNetwork on inputs (T, I), targets (T,).

    Adds the gradient of loss = sum_t (h_t[0] - y_t)^2 into `grads` (the model's names) and
    returns (loss, h_t[0] for each t).
    """
    hidden = params["rnn.weight_hh_l0"].shape[1]
    x_dim = inputs.shape[1]
    w = tutorial_weights(params, hidden)
    # forward, node by node (LstmNode.bottom_data_is)
    nodes = []
    s_prev, h_prev = np.zeros(hidden), np.zeros(hidden)
    for x in inputs:
        xc = np.hstack((x, h_prev))  # (I+H,)
        g = np.tanh(np.dot(w["wg"], xc) + w["bg"])
        i = _sigmoid(np.dot(w["wi"], xc) + w["bi"])
        f = _sigmoid(np.dot(w["wf"], xc) + w["bf"])
        o = _sigmoid(np.dot(w["wo"], xc) + w["bo"])
        s = g * i + s_prev * f
        h = s * o
        nodes.append({"xc": xc, "g": g, "i": i, "f": f, "o": o, "s": s, "h": h, "s_prev": s_prev})
        s_prev, h_prev = s, h
    # loss and backward, last node first (LstmNetwork.y_list_is, LstmNode.top_diff_is)
    diffs = {name: np.zeros_like(value) for name, value in w.items()}
    loss = 0.0
    diff_h_next = diff_s = None
    for node, y in zip(reversed(nodes), reversed(targets)):
        loss += (node["h"][0] - y) ** 2
        diff_h = np.zeros_like(node["h"])
        diff_h[0] = 2 * (node["h"][0] - y)
        if diff_h_next is None:
            diff_s = np.zeros(hidden)
        else:
            diff_h += diff_h_next
        g, i, f, o, s, xc = node["g"], node["i"], node["f"], node["o"], node["s"], node["xc"]
        ds = o * diff_h + diff_s
        do = s * diff_h
        di = g * ds
        dg = i * ds
        df = node["s_prev"] * ds
        d_input = {"i": (i * (1 - i)) * di, "f": (f * (1 - f)) * df, "o": (o * (1 - o)) * do, "g": (1.0 - g**2) * dg}
        for gate in ("i", "f", "o", "g"):  # the tutorial's order of accumulation
            diffs["w" + gate] += np.outer(d_input[gate], xc)
        for gate in ("i", "f", "o", "g"):
            diffs["b" + gate] += d_input[gate]
        dxc = np.zeros_like(xc)
        for gate in ("i", "f", "o", "g"):
            dxc += np.dot(w["w" + gate].T, d_input[gate])
        diff_s = ds * f
        diff_h_next = dxc[x_dim:]
    # into the model's gradients, in its layout
    for k, gate in enumerate(GATES):
        rows = slice(k * hidden, (k + 1) * hidden)
        grads["rnn.weight_ih_l0"][rows] += diffs["w" + gate][:, :x_dim]
        grads["rnn.weight_hh_l0"][rows] += diffs["w" + gate][:, x_dim:]
        grads["rnn.bias_ih_l0"][rows] += diffs["b" + gate]
    return float(loss), np.array([node["h"][0] for node in nodes])
