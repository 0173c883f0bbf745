"""Two LSTM variants torch.nn lacks: the peephole LSTM and the tutorial's minimal LSTM.

Same contract as the cells in cells.py (one direction of one layer, arrays in processing
order, `xp = W_ih x + b_ih + b_hh` precomputed for all steps). Each also has `step`, the
equations of one step written with operators and the two functions handed in, so the
torch backend runs the same arithmetic on tensors (backends/loop.py) without a second copy.
"""

from __future__ import annotations

import numpy as np

from .cells import _sigmoid_, transposed


class PeepholeLSTMCell:
    """The peephole LSTM (Gers & Schmidhuber 2000): i and f see c_{t-1}, o sees c_t.

        i = s(xp_i + W_hi h_{t-1} + w_ci * c_{t-1})     f = s(xp_f + W_hf h_{t-1} + w_cf * c_{t-1})
        g = tanh(xp_g + W_hg h_{t-1})                    c_t = f * c_{t-1} + i * g
        o = s(xp_o + W_ho h_{t-1} + w_co * c_t)          h_t = o * tanh(c_t)

    Gate order i, f, g, o (PyTorch's LSTM); the diagonal peephole weights are the extra
    parameters `weight_ci_l{k}`, `weight_cf_l{k}`, `weight_co_l{k}`, each (H,).
    """

    def forward(self, xp, h0, c0, w_hh, b_hh, h_out, buffer, extras=None):
        """xp (T,B,4H) becomes the activated gates; h_out (T,B,H). Returns (h_T, c_T, cache)."""
        steps, batch, four_h = xp.shape
        hidden = four_h // 4
        w_ci, w_cf, w_co = extras["weight_ci"], extras["weight_cf"], extras["weight_co"]
        c = buffer("c", (steps, batch, hidden))
        tanh_c = buffer("tanh_c", (steps, batch, hidden))
        recurrent = buffer("recurrent", (batch, four_h))
        peep = buffer("peep", (batch, hidden))
        w_hh_t = transposed(w_hh)  # NN layout for the per-step product (see cells.LSTMCell)
        h_prev, c_prev = h0, c0
        for t in range(steps):
            gates = xp[t]
            np.matmul(h_prev, w_hh_t, out=recurrent)
            np.add(gates, recurrent, out=gates)
            i, f = gates[:, :hidden], gates[:, hidden : 2 * hidden]
            g, o = gates[:, 2 * hidden : 3 * hidden], gates[:, 3 * hidden :]
            np.multiply(c_prev, w_ci, out=peep)
            np.add(i, peep, out=i)
            np.multiply(c_prev, w_cf, out=peep)
            np.add(f, peep, out=f)
            _sigmoid_(gates[:, : 2 * hidden])
            np.tanh(g, out=g)
            np.multiply(f, c_prev, out=c[t])
            np.multiply(i, g, out=tanh_c[t])  # scratch: i*g
            np.add(c[t], tanh_c[t], out=c[t])
            np.multiply(c[t], w_co, out=peep)
            np.add(o, peep, out=o)
            _sigmoid_(o)
            np.tanh(c[t], out=tanh_c[t])
            np.multiply(o, tanh_c[t], out=h_out[t])
            h_prev, c_prev = h_out[t], c[t]
        cache = {
            "gates": xp,
            "c": c,
            "tanh_c": tanh_c,
            "c0": c0,
            "extras": extras,
            "scratch": buffer("scratch", (batch, hidden)),
            "derivative": buffer("derivative", (batch, four_h)),
        }
        return h_prev, c_prev, cache

    def backward_step(self, cache, t, dh, dc, dgx, dgh):
        """do = dh tanh(c_t) o(1-o);  dc_t += dh o (1 - tanh(c_t)^2) + do w_co;
        [di, df, dg] = [dc g, dc c_{t-1}, dc i] * [i(1-i), f(1-f), 1-g^2];
        dc_{t-1} = dc f + di w_ci + df w_cf   (dc updated in place and returned)."""
        gates = cache["gates"][t]
        hidden = dh.shape[1]
        i, f = gates[:, :hidden], gates[:, hidden : 2 * hidden]
        g, o = gates[:, 2 * hidden : 3 * hidden], gates[:, 3 * hidden :]
        extras = cache["extras"]
        tanh_c = cache["tanh_c"][t]
        c_prev = cache["c"][t - 1] if t > 0 else cache["c0"]
        tmp, derivative = cache["scratch"], cache["derivative"]
        d_i, d_f, d_g, d_o = (dgx[:, k * hidden : (k + 1) * hidden] for k in range(4))
        # do (pre-activation)
        np.subtract(1, o, out=d_o)
        np.multiply(d_o, o, out=d_o)
        np.multiply(d_o, tanh_c, out=d_o)
        np.multiply(d_o, dh, out=d_o)
        # dc_t += dh o (1 - tanh_c^2) + do w_co
        np.multiply(tanh_c, tanh_c, out=tmp)
        np.subtract(1, tmp, out=tmp)
        np.multiply(tmp, o, out=tmp)
        np.multiply(tmp, dh, out=tmp)
        np.add(dc, tmp, out=dc)
        np.multiply(d_o, extras["weight_co"], out=tmp)
        np.add(dc, tmp, out=dc)
        # di, df, dg
        np.multiply(dc, g, out=d_i)
        np.multiply(dc, c_prev, out=d_f)
        np.multiply(dc, i, out=d_g)
        np.subtract(1, gates[:, : 3 * hidden], out=derivative[:, : 3 * hidden])
        np.multiply(derivative[:, : 3 * hidden], gates[:, : 3 * hidden], out=derivative[:, : 3 * hidden])
        d_tanh = derivative[:, 2 * hidden : 3 * hidden]
        np.multiply(g, g, out=d_tanh)
        np.subtract(1, d_tanh, out=d_tanh)
        np.multiply(dgx[:, : 3 * hidden], derivative[:, : 3 * hidden], out=dgx[:, : 3 * hidden])
        # dc_{t-1}
        np.multiply(dc, f, out=dc)
        np.multiply(d_i, extras["weight_ci"], out=tmp)
        np.add(dc, tmp, out=dc)
        np.multiply(d_f, extras["weight_cf"], out=tmp)
        np.add(dc, tmp, out=dc)
        return dc

    @staticmethod
    def extra_grads(cache, dgx, grads) -> None:
        """Adds dL/dw_ci = sum di c_{t-1}, dL/dw_cf = sum df c_{t-1}, dL/dw_co = sum do c_t
        (over steps and batch) into grads[kind]; dgx (T,B,4H) in processing order."""
        hidden = cache["c"].shape[2]
        c, c0 = cache["c"], cache["c0"]
        for kind, gate in (("weight_ci", 0), ("weight_cf", 1)):
            d_gate = dgx[:, :, gate * hidden : (gate + 1) * hidden]
            grads[kind] += np.einsum("tbh,tbh->h", d_gate[1:], c[:-1]) + np.einsum("bh,bh->h", d_gate[0], c0)
        grads["weight_co"] += np.einsum("tbh,tbh->h", dgx[:, :, 3 * hidden :], c)

    @staticmethod
    def activations(cache):
        return cache["gates"], cache["c"]

    @staticmethod
    def step(projected, h, c, w_hh, extras, sigmoid, tanh):
        """One step on any array type: projected = W_ih x_t + b (B,4H) -> (h_t, c_t)."""
        hidden = h.shape[-1]
        pre = projected + h @ w_hh.T
        i = sigmoid(pre[:, :hidden] + extras["weight_ci"] * c)
        f = sigmoid(pre[:, hidden : 2 * hidden] + extras["weight_cf"] * c)
        g = tanh(pre[:, 2 * hidden : 3 * hidden])
        c_new = f * c + i * g
        o = sigmoid(pre[:, 3 * hidden :] + extras["weight_co"] * c_new)
        return o * tanh(c_new), c_new


