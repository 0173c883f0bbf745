"""The machine: which BLAS kernel runs, how many threads, and how fast a matrix product is.

- `native_blas(argv, keep)`: OpenBLAS reads OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE once, when it
  loads, and with them it may run an older kernel than the CPU supports. A benchmark should
  measure what a user gets, so by default it re-executes itself without them.
- `blas_info()`: NumPy's BLAS library, version, core type (the kernel OpenBLAS chose) and threads,
  read through threadpoolctl when it is installed ('unknown' otherwise).
- `machine_rates()`, `machine_probe()`: float32 product rates, to say what share of the machine
  an engine reaches.
"""
from __future__ import annotations

import ctypes
import glob
import os
import statistics
import sys
import time
from typing import Callable, Optional, Sequence

import numpy as np

BLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def native_blas(script: str, argv: Sequence[str], keep: bool) -> None:
    """Re-execute `script argv` without BLAS_ENV if any is set (unless `keep`); else return."""
    found = [name for name in BLAS_ENV if name in os.environ]
    if keep or not found:
        return
    env = {k: v for k, v in os.environ.items() if k not in BLAS_ENV}
    print(f"- re-running without {', '.join(f'{k}={os.environ[k]}' for k in found)}, so that OpenBLAS picks "
          f"this CPU's own kernel (--keep-blas-env keeps them)", flush=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, os.path.abspath(script), *argv], env)


def _threadpools() -> Optional[list]:
    try:
        import threadpoolctl
    except ImportError:
        return None
    return threadpoolctl.threadpool_info()


def _numpy_pool(pools: list) -> Optional[dict]:
    """NumPy's own BLAS among the loaded thread pools (torch may load others)."""
    blas = [p for p in pools if p.get("user_api") == "blas"]
    for p in blas:
        if "numpy" in (p.get("filepath") or ""):
            return p
    return blas[0] if blas else None


def _openblas_threads_via_ctypes() -> Optional[int]:
    libdir = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
    for path in glob.glob(os.path.join(libdir, "*openblas*")):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for symbol in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                       "openblas_get_num_threads"):
            if hasattr(lib, symbol):
                return int(getattr(lib, symbol)())
    return None


def blas_info() -> dict:
    """NumPy's BLAS: library, version, core type, threading layer, thread count (and where each came from)."""
    info: dict = {"numpy": np.__version__, "blas": "unknown", "core_type": "unknown", "threading": "unknown"}
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["blas"] = f"{blas.get('name')} {blas.get('version')}"
        info["blas_config"] = blas.get("openblas configuration", "")
    except Exception:  # older NumPy
        pass
    pools = _threadpools()
    pool = _numpy_pool(pools) if pools else None
    threads = None
    if pool is not None:
        info["blas"] = f"{pool.get('internal_api')} {pool.get('version')}"
        info["core_type"] = pool.get("architecture") or "unknown"
        info["threading"] = pool.get("threading_layer") or "unknown"
        threads = pool.get("num_threads")
        info["blas_threads_source"] = "threadpoolctl"
    if pools is None:
        info["blas_threads_source"] = "OpenBLAS via ctypes (threadpoolctl not installed)"
    if not threads:
        threads = _openblas_threads_via_ctypes()
    if not threads:
        env = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS")
        threads = int(env) if env else (os.cpu_count() or 1)
        info["blas_threads_source"] = "environment / cpu count (could not ask the library)"
    info["blas_threads"] = int(threads)
    info["blas_env"] = {k: os.environ[k] for k in BLAS_ENV if k in os.environ}
    info["other_pools"] = [f"{p.get('internal_api')} {p.get('version')} ({p.get('num_threads')} threads)"
                           for p in (pools or []) if p is not pool]
    return info


def cpu_name() -> str:
    """The CPU's model name and its widest vector extension (from /proc/cpuinfo on Linux)."""
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        import platform
        return platform.processor() or "unknown"
    fields: dict = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())  # the first CPU's lines
    flags = set(fields.get("flags", "").split())
    name = f"{fields.get('model name', 'unknown')}, family {fields.get('cpu family', '?')} model {fields.get('model', '?')}"
    vector = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "AVX" if "avx" in flags else "SSE"
    return f"{name} ({vector})"


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


def machine_rates(quick: bool, torch=None) -> dict:
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
