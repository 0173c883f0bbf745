"""Where one training step's time goes, per engine, in the same buckets for every engine.

    python benchmarks/engine.py --profile --configs a,b

Buckets (BUCKETS, in this order):
  recurrent products     per step: h_{t-1} @ W_hh^T (forward) and dg_t @ W_hh (backward)
  weight-grad products   dW_hh = dg^T h and dW_ih = dg^T x (one-hot: row sums), bias sums
  input projection       x @ W_ih^T (one-hot: a row lookup), dx = dg @ W_ih, the embedding
  head                   h @ W^T + b, and its backward dW = dz^T h, dh = dz W
  softmax/loss           softmax cross-entropy and its gradient
  gate arithmetic        the cells' elementwise work (activations, products, sums)
  fused recurrent layer  torch's oneDNN RNN kernel, forward + backward: everything of the
                         recurrent layer in one call (products, gates, weight gradients)
  optimiser + clipping   global-norm clip and the SGD update
  rest                   Python, copies, allocation: the step's time minus the buckets

How each engine is split:
- numpy: micro-benchmarks. Each bucket runs the engine's own operations (the same NumPy calls
  on the same shapes and dtypes; the cell's own forward and backward_step through the cell
  registry for the gate arithmetic, less the products measured alone) in isolation; the
  buckets and the whole step are timed in interleaved rounds and the medians reported;
  'rest' is the step minus the sum. A bucket run alone finds its data warmer in cache than
  inside a step, so the buckets lean low and 'rest' absorbs the difference.
- torch engines: torch.profiler over a few steps; every op's self CPU time goes to the bucket
  its name (and, for matrix products, its shapes) belongs to; 'rest' is the profiled step's
  wall time minus the sum (the profiler's own overhead lands there too).
"""
from __future__ import annotations

import statistics
import time
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from engines import CLIP, ENGINES, LR, _torch, make_data, make_weights
from rnnlab.engine.losses import softmax_cross_entropy
from rnnlab.engine.optim import SGD, clip_grad_norm
from rnnlab.engine.registry import get_cell
from rnnlab.models import ModelConfig, NumpyModel

BUCKETS = ("recurrent products", "weight-grad products", "input projection", "head", "softmax/loss",
           "gate arithmetic", "fused recurrent layer", "optimiser + clipping", "rest")

try:  # the engine's own scatter-add (sum of rows per id); np.add.at does the same, slower
    from rnnlab.engine.layers import add_rows_at
except ImportError:  # moved by a refactor: an equivalent, so the bucket still exists
    def add_rows_at(table, indices, rows):
        np.add.at(table, indices, rows)


