"""One direction of one layer of each recurrent cell: forward through time, backward through time.

Each cell receives the input projection of *all* steps at once, `xp = x @ W_ih^T + b`
(computed by the caller in one matrix product, with every bias that can be folded in),
so the forward loop only adds `h_{t-1} @ W_hh^T` (all gates fused) and applies the
nonlinearities in place. Each cell's backward step sits right under its forward and
writes the gradient of the gate pre-activations; the caller turns those into
`dW_ih`, `dW_hh`, `dx` with one matrix product each over the whole sequence.

Arrays are indexed in *processing order*: for the reverse direction the caller passes
reversed views (`a[::-1]`), so the cells never know which way time runs. Shapes:
T steps, B batch, H hidden, G gates (RNN 1, GRU 3, LSTM 4). `extras` holds a cell's parameters
beyond W_ih, W_hh and the biases (the peephole weights), by kind; `activations(cache)` gives the
activated gates (T, B, G*H) and the cell state (or None) in processing order, for recording.
"""

from __future__ import annotations

import numpy as np


def _sigmoid_(x: np.ndarray) -> np.ndarray:
    """In place: sigmoid(x) = 1 / (1 + exp(-x)).

    Within 2 ulp of the exact value, and ~1.7x faster than 0.5 * tanh(0.5 x) + 0.5 (NumPy's
    exp is vectorised, its tanh is not). For x < -88 (float32) exp overflows to inf and the
    result is exactly 0: callers run inside `np.errstate(over="ignore")`.
    """
    np.negative(x, out=x)
    np.exp(x, out=x)
    np.add(x, 1, out=x)
    np.reciprocal(x, out=x)
    return x


def transposed(w: np.ndarray, rows: int = 64) -> np.ndarray:
    """A contiguous copy of w.T; for a large w, written `rows` rows of w at a time.

    The per-step product h_{t-1} @ W_hh^T runs faster on a contiguous W_hh^T (NN layout) than
    on the transposed view. NumPy's own strided copy (`np.ascontiguousarray(w.T)`) is fine
    while w fits in cache, but for a (2048, 512) float32 W_hh it takes ~5-8 ms, as long as
    seven of those products; copying blocks of 64 rows keeps both sides in cache and takes
    ~1.5 ms. The values are the same either way.
    """
    if w.nbytes <= 1 << 20:
        return np.ascontiguousarray(w.T)
    out = np.empty((w.shape[1], w.shape[0]), dtype=w.dtype)
    for start in range(0, w.shape[0], rows):
        out[:, start : start + rows] = w[start : start + rows].T
    return out