class MinimalLSTMCell:
    """The minimal LSTM of the nicodjimenez/lstm tutorial: no tanh on the cell state.

        [g, i, f, o] = [tanh, s, s, s](xp_t + W_hh h_{t-1})
        s_t = g * i + s_{t-1} * f
        h_t = s_t * o

    Gate order g, i, f, o: the tutorial's weights act on the concatenation [x_t, h_{t-1}],
    so its wg, wi, wf, wo (each (H, I+H), e.g. 100 x 150) load as
        weight_ih_l0 = vstack([wg, wi, wf, wo])[:, :I]     weight_hh_l0 = vstack([wg, wi, wf, wo])[:, I:]
        bias_ih_l0   = concatenate([bg, bi, bf, bo])       bias_hh_l0   = 0
    (the two biases are summed, as in PyTorch's cells: one bias per gate in effect).
    """

    def forward(self, xp, h0, c0, w_hh, b_hh, h_out, buffer, extras=None):
        """xp (T,B,4H) becomes the activated gates [g, i, f, o]; h_out (T,B,H). Returns (h_T, s_T, cache)."""
        steps, batch, four_h = xp.shape
        hidden = four_h // 4
        c = buffer("c", (steps, batch, hidden))
        recurrent = buffer("recurrent", (batch, four_h))
        scratch = buffer("scratch", (batch, hidden))
        w_hh_t = transposed(w_hh)  # NN layout for the per-step product (see cells.LSTMCell)
        h_prev, c_prev = h0, c0
        for t in range(steps):
            gates = xp[t]
            np.matmul(h_prev, w_hh_t, out=recurrent)
            np.add(gates, recurrent, out=gates)
            np.tanh(gates[:, :hidden], out=gates[:, :hidden])  # g
            _sigmoid_(gates[:, hidden:])  # i, f, o
            g, i = gates[:, :hidden], gates[:, hidden : 2 * hidden]
            f, o = gates[:, 2 * hidden : 3 * hidden], gates[:, 3 * hidden :]
            np.multiply(g, i, out=c[t])
            np.multiply(c_prev, f, out=scratch)
            np.add(c[t], scratch, out=c[t])
            np.multiply(c[t], o, out=h_out[t])
            h_prev, c_prev = h_out[t], c[t]
        cache = {"gates": xp, "c": c, "c0": c0, "derivative": buffer("derivative", (batch, four_h))}
        return h_prev, c_prev, cache

    def backward_step(self, cache, t, dh, dc, dgx, dgh):
        """dc_t += dh o;  [dg, di, df, do] = [dc i, dc g, dc s_{t-1}, dh s_t] * [1-g^2, i(1-i), f(1-f), o(1-o)];
        dc_{t-1} = dc f."""
        gates = cache["gates"][t]
        hidden = dh.shape[1]
        g, i = gates[:, :hidden], gates[:, hidden : 2 * hidden]
        f, o = gates[:, 2 * hidden : 3 * hidden], gates[:, 3 * hidden :]
        c, c_prev = cache["c"][t], (cache["c"][t - 1] if t > 0 else cache["c0"])
        derivative = cache["derivative"]
        d_o = dgx[:, 3 * hidden :]
        np.multiply(dh, o, out=d_o)  # scratch
        np.add(dc, d_o, out=dc)
        np.multiply(dc, i, out=dgx[:, :hidden])
        np.multiply(dc, g, out=dgx[:, hidden : 2 * hidden])
        np.multiply(dc, c_prev, out=dgx[:, 2 * hidden : 3 * hidden])
        np.multiply(dh, c, out=d_o)
        np.subtract(1, gates, out=derivative)
        np.multiply(derivative, gates, out=derivative)
        d_tanh = derivative[:, :hidden]
        np.multiply(g, g, out=d_tanh)
        np.subtract(1, d_tanh, out=d_tanh)
        np.multiply(dgx, derivative, out=dgx)
        np.multiply(dc, f, out=dc)
        return dc

    @staticmethod
    def activations(cache):
        return cache["gates"], cache["c"]

    @staticmethod
    def step(projected, h, c, w_hh, extras, sigmoid, tanh):
        """One step on any array type: projected = W_ih x_t + b (B,4H) -> (h_t, s_t)."""
        hidden = h.shape[-1]
        pre = projected + h @ w_hh.T
        g, i = tanh(pre[:, :hidden]), sigmoid(pre[:, hidden : 2 * hidden])
        f, o = sigmoid(pre[:, 2 * hidden : 3 * hidden]), sigmoid(pre[:, 3 * hidden :])
        c_new = g * i + c * f
        return c_new * o, c_new