# ------------------------------------------------------------------------------ numpy
def _numpy_parts(spec: dict) -> Dict[str, Callable[[], None]]:
    """Bucket -> a function running that bucket's operations of one step, as the engine calls them."""
    m = ModelConfig(**spec["model"])
    steps, batch = spec["T"], spec["B"]
    n, hid, vocab = steps * batch, m.hidden_size, m.output_size
    spec_cell = get_cell(m.cell)
    g = spec_cell.num_gates * hid
    folds_hidden_bias = getattr(spec_cell.make(m.nonlinearity), "folds_hidden_bias", True)
    rng = np.random.default_rng(0)
    f32 = np.float32

    def randn(*shape):
        return (0.1 * rng.standard_normal(shape)).astype(f32)

    ids = rng.integers(0, m.input_size, n)                            # (T*B,)
    targets = rng.integers(0, vocab, n)                               # (T*B,)
    one_hot = m.input == "onehot"
    widths = [m.recurrent_input_size] + [hid] * (m.num_layers - 1)    # each layer's input width
    layers = []
    for width in widths:
        layers.append(dict(
            w_ih=randn(g, width), w_hh=randn(g, hid), bias=randn(g), grad_w_ih=np.zeros((g, width), f32),
            grad_w_hh=np.zeros((g, hid), f32), x=randn(n, width), xp=np.empty((n, g), f32),
            dgx=randn(steps, batch, g), h=randn(steps, batch, hid), h0=randn(batch, hid),
            rec=np.empty((batch, g), f32), dh_next=np.empty((batch, hid), f32), width=width))
    emb = randn(m.input_size, m.embedding_size or 1) if m.input == "embedding" else None
    grad_emb = np.zeros_like(emb) if emb is not None else None
    head_w, head_b = randn(vocab, hid), randn(vocab)
    head_dw, head_db = np.zeros_like(head_w), np.zeros_like(head_b)
    y = randn(n, hid)                                                 # (T*B, H): the top layer's output
    logits = randn(n, vocab)                                          # (T*B, V)

    def recurrent_forward():
        for p in layers:
            w_hh_t = p["w_hh"].T
            for t in range(steps):
                np.matmul(p["h0"] if t == 0 else p["h"][t - 1], w_hh_t, out=p["rec"])  # (B, G)

    def recurrent_backward():
        for p in layers:
            for t in reversed(range(steps)):
                np.matmul(p["dgx"][t], p["w_hh"], out=p["dh_next"])  # (B, H)

    def weight_grads():
        for index, p in enumerate(layers):
            flat_dgx = p["dgx"].reshape(n, g)
            p["grad_w_hh"] += p["dgx"][1:].reshape(-1, g).T @ p["h"][:-1].reshape(-1, hid)
            p["grad_w_hh"] += p["dgx"][0].T @ p["h0"]
            if index == 0 and one_hot:
                add_rows_at(p["grad_w_ih"].T, ids, flat_dgx)
            else:
                p["grad_w_ih"] += flat_dgx.T @ p["x"]
            flat_dgx.sum(axis=0)
            if not folds_hidden_bias:  # a separate d(hidden projection) for b_hh's gradient
                flat_dgx.sum(axis=0)

    def input_projection():
        for index, p in enumerate(layers):
            if index == 0 and one_hot:
                table = p["w_ih"].T + p["bias"]  # (V, G)
                np.take(table, ids, axis=0, out=p["xp"])
                continue
            if index == 0 and emb is not None:
                np.take(emb, ids, axis=0)  # (T*B, E)
            np.matmul(p["x"], p["w_ih"].T, out=p["xp"])
            p["xp"] += p["bias"]
            dx = p["dgx"].reshape(n, g) @ p["w_ih"]  # (T*B, in)
            if index == 0 and emb is not None:
                add_rows_at(grad_emb, ids, dx)

    def head():
        z = y @ head_w.T
        z += head_b
        np.matmul(logits.T, y, out=head_dw)
        logits @ head_w
        head_db[...] = logits.sum(axis=0)

    def loss():
        softmax_cross_entropy(logits, targets, need_grad=True, out=logits)  # the gradient overwrites them

    parts = {"recurrent products": lambda: (recurrent_forward(), recurrent_backward()),
             "weight-grad products": weight_grads, "input projection": input_projection, "head": head,
             "softmax/loss": loss}
    gates = _gate_arithmetic(spec, layers[0])
    if gates is not None:
        parts["gate arithmetic"] = gates
    model = NumpyModel(m, seed=0)
    opt = SGD(model.params, lr=LR)

    def optimiser():
        clip_grad_norm(model.grads, CLIP)
        opt.step(model.grads)

    parts["optimiser + clipping"] = optimiser
    return parts


