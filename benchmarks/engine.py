"""Training-step throughput: the NumPy engine against torch.nn, side by side, in one run.

    python benchmarks/engine.py                      # every config, full repeats
    python benchmarks/engine.py --quick              # CI smoke (< 2 minutes)
    python benchmarks/engine.py --configs a,b --repeats 9 --json out.json
    python benchmarks/engine.py --only numpy         # one engine only

One training step, the same on every engine:
    forward (T, B) token ids -> logits (T, B, V); softmax cross-entropy, mean over T*B;
    backward; clip the global gradient norm to 0.25; plain SGD update (lr 1.0).
The recurrent state is carried from step to step, detached. float32 throughout; torch
runs with torch.set_num_threads(N), N = the BLAS thread count NumPy uses.

Engines (columns): `numpy` is rnnlab's engine; `torch` is plain torch.nn, the bar (on
the CPU its RNN layers run as oneDNN's fused RNN kernel); `torch-no-onednn` is the same
with that kernel switched off, i.e. torch's per-step loop of separate ops, the way the
NumPy engine works; `rnnlab-torch` is `rnnlab train --backend torch`.

Timing: both engines are built from the same weights and data, warmed up, then measured
interleaved (numpy, torch, numpy, torch, ...), `repeats` rounds of `steps` steps each; the
table gives the median step time's throughput and the spread (min..max) over rounds. The
ratio numpy/X is the median over rounds of that round's paired ratio (X's step time over
numpy's, the two measured back to back), with its min..max: a shared machine's speed drifts
by tens of percent between rounds, and pairing cancels the drift that a ratio of the two
medians keeps. For the same reason '% of machine' divides each round's rate by the machine's
rate read just before that round (the three head products of (b), best of 3).
Each engine's turn in a round starts with one untimed step: right after a switch, the other
engine's threads are still spinning (OpenBLAS's and torch's OpenMP workers wait busy for a
while after their last job) and its data fills the cache. Without that step, torch's (b) read
3,142-3,260 tok/s next to NumPy alone and 4,176 among four engines, minutes apart (2026-11-26).

Peak memory: each (config, engine) also runs alone in a fresh subprocess, which reports
the increase of its peak resident set size (VmHWM, reset via /proc/self/clear_refs where
the kernel allows; else ru_maxrss) over its RSS after imports, a warm-up matmul and the
data -- i.e. what the model, its caches and its gradients add on top of the library.

Adding an engine (e.g. rnnlab's torch backend): write `build_x(spec, weights, data,
threads) -> step()` and register it in ENGINES; the table grows a column by itself.
"""
from __future__ import annotations

import argparse
import ctypes
import functools
import glob
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, Optional

import numpy as np

try:
    import torch
except ImportError:  # the NumPy column alone
    torch = None

from rnnlab.engine.optim import SGD, clip_grad_norm
from rnnlab.engine.registry import cell_names, get_cell
from rnnlab.models import ModelConfig, NumpyModel

CLIP, LR = 0.25, 1.0
GATES = {name: get_cell(name).num_gates for name in cell_names()}

# name -> (model settings, steps T, batch B)
CONFIGS: Dict[str, dict] = {
    "a": dict(model=dict(input="onehot", input_size=65, output_size=65, cell="lstm", hidden_size=512,
                         num_layers=1), T=100, B=32,
              about="char: one-hot 65 -> LSTM 512 -> 65, B 32, T 100"),
    "a-gru": dict(model=dict(input="onehot", input_size=65, output_size=65, cell="gru", hidden_size=512,
                             num_layers=1), T=100, B=32, about="(a) with a GRU"),
    "a-rnn": dict(model=dict(input="onehot", input_size=65, output_size=65, cell="rnn", hidden_size=512,
                             num_layers=1), T=100, B=32, about="(a) with a tanh RNN"),
    "b": dict(model=dict(input="embedding", input_size=10000, output_size=10000, cell="lstm", hidden_size=200,
                         embedding_size=200, num_layers=2), T=35, B=20,
              about="word: embedding 10k x 200 -> 2-layer LSTM 200 -> 10k, B 20, T 35"),
    "c-gru": dict(model=dict(input="embedding", input_size=10000, output_size=10000, cell="gru", hidden_size=200,
                             embedding_size=200, num_layers=2), T=35, B=20, about="(b) with a GRU"),
    "c-rnn": dict(model=dict(input="embedding", input_size=10000, output_size=10000, cell="rnn", hidden_size=200,
                             embedding_size=200, num_layers=2), T=35, B=20, about="(b) with a tanh RNN"),
}
DEFAULT_CONFIGS = "a,b,c-gru,c-rnn"