class RNNCell:
    """h_t = act(xp_t + W_hh h_{t-1})   with act = tanh | relu | sigmoid;  xp_t = W_ih x_t + b_ih + b_hh.

    (sigmoid is not in torch.nn.RNN; it is the hidden unit of the classic binary-addition net.)
    """

    def __init__(self, nonlinearity: str = "tanh") -> None:
        if nonlinearity not in ("tanh", "relu", "sigmoid"):
            raise ValueError(f"nonlinearity must be 'tanh', 'relu' or 'sigmoid', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity

    def forward(self, xp, h0, c0, w_hh, b_hh, h_out, buffer, extras=None):
        """xp (T,B,H) is overwritten; h_out (T,B,H) receives h_1..h_T. Returns (h_T, None, cache)."""
        w_hh_t = transposed(w_hh)  # (H, H): the per-step product in NN layout
        h_prev = h0
        for t in range(xp.shape[0]):
            np.matmul(h_prev, w_hh_t, out=h_out[t])  # (B, H)
            np.add(h_out[t], xp[t], out=h_out[t])
            if self.nonlinearity == "tanh":
                np.tanh(h_out[t], out=h_out[t])
            elif self.nonlinearity == "relu":
                np.maximum(h_out[t], 0, out=h_out[t])
            else:
                _sigmoid_(h_out[t])
            h_prev = h_out[t]
        return h_prev, None, {"h": h_out}

    def backward_step(self, cache, t, dh, dc, dgx, dgh):
        """d(pre-activation) = dh * act'(.)  into dgx (== dgh: one projection feeds both)."""
        h = cache["h"][t]
        if self.nonlinearity == "tanh":
            np.multiply(h, h, out=dgx)
            np.subtract(1, dgx, out=dgx)  # 1 - h^2
            np.multiply(dgx, dh, out=dgx)
        elif self.nonlinearity == "sigmoid":
            np.subtract(1, h, out=dgx)  # h (1 - h)
            np.multiply(dgx, h, out=dgx)
            np.multiply(dgx, dh, out=dgx)
        else:
            np.multiply(dh, h > 0, out=dgx)
        return None

    @staticmethod
    def activations(cache):
        return cache["h"], None


class LSTMCell:
    """PyTorch's LSTM, gate order i, f, g, o; xp_t = W_ih x_t + b_ih + b_hh.

    [i, f, g, o] = [s, s, tanh, s](xp_t + W_hh h_{t-1})
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)
    """

    def forward(self, xp, h0, c0, w_hh, b_hh, h_out, buffer, extras=None):
        """xp (T,B,4H) becomes the activated gates; h_out (T,B,H). Returns (h_T, c_T, cache).

        `buffer(role, shape)` hands out reusable work arrays (no allocation per call).
        """
        steps, batch, four_h = xp.shape
        hidden = four_h // 4
        c = buffer("c", (steps, batch, hidden))  # c_t
        tanh_c = buffer("tanh_c", (steps, batch, hidden))  # tanh(c_t), kept for backward
        recurrent = buffer("recurrent", (batch, four_h))  # h_{t-1} @ W_hh^T
        g_pre = buffer("g_pre", (batch, hidden))  # g's pre-activation, while sigmoid runs over the whole row
        w_hh_t = transposed(w_hh)  # (H, 4H): the per-step product in NN layout is ~5-15% faster
        h_prev, c_prev = h0, c0
        for t in range(steps):
            gates = xp[t]  # (B, 4H), pre-activation in, activation out
            i, f = gates[:, :hidden], gates[:, hidden : 2 * hidden]
            g, o = gates[:, 2 * hidden : 3 * hidden], gates[:, 3 * hidden :]
            np.matmul(h_prev, w_hh_t, out=recurrent)
            np.add(gates, recurrent, out=gates)
            np.copyto(g_pre, g)  # sigmoid over all of the contiguous (B, 4H) block: fewer, contiguous passes
            _sigmoid_(gates)  # i, f, (g overwritten), o
            np.tanh(g_pre, out=g)  # g
            np.multiply(f, c_prev, out=c[t])
            np.multiply(i, g, out=tanh_c[t])  # tanh_c[t] as scratch for i*g
            np.add(c[t], tanh_c[t], out=c[t])
            np.tanh(c[t], out=tanh_c[t])
            np.multiply(o, tanh_c[t], out=h_out[t])
            h_prev, c_prev = h_out[t], c[t]
        cache = {
            "gates": xp,
            "c": c,
            "tanh_c": tanh_c,
            "c0": c0,
            "scratch": buffer("scratch", (batch, hidden)),
            "derivative": buffer("derivative", (batch, four_h)),
        }
        return h_prev, c_prev, cache

    def backward_step(self, cache, t, dh, dc, dgx, dgh):
        """Given dL/dh_t (dh) and dL/dc_t from later steps (dc, updated in place to dL/dc_{t-1}):

            dc_t += dh * o * (1 - tanh(c_t)^2)
            do = dh * tanh(c_t) * o(1-o);   di = dc_t * g * i(1-i)
            df = dc_t * c_{t-1} * f(1-f);   dg = dc_t * i * (1-g^2);   dc_{t-1} = dc_t * f

        Written as [di, df, dg, do] = [dc g, dc c_{t-1}, dc i, dh tanh(c)] * [i(1-i), f(1-f), 1-g^2, o(1-o)]
        so that most passes run over the whole contiguous (B, 4H) row block: a pass over one
        gate's (B, H) slice of it is strided, and costs ~2.7x a contiguous pass of that size.
        """
        gates = cache["gates"][t]  # (B, 4H): i, f, g, o
        hidden = dh.shape[1]
        i, f = gates[:, :hidden], gates[:, hidden : 2 * hidden]
        g, o = gates[:, 2 * hidden : 3 * hidden], gates[:, 3 * hidden :]
        tanh_c = cache["tanh_c"][t]
        c_prev = cache["c"][t - 1] if t > 0 else cache["c0"]
        tmp, derivative = cache["scratch"], cache["derivative"]  # (B, H), (B, 4H)
        # dc_t += dh * o * (1 - tanh_c^2)
        np.multiply(tanh_c, tanh_c, out=tmp)
        np.subtract(1, tmp, out=tmp)
        np.multiply(tmp, o, out=tmp)
        np.multiply(tmp, dh, out=tmp)
        np.add(dc, tmp, out=dc)
        # what multiplies each gate's derivative
        np.multiply(dc, g, out=dgx[:, :hidden])
        np.multiply(dc, c_prev, out=dgx[:, hidden : 2 * hidden])
        np.multiply(dc, i, out=dgx[:, 2 * hidden : 3 * hidden])
        np.multiply(dh, tanh_c, out=dgx[:, 3 * hidden :])
        # each gate's derivative: a(1-a) for all four at once, then 1 - g^2 over g's slice
        np.subtract(1, gates, out=derivative)
        np.multiply(derivative, gates, out=derivative)
        d_tanh = derivative[:, 2 * hidden : 3 * hidden]
        np.multiply(g, g, out=d_tanh)
        np.subtract(1, d_tanh, out=d_tanh)
        np.multiply(dgx, derivative, out=dgx)
        # dc_{t-1} = dc * f
        np.multiply(dc, f, out=dc)
        return dc

    @staticmethod
    def activations(cache):
        return cache["gates"], cache["c"]


class GRUCell:
    """PyTorch's GRU, gate order r, z, n; xp_t = W_ih x_t + b_ih + [b_hr, b_hz, 0].

    [r, z] = s(xp_t[r,z] + W_h[r,z] h_{t-1})
    n      = tanh(xp_t[n] + r * (W_hn h_{t-1} + b_hn))
    h_t    = (1 - z) * n + z * h_{t-1}
    """

    def forward(self, xp, h0, c0, w_hh, b_hh, h_out, buffer, extras=None):
        """xp (T,B,3H) becomes [r, z, n]; h_out (T,B,H). Returns (h_T, None, cache)."""
        steps, batch, three_h = xp.shape
        hidden = three_h // 3
        hn = buffer("hn", (steps, batch, hidden))  # W_hn h_{t-1} + b_hn
        recurrent = buffer("recurrent", (batch, three_h))
        w_hh_t = transposed(w_hh)  # (H, 3H): NN layout for the per-step product (see LSTMCell)
        h_prev = h0
        for t in range(steps):
            gates = xp[t]
            np.matmul(h_prev, w_hh_t, out=recurrent)
            rz = gates[:, : 2 * hidden]
            np.add(rz, recurrent[:, : 2 * hidden], out=rz)
            _sigmoid_(rz)
            if b_hh is not None:
                np.add(recurrent[:, 2 * hidden :], b_hh[2 * hidden :], out=hn[t])
            else:
                hn[t] = recurrent[:, 2 * hidden :]
            n = gates[:, 2 * hidden :]
            np.multiply(gates[:, :hidden], hn[t], out=h_out[t])  # h_out[t] as scratch: r * hn
            np.add(n, h_out[t], out=n)
            np.tanh(n, out=n)
            # h_t = n + z * (h_{t-1} - n)
            np.subtract(h_prev, n, out=h_out[t])
            np.multiply(h_out[t], gates[:, hidden : 2 * hidden], out=h_out[t])
            np.add(h_out[t], n, out=h_out[t])
            h_prev = h_out[t]
        cache = {"gates": xp, "hn": hn, "h": h_out, "h0": h0, "scratch": buffer("scratch", (batch, hidden))}
        return h_prev, None, cache

    def backward_step(self, cache, t, dh, dc, dgx, dgh):
        """Given dL/dh_t (dh), write the pre-activation gradients for both projections:

            dz = dh * (h_{t-1} - n) * z(1-z);    dn = dh * (1 - z) * (1 - n^2)
            dr = dn * hn * r(1-r)                 dgx = [dr, dz, dn],  dgh = [dr, dz, dn * r]
        (the direct path dh * z to h_{t-1} is added by the caller via `direct_hidden_grad`).
        """
        gates = cache["gates"][t]
        hidden = dh.shape[1]
        r, z, n = gates[:, :hidden], gates[:, hidden : 2 * hidden], gates[:, 2 * hidden :]
        h_prev = cache["h"][t - 1] if t > 0 else cache["h0"]
        d_r, d_z, d_n = dgx[:, :hidden], dgx[:, hidden : 2 * hidden], dgx[:, 2 * hidden :]
        # dz
        np.subtract(h_prev, n, out=d_z)
        np.multiply(d_z, dh, out=d_z)
        tmp = cache["scratch"]
        np.subtract(1, z, out=tmp)
        np.multiply(tmp, z, out=tmp)
        np.multiply(d_z, tmp, out=d_z)
        # dn (pre-activation)
        np.multiply(n, n, out=d_n)
        np.subtract(1, d_n, out=d_n)
        np.subtract(1, z, out=tmp)
        np.multiply(d_n, tmp, out=d_n)
        np.multiply(d_n, dh, out=d_n)
        # dr (pre-activation)
        np.subtract(1, r, out=d_r)
        np.multiply(d_r, r, out=d_r)
        np.multiply(d_r, cache["hn"][t], out=d_r)
        np.multiply(d_r, d_n, out=d_r)
        # the hidden projection sees r * dn for its n part
        dgh[:, : 2 * hidden] = dgx[:, : 2 * hidden]
        np.multiply(d_n, r, out=dgh[:, 2 * hidden :])
        return None

    @staticmethod
    def direct_hidden_grad(cache, t, dh):
        """The part of dL/dh_{t-1} that skips the weights: dh * z."""
        hidden = dh.shape[1]
        return dh * cache["gates"][t][:, hidden : 2 * hidden]

    @staticmethod
    def activations(cache):
        return cache["gates"], None