def _gate_arithmetic(spec: dict, p: dict) -> Optional[Callable[[], float]]:
    """The cell's own forward and backward_step over all steps and layers, less the forward
    products (measured alone right before): a function returning the seconds it found.
    None if the cell's interface is not the one this was written for."""
    m = ModelConfig(**spec["model"])
    steps, batch, hid = spec["T"], spec["B"], m.hidden_size
    cell = get_cell(m.cell).make(m.nonlinearity)
    g = get_cell(m.cell).num_gates * hid
    rng = np.random.default_rng(1)
    pre = rng.standard_normal((steps, batch, g)).astype(np.float32)  # pre-activations
    xp = np.empty_like(pre)
    h_out = np.empty((steps, batch, hid), np.float32)
    c0 = np.zeros((batch, hid), np.float32) if get_cell(m.cell).has_cell_state else None
    b_hh = (0.1 * rng.standard_normal(g)).astype(np.float32)
    dh_seq = (0.1 * rng.standard_normal((steps, batch, hid))).astype(np.float32)
    dgx, dgh = np.empty_like(pre), np.empty_like(pre)
    buffers: dict = {}

    def buffer(role, shape):
        if role not in buffers:
            buffers[role] = np.empty(shape, np.float32)
        return buffers[role]

    def run() -> float:
        np.copyto(xp, pre)
        t0 = time.perf_counter()
        _, _, cache = cell.forward(xp, p["h0"], c0, p["w_hh"], b_hh, h_out, buffer)
        dh, dc = np.zeros((batch, hid), np.float32), (np.zeros((batch, hid), np.float32) if c0 is not None
                                                      else None)
        direct = getattr(cell, "direct_hidden_grad", None)
        for step in reversed(range(steps)):
            np.add(dh, dh_seq[step], out=dh)
            dc = cell.backward_step(cache, step, dh, dc, dgx[step], dgh[step])
            if direct is not None:
                direct(cache, step, dh)
        seconds = time.perf_counter() - t0
        t1 = time.perf_counter()
        recurrent_forward_one_layer()
        return (seconds - (time.perf_counter() - t1)) * m.num_layers

    def recurrent_forward_one_layer():
        w_hh_t = p["w_hh"].T
        for t in range(steps):
            np.matmul(p["h0"] if t == 0 else p["h"][t - 1], w_hh_t, out=p["rec"])

    try:
        with np.errstate(over="ignore"):
            run()
    except (TypeError, KeyError, ValueError, AttributeError):
        return None
    return run


def numpy_breakdown(spec: dict, threads: int, rounds: int = 5) -> dict:
    """Bucket -> median ms per step for the NumPy engine, plus 'step' and 'rest'."""
    weights, data = make_weights(spec), make_data(spec)
    step = ENGINES["numpy"](spec, weights, data, threads)
    parts = _numpy_parts(spec)
    times: Dict[str, List[float]] = {name: [] for name in ["step", *parts]}
    with np.errstate(over="ignore"):
        step()
        for fn in parts.values():
            fn()
        for _ in range(rounds):
            for name, fn in [("step", step), *parts.items()]:
                t0 = time.perf_counter()
                found = fn()
                seconds = time.perf_counter() - t0
                times[name].append(found if name == "gate arithmetic" else seconds)
    out = {name: 1e3 * statistics.median(t) for name, t in times.items()}
    out["rest"] = out["step"] - sum(v for k, v in out.items() if k != "step")
    out["method"] = "micro-benchmarks of the engine's operations on the step's shapes; rest = step - sum"
    return out


# ------------------------------------------------------------------------------ torch
_LOSS = ("log_softmax", "nll_loss", "cross_entropy")
_LOOKUP = ("embedding", "one_hot", "index_select", "scatter")
_ELEMENTWISE = {"sigmoid", "tanh", "mul", "add", "sub", "rsub", "div", "neg", "relu", "sigmoid_backward",
                "tanh_backward", "threshold_backward", "mul_", "add_", "sigmoid_", "tanh_", "addcmul_", "lerp",
                "cat", "stack", "unsafe_split", "unsafe_chunk", "chunk"}
_OPTIMISER = ("_foreach", "norm", "clamp", "clip_grad")
_PRODUCTS = {"mm", "addmm", "bmm", "matmul"}


def _product_bucket(shapes: List[list], dims: dict) -> str:
    """Which bucket a matrix product belongs to, from its operands' shapes (r, k) @ (k, c)."""
    mats = [s for s in shapes if len(s) == 2]
    if len(mats) < 2:
        return "rest"
    (r, k), (_, c) = mats[-2], mats[-1]
    found = {r, k, c}
    n, batch, g, vocab, width = dims["N"], dims["B"], dims["G"], dims["V"], dims["I"]
    if r == batch != n:
        return "recurrent products"
    if k == batch != n:
        return "weight-grad products"  # a per-step dW_hh / dW_ih
    if vocab in found and (vocab != width or g not in found):
        return "head"
    if k == n:
        return "weight-grad products"
    if r == n:
        return "input projection"
    return "rest"