# ------------------------------------------------------------------------------ FLOP count
def step_flops(spec: dict) -> int:
    """Matrix-product FLOPs of one training step (2 per multiply-add; elementwise work not counted).

    N = T*B rows, G = gates*H, I = the layer's input width (V for one-hot, E, or H above layer 0):
      per layer   input projection           x @ W_ih^T              2 N I G
                  recurrent, forward          h_{t-1} @ W_hh^T        2 N H G
                  recurrent, backward         dg_t @ W_hh  (dh_{t-1})  2 N G H
                  hidden-weight grad          dW_hh = dg^T h          2 N G H
                  input-weight grad           dW_ih = dg^T x          2 N G I
                  input grad                  dx = dg @ W_ih          2 N G I  (not for a one-hot layer 0)
      head        forward                     h @ W^T                 2 N H V
                  backward                    dW = dz^T h, dh = dz W  2 * 2 N H V
    The embedding lookup / scatter and the one-hot encoding are not products and not counted.
    """
    m = ModelConfig(**spec["model"])
    n, hid, g = spec["T"] * spec["B"], m.hidden_size, GATES[m.cell] * m.hidden_size
    total = 0
    for layer in range(m.num_layers):
        width = m.recurrent_input_size if layer == 0 else hid
        total += 2 * n * width * g                      # input projection
        total += 3 * 2 * n * hid * g                    # recurrent: forward, backward dh, dW_hh
        total += 2 * n * g * width                      # dW_ih
        if not (layer == 0 and m.input == "onehot"):
            total += 2 * n * g * width                  # dx
    total += 3 * 2 * n * hid * m.output_size           # head: forward + 2 backward products
    return total


# ------------------------------------------------------------------------------ machine
def blas_info() -> dict:
    """NumPy's BLAS (name, version, config) and its thread count (OpenBLAS via ctypes)."""
    info: dict = {"numpy": np.__version__}
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["blas"] = f"{blas.get('name')} {blas.get('version')}"
        info["blas_config"] = blas.get("openblas configuration", "")
    except Exception:  # older NumPy
        info["blas"] = "unknown"
    threads = None
    libdir = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
    for path in glob.glob(os.path.join(libdir, "*openblas*")):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for symbol in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                       "openblas_get_num_threads"):
            if hasattr(lib, symbol):
                threads = int(getattr(lib, symbol)())
                break
        if threads:
            break
    if not threads:
        env = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS")
        threads = int(env) if env else (os.cpu_count() or 1)
        info["blas_threads_source"] = "environment / cpu count (could not ask the library)"
    info["blas_threads"] = threads
    return info


def _rate(fn, flops: float, seconds: float = 0.6, min_reps: int = 5) -> float:
    """GFLOP/s of fn(): median over repetitions, after one warm-up call."""
    fn()
    times, start = [], time.perf_counter()
    while len(times) < min_reps or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return flops / statistics.median(times) / 1e9