def _op_bucket(name: str, shapes: List[list], dims: dict) -> str:
    op = name.split("::")[-1]
    if op.startswith("mkldnn_rnn"):
        return "fused recurrent layer"
    if op in _PRODUCTS:
        return _product_bucket(shapes, dims)
    if any(word in op for word in _LOSS):
        return "softmax/loss"
    if any(word in op for word in _LOOKUP):
        return "input projection"
    if any(word in op for word in _OPTIMISER):
        return "optimiser + clipping"
    if op in _ELEMENTWISE:
        return "gate arithmetic"
    return "rest"


def torch_breakdown(spec: dict, engine: str, threads: int, steps: int = 3) -> dict:
    """Bucket -> ms per step from torch.profiler's self CPU times, plus 'step' (profiled wall time)."""
    torch = _torch()
    from torch.profiler import ProfilerActivity, profile

    weights, data = make_weights(spec), make_data(spec)
    step = ENGINES[engine](spec, weights, data, threads)
    for _ in range(2):
        step()
    m = ModelConfig(**spec["model"])
    dims = {"N": spec["T"] * spec["B"], "B": spec["B"], "G": get_cell(m.cell).num_gates * m.hidden_size,
            "V": m.output_size, "I": m.recurrent_input_size}
    t0 = time.perf_counter()
    plain = [step() for _ in range(steps)]
    unprofiled = (time.perf_counter() - t0) / steps
    del plain
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        wall = (time.perf_counter() - t0) / steps
    out = {name: 0.0 for name in BUCKETS}
    for event in prof.key_averages(group_by_input_shape=True):
        bucket = _op_bucket(event.key, list(event.input_shapes or []), dims)
        out[bucket] += event.self_cpu_time_total / 1e3 / steps  # us -> ms per step
    out = {k: v for k, v in out.items() if v > 0 or k == "rest"}
    out["rest"] = wall * 1e3 - sum(v for k, v in out.items() if k != "rest")
    out["step"] = wall * 1e3
    out["step_unprofiled"] = unprofiled * 1e3
    out["method"] = "torch.profiler self CPU time per op, grouped by name and shapes; rest = wall - sum"
    torch.set_num_threads(threads)
    return out


def breakdown(spec: dict, engines: List[str], threads: int, rounds: int) -> Dict[str, dict]:
    """Engine -> bucket -> ms per step."""
    return {e: numpy_breakdown(spec, threads, rounds) if e == "numpy" else torch_breakdown(spec, e, threads)
            for e in engines}


def format_breakdown(name: str, about: str, result: Dict[str, dict]) -> str:
    """A markdown table: one row per bucket, one column per engine (ms per step and % of the step)."""
    engines = list(result)
    lines = [f"### {name}: {about}", "",
             "| bucket | " + " | ".join(f"{e} ms (%)" for e in engines) + " |",
             "|---|" + "---:|" * len(engines)]
    for bucket in BUCKETS:
        if not any(bucket in result[e] for e in engines):
            continue
        cells = []
        for e in engines:
            v = result[e].get(bucket)
            cells.append("-" if v is None else f"{v:.1f} ({100 * v / result[e]['step']:.0f}%)")
        lines.append(f"| {bucket} | " + " | ".join(cells) + " |")
    lines.append("| **step** | " + " | ".join(f"**{result[e]['step']:.1f}**" for e in engines) + " |")
    if any("step_unprofiled" in result[e] for e in engines):
        lines.append("| step without profiler | " + " | ".join(
            f"{result[e]['step_unprofiled']:.1f}" if "step_unprofiled" in result[e] else "-" for e in engines) + " |")
    return "\n".join(lines)


def method_notes(results: Dict[str, Dict[str, dict]]) -> Tuple[str, ...]:
    methods = sorted({f"{e}: {r['method']}" for per in results.values() for e, r in per.items()})
    return tuple(methods)