def head_products(n: int = 700, h: int = 200, v: int = 10000):
    """The three head products of (b) as the engine calls them: (the three calls, flops of each, inputs)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, h), dtype=np.float32)
    w = rng.standard_normal((v, h), dtype=np.float32)
    dz = rng.standard_normal((n, v), dtype=np.float32)
    y, dw, dx = np.empty((n, v), np.float32), np.empty((v, h), np.float32), np.empty((n, h), np.float32)
    products = (lambda: np.matmul(x, w.T, out=y), lambda: np.matmul(dz.T, x, out=dw),
                lambda: np.matmul(dz, w, out=dx))
    return products, 2.0 * n * h * v, (x, w, dz)


def machine_probe() -> Callable[[], float]:
    """A ~0.1 s reading of the machine rate (GFLOP/s of the (b) head products, best of 3).

    Taken before every measured round, so that '% of machine' compares each round with
    the machine's speed at that moment rather than at the start of the run.
    """
    products, flops, _ = head_products()
    for product in products:
        product()

    def probe() -> float:
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            for product in products:
                product()
            best = min(best, time.perf_counter() - t0)
        return 3 * flops / best / 1e9

    return probe


def machine_rates(quick: bool) -> dict:
    """float32 matmul GFLOP/s: the head products of (b), exactly as the engine calls them, and square 2048."""
    rng = np.random.default_rng(0)
    products, f, (x, w, dz) = head_products()
    secs = 0.2 if quick else 0.8
    out = {name: _rate(product, f, secs) for name, product in
           zip(("np (700x200)@(200x10000)", "np (10000x700)@(700x200)", "np (700x10000)@(10000x200)"), products)}
    # the three together, as one step spends them: total flops / total time
    out["np (b) head shapes"] = 3.0 / sum(1.0 / out[k] for k in list(out))
    a = rng.standard_normal((2048, 2048), dtype=np.float32)
    c = np.empty_like(a)
    out["np 2048^2"] = _rate(lambda: np.matmul(a, a, out=c), 2.0 * 2048 ** 3, secs)
    if torch is not None:
        tx, tw, tdz = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(dz)
        r1 = _rate(lambda: torch.mm(tx, tw.t()), f, secs)
        r2 = _rate(lambda: torch.mm(tdz.t(), tx), f, secs)
        r3 = _rate(lambda: torch.mm(tdz, tw), f, secs)
        out["torch (b) head shapes"] = 3.0 / (1 / r1 + 1 / r2 + 1 / r3)
        ta = torch.from_numpy(a)
        out["torch 2048^2"] = _rate(lambda: torch.mm(ta, ta), 2.0 * 2048 ** 3, secs)
    return out


# ------------------------------------------------------------------------------ data, weights
def make_data(spec: dict, batches: int = 4, seed: int = 0):
    """A few (inputs, targets) pairs of (T, B) int64 ids, cycled through by every engine."""
    rng = np.random.default_rng(seed)
    vin, vout = spec["model"]["input_size"], spec["model"]["output_size"]
    return [(rng.integers(0, vin, (spec["T"], spec["B"])), rng.integers(0, vout, (spec["T"], spec["B"])))
            for _ in range(batches)]


def make_weights(spec: dict) -> dict:
    return NumpyModel(ModelConfig(**spec["model"]), seed=0).state_dict()


# ------------------------------------------------------------------------------ engines
def build_rnnlab(spec: dict, weights: dict, data: list, threads: int,
                 device: Optional[str] = None) -> Callable[[], float]:
    """rnnlab's NumPy engine, used the way rnnlab.train does (LanguageModelTask.window_loss).

    With `device`, the same loop drives rnnlab's torch backend (`--backend torch`): the model
    runs torch.nn on that device and hands NumPy arrays back, as in `rnnlab train`.
    """
    if device is None:
        model = NumpyModel(ModelConfig(**spec["model"]), seed=0)
    else:
        from rnnlab.backends.torch import TorchModel
        torch.set_num_threads(threads)
        model = TorchModel(ModelConfig(**spec["model"]), seed=0, device=device)
    model.load_state_dict(weights)
    model.train()
    opt = SGD(model.params, lr=LR) if device is None else model.make_optimizer("sgd", lr=LR)
    box = {"state": None, "i": 0}

    def step() -> float:
        inputs, targets = data[box["i"] % len(data)]
        box["i"] += 1
        model.zero_grad()
        loss, state = model.loss(inputs, targets, box["state"])  # what `rnnlab train` runs per window
        if device is None:
            clip_grad_norm(model.grads, CLIP)
            opt.step(model.grads)
        else:
            model.clip_grad_norm(CLIP)
            opt.step()
        box["state"] = state  # plain arrays: already detached
        return loss

    return step


def build_torch(spec: dict, weights: dict, data: list, threads: int, device: str = "cpu",
                onednn: bool = True) -> Callable[[], float]:
    """Plain torch.nn: nn.LSTM/GRU/RNN, nn.Embedding or one-hot, nn.Linear, F.cross_entropy, optim.SGD.

    On the CPU, torch.nn.LSTM/GRU/RNN run as oneDNN's fused RNN primitive (`aten::mkldnn_rnn_layer`:
    the whole sequence's gates, products and backward in one kernel). `onednn=False` turns that off
    for the step, which leaves torch's own per-step loop of aten ops: the column that shows how
    much of torch's speed is that kernel.
    """
    nn, F = torch.nn, torch.nn.functional
    torch.set_num_threads(threads)
    m = ModelConfig(**spec["model"])

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            if m.input == "embedding":
                self.embedding = nn.Embedding(m.input_size, m.embedding_size)
            kinds = {"lstm": nn.LSTM, "gru": nn.GRU}
            extra = {} if m.cell in kinds else {"nonlinearity": m.nonlinearity}
            self.rnn = kinds.get(m.cell, nn.RNN)(m.recurrent_input_size, m.hidden_size, m.num_layers, **extra)
            self.head = nn.Linear(m.hidden_size, m.output_size)

        def forward(self, ids, state):
            x = self.embedding(ids) if m.input == "embedding" else F.one_hot(ids, m.input_size).float()
            y, state = self.rnn(x, state)
            return self.head(y), state

    net = Net()
    net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in weights.items()})
    net.to(device).train()
    opt = torch.optim.SGD(net.parameters(), lr=LR)
    tdata = [(torch.from_numpy(i).to(device), torch.from_numpy(t).reshape(-1).to(device)) for i, t in data]
    V = m.output_size
    box = {"state": None, "i": 0}

    def step() -> float:
        inputs, targets = tdata[box["i"] % len(tdata)]
        box["i"] += 1
        opt.zero_grad()
        logits, state = net(inputs, box["state"])
        loss = F.cross_entropy(logits.reshape(-1, V), targets)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), CLIP)
        opt.step()
        box["state"] = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        return loss.item()

    if onednn:
        return step

    def step_without_onednn() -> float:
        enabled = torch.backends.mkldnn.enabled
        torch.backends.mkldnn.enabled = False
        try:
            return step()
        finally:
            torch.backends.mkldnn.enabled = enabled

    return step_without_onednn


ENGINES: Dict[str, Callable] = {"numpy": build_rnnlab}
if torch is not None:
    ENGINES["torch"] = build_torch  # plain torch.nn on the CPU: the bar
    ENGINES["torch-no-onednn"] = functools.partial(build_torch, onednn=False)  # the same, oneDNN's RNN off
    ENGINES["rnnlab-torch"] = functools.partial(build_rnnlab, device="cpu")  # rnnlab train --backend torch
    if torch.cuda.is_available():  # the same, unchanged, on a GPU (loss.item() synchronises every step)
        ENGINES["torch-cuda"] = functools.partial(build_torch, device="cuda")
        ENGINES["rnnlab-torch-cuda"] = functools.partial(build_rnnlab, device="cuda")


# ------------------------------------------------------------------------------ measuring
def time_config(spec: dict, engines: list, threads: int, repeats: int, steps: int, warmup: int) -> dict:
    weights, data = make_weights(spec), make_data(spec)
    closures = {name: ENGINES[name](spec, weights, data, threads) for name in engines}
    first_loss = {name: closures[name]() for name in engines}  # same weights, same batch: should agree
    for _ in range(warmup - 1):
        for name in engines:
            closures[name]()
    times: Dict[str, list] = {name: [] for name in engines}
    probe, machine = machine_probe(), []
    for r in range(repeats):
        machine.append(probe())  # the machine's rate right now: '% of machine' per round
        order = engines if r % 2 == 0 else engines[::-1]  # alternate who goes first
        for name in order:
            closures[name]()  # untimed: it absorbs the switch from the other engine (below)
            t0 = time.perf_counter()
            for _ in range(steps):
                closures[name]()
            times[name].append((time.perf_counter() - t0) / steps)
    return {"times": times, "first_loss": first_loss, "machine": machine}


def paired_ratio(numpy_times: list, other_times: list) -> dict:
    """Throughput ratio numpy/other per round (other's time / numpy's), median and spread.

    Round r of both engines ran back to back, so a host that slows down for a while slows
    both; the median of per-round ratios is steadier than the ratio of medians.
    """
    ratios = [other / mine for mine, other in zip(numpy_times, other_times)]
    return {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios), "rounds": ratios}


def _rss_mb(field: str) -> Optional[float]:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def child_memory(config: str, engine: str, threads: int, steps: int) -> dict:
    """In a fresh process: peak RSS increase of building `engine` and running `steps` training steps."""
    spec = CONFIGS[config]
    weights, data = make_weights(spec), make_data(spec)
    a = np.ones((256, 256), np.float32)
    a @ a  # BLAS thread buffers exist before the baseline
    if engine != "numpy":
        ta = torch.ones(256, 256)
        ta @ ta
        torch.set_num_threads(threads)
    method = "VmHWM - VmRSS baseline (HWM reset via clear_refs)"
    baseline = _rss_mb("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets the peak RSS to the current RSS
    except OSError:
        method = "ru_maxrss - VmRSS baseline (peak not resettable; includes import peak)"
    if baseline is None:  # not Linux
        baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024.0 if sys.platform != "darwin"
                                                                         else 1024.0 ** 2)
        method = "ru_maxrss after - before"
    step = ENGINES[engine](spec, weights, data, threads)
    for _ in range(steps):
        step()
    peak = _rss_mb("VmHWM")
    if peak is None or "ru_maxrss" in method:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024.0 if sys.platform != "darwin"
                                                                     else 1024.0 ** 2)
    return {"peak_mb": max(0.0, peak - baseline), "baseline_mb": baseline, "method": method}


def measure_memory(config: str, engine: str, threads: int, steps: int) -> Optional[dict]:
    cmd = [sys.executable, os.path.abspath(__file__), "--_child-memory", config, "--only", engine,
           "--threads", str(threads), "--steps", str(steps)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"  memory probe {config}/{engine} failed: {done.stderr.strip()[-300:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------ main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--configs", default=DEFAULT_CONFIGS, help=f"comma list of {','.join(CONFIGS)}")
    p.add_argument("--repeats", type=int, default=None, help="measured rounds per engine (default 7, quick 2)")
    p.add_argument("--steps", type=int, default=None, help="training steps per round (default 2, quick 1)")
    p.add_argument("--warmup", type=int, default=None, help="warm-up steps per engine (default 2, quick 1)")
    p.add_argument("--quick", action="store_true", help="few repeats: a smoke test for CI")
    p.add_argument("--only", default=None, help=f"comma list of engines ({','.join(ENGINES)})")
    p.add_argument("--threads", type=int, default=None, help="threads (default: NumPy's BLAS thread count)")
    p.add_argument("--no-memory", action="store_true", help="skip the per-engine subprocess memory probes")
    p.add_argument("--json", default=None, metavar="PATH", help="also save the results as JSON")
    p.add_argument("--_child-memory", dest="child_memory", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    blas = blas_info()
    threads = args.threads or blas["blas_threads"]
    if args.child_memory:
        print(json.dumps(child_memory(args.child_memory, args.only, threads, args.steps or 3)))
        return 0

    repeats = args.repeats or (2 if args.quick else 7)
    steps = args.steps or (1 if args.quick else 2)
    warmup = args.warmup or (1 if args.quick else 2)
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        p.error(f"unknown configs {unknown}; choose from {list(CONFIGS)}")
    engines = list(ENGINES) if args.only is None else [e.strip() for e in args.only.split(",")]
    missing = [e for e in engines if e not in ENGINES]
    if missing:
        p.error(f"unknown or unavailable engines {missing}; available: {list(ENGINES)}")
    if torch is not None:
        torch.set_num_threads(threads)

    print("# rnnlab engine benchmark\n")
    print(f"- python {platform.python_version()}, numpy {np.__version__}, BLAS {blas['blas']} "
          f"({blas.get('blas_config', '')}), BLAS threads {blas['blas_threads']}")
    if torch is not None:
        print(f"- torch {torch.__version__}, torch threads {torch.get_num_threads()} "
              f"(interop {torch.get_num_interop_threads()}), MKL {torch.backends.mkl.is_available()}, "
              f"mkldnn {torch.backends.mkldnn.is_available()}")
        if torch.cuda.is_available():
            print(f"- CUDA device {torch.cuda.get_device_name(0)}, CUDA {torch.version.cuda}, "
                  f"cuDNN {torch.backends.cudnn.version()} (enabled {torch.backends.cudnn.enabled})")
        else:
            print("- no CUDA device: CPU engines only")
    else:
        print("- torch not installed: NumPy column only")
    try:
        load = os.getloadavg()
        print(f"- cpus {os.cpu_count()}, load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    except OSError:
        pass
    print(f"- step: forward, mean softmax cross-entropy, backward, clip {CLIP}, SGD lr {LR}; float32; "
          f"state carried, detached")
    print(f"- timing: warm-up {warmup}, then {repeats} interleaved rounds x {steps} step(s), each turn after "
          f"one untimed step; median, spread min..max over rounds\n")

    rates = machine_rates(args.quick)
    print("Machine float32 matmul rate (median):\n")
    for k, v in rates.items():
        print(f"- {k}: {v:.1f} GFLOP/s")
    print("\n'% of machine' below = achieved GFLOP/s / the machine's rate at the (b) head shapes, "
          "read again just before each round (median over rounds; the rates per config are listed "
          "after the table)\n")

    results = {"blas": blas, "threads": threads, "torch": getattr(torch, "__version__", None),
               "machine_rates": rates, "repeats": repeats, "steps_per_round": steps, "configs": {}}
    for name in configs:
        spec = CONFIGS[name]
        print(f"... {name}: {spec['about']}", file=sys.stderr, flush=True)
        r = time_config(spec, engines, threads, repeats, steps, warmup)
        flops, tokens = step_flops(spec), spec["T"] * spec["B"]
        entry = {"about": spec["about"], "flops_per_step": flops, "tokens_per_step": tokens,
                 "first_loss": r["first_loss"], "engines": {}}
        for e in engines:
            t = r["times"][e]
            med = statistics.median(t)
            entry["engines"][e] = {"step_s_median": med, "step_s_min": min(t), "step_s_max": max(t),
                                   "tok_s": tokens / med, "tok_s_min": tokens / max(t),
                                   "tok_s_max": tokens / min(t), "gflops": flops / med / 1e9,
                                   "pct_machine": statistics.median(
                                       100.0 * flops / seconds / 1e9 / rate for seconds, rate in zip(t, r["machine"])),
                                   "times": t}
        entry["machine_per_round"] = r["machine"]
        if "numpy" in engines:
            entry["paired_ratio"] = {e: paired_ratio(r["times"]["numpy"], r["times"][e]) for e in engines
                                     if e != "numpy"}
        if not args.no_memory:
            for e in engines:
                if e.endswith("cuda"):  # RSS is host memory; the GPU's is not measured here
                    continue
                mem = measure_memory(name, e, threads, 1 if args.quick else 2)
                entry["engines"][e]["memory"] = mem
        results["configs"][name] = entry

    others = [e for e in engines if e != "numpy"]
    head = ["config", *[f"{e} tok/s (min..max)" for e in engines]]
    if "numpy" in engines:
        head += [f"ratio numpy/{e} (min..max)" for e in others]
    head += [f"{e} GFLOP/s (% machine)" for e in engines] + [f"peak MB {e}" for e in engines]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name, entry in results["configs"].items():
        en = entry["engines"]
        row = [f"{name} ({entry['flops_per_step'] / 1e9:.2f} GFLOP/step)"]
        row += [f"{en[e]['tok_s']:,.0f} ({en[e]['tok_s_min']:,.0f}..{en[e]['tok_s_max']:,.0f})" for e in engines]
        if "numpy" in engines:
            for e in others:
                r = entry["paired_ratio"][e]
                row.append(f"{r['median']:.2f} ({r['min']:.2f}..{r['max']:.2f})")
        row += [f"{en[e]['gflops']:.1f} ({en[e]['pct_machine']:.0f}%)" for e in engines]
        row += [f"{en[e]['memory']['peak_mb']:.0f}" if en[e].get("memory") else "-" for e in engines]
        print("| " + " | ".join(row) + " |")
    print()
    for name, entry in results["configs"].items():
        losses = ", ".join(f"{e} {v:.4f}" for e, v in entry["first_loss"].items())
        rates_seen = entry["machine_per_round"]
        print(f"- {name}: {entry['about']}; first-step loss {losses}; machine rate over its rounds "
              f"{statistics.median(rates_seen):.1f} ({min(rates_seen):.1f}..{max(rates_seen):.1f}) GFLOP/s")
    methods = {en["memory"]["method"] for c in results["configs"].values() for en in c["engines"].values()
               if en.get("memory")}
    if methods:
        print(f"- peak MB: increase of peak RSS in a fresh subprocess per engine over its RSS after imports "
              f"and data ({'; '.join(sorted(methods))})")
    if torch is None:
        print("- torch is not installed: NumPy only (pip install torch for the comparison)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
        print(f"- saved {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
