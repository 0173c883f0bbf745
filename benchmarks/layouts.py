"""The per-step recurrent products in each layout BLAS could be handed, and the copy of W_hh^T.

    python benchmarks/layouts.py                     # (a) B 32, the main charlm model B 64, (b) B 20
    OPENBLAS_NUM_THREADS=1 python benchmarks/layouts.py --shapes 32x512x4 --rounds 9

One shape is B x H with G gate blocks (LSTM 4): W_hh is (G*H, H). Per time step the engine does
one forward product (into the (B, G*H) gate row, then adds it) and one backward product
(dL/dh_{t-1} = dg_t W_hh). Measured, interleaved round by round (median of rounds):

  forward   h @ W^T (NN)      h (B, H) @ a contiguous copy of W_hh^T     the engine's form
            h @ W.T (NT)      the same through the transposed view
            W @ h^T (T)       (G*H, B) out, then added through a transposed view of it
            W @ h^T, state^T  the same with the gate row kept transposed, (G*H, B): a plain add
  backward  dg @ W (NN)       the engine's form
            W^T @ dg.T        (H, B) out, dg (B, G*H) as the cells write it, read transposed
            W^T @ dg^T        (H, B) out from the transposed state (a contiguous W_hh^T)
  copy      np.ascontiguousarray(W.T) and cells.transposed(W) (row blocks), once per forward

The "state^T" rows are what a layout keeping h, c and the gates transposed through a whole
direction would pay per step; such a layout also pays a transpose of the input projection
in and of h out per sequence, not timed here. Like engine.py, it re-runs itself without
OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unless --keep-blas-env.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

from machine import blas_info, cpu_name, native_blas  # noqa: E402

from rnnlab.engine.cells import transposed  # noqa: E402

DEFAULT_SHAPES = "32x512x4,64x512x4,20x200x4"


def forms(batch: int, hidden: int, gates: int, seed: int = 0) -> dict:
    """name -> a closure doing one step's product in that form (same values, fresh buffers)."""
    rng = np.random.default_rng(seed)
    rows = gates * hidden
    w = rng.standard_normal((rows, hidden), dtype=np.float32)
    w_t = np.ascontiguousarray(w.T)
    h = rng.standard_normal((batch, hidden), dtype=np.float32)
    h_t = np.ascontiguousarray(h.T)
    gate_row = rng.standard_normal((batch, rows), dtype=np.float32)
    gate_row_t = np.ascontiguousarray(gate_row.T)
    dg = rng.standard_normal((batch, rows), dtype=np.float32)
    dg_t = np.ascontiguousarray(dg.T)
    rec, rec_t = np.empty((batch, rows), np.float32), np.empty((rows, batch), np.float32)
    dh, dh_t = np.empty((batch, hidden), np.float32), np.empty((hidden, batch), np.float32)

    def fwd_nn():
        np.matmul(h, w_t, out=rec)
        np.add(gate_row, rec, out=gate_row)

    def fwd_nt():
        np.matmul(h, w.T, out=rec)
        np.add(gate_row, rec, out=gate_row)

    def fwd_t():
        np.matmul(w, h.T, out=rec_t)
        np.add(gate_row, rec_t.T, out=gate_row)

    def fwd_state_t():
        np.matmul(w, h_t, out=rec_t)
        np.add(gate_row_t, rec_t, out=gate_row_t)

    return {
        "forward  h @ W^T (NN, engine)": fwd_nn,
        "forward  h @ W.T (NT view)": fwd_nt,
        "forward  W @ h^T, transposed add": fwd_t,
        "forward  W @ h^T, state^T": fwd_state_t,
        "backward dg @ W (NN, engine)": lambda: np.matmul(dg, w, out=dh),
        "backward W^T @ dg.T (dg's view), (H, B) out": lambda: np.matmul(w_t, dg.T, out=dh_t),
        "backward W^T @ dg^T, state^T": lambda: np.matmul(w_t, dg_t, out=dh_t),
        "copy     np.ascontiguousarray(W.T)": lambda: np.ascontiguousarray(w.T),
        "copy     cells.transposed(W)": lambda: transposed(w),
    }


def measure(closures: dict, rounds: int, seconds: float = 0.05) -> dict:
    """name -> median microseconds per call over `rounds` interleaved rounds (order flipped each round)."""
    reps = {}
    for name, fn in closures.items():  # warm up, and size each turn to ~`seconds`
        fn()
        t0 = time.perf_counter()
        fn()
        reps[name] = max(3, int(seconds / max(time.perf_counter() - t0, 1e-7)))
    times = {name: [] for name in closures}
    names = list(closures)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            fn, n = closures[name], reps[name]
            fn()
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            times[name].append((time.perf_counter() - t0) / n * 1e6)
    return {name: statistics.median(v) for name, v in times.items()}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shapes", default=DEFAULT_SHAPES, help="comma list of BxHxG [%(default)s]")
    p.add_argument("--rounds", type=int, default=7, help="interleaved rounds [%(default)s]")
    p.add_argument("--keep-blas-env", action="store_true",
                   help="keep OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (default: re-run without them)")
    args = p.parse_args(argv)
    try:
        shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",") if s.strip()]
        assert shapes and all(len(s) == 3 and min(s) > 0 for s in shapes)
    except (ValueError, AssertionError):
        p.error(f"--shapes wants BxHxG triples of positive integers, got {args.shapes!r}")
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    native_blas(__file__, argv, keep=args.keep_blas_env)
    blas = blas_info()
    print(f"# per-step product layouts\n\n- cpu {cpu_name()}; BLAS {blas['blas']}, core type "
          f"{blas['core_type']}, {blas['blas_threads']} threads; load average {os.getloadavg()[0]:.2f}\n")
    for batch, hidden, gates in shapes:
        result = measure(forms(batch, hidden, gates), args.rounds)
        base_f, base_b = result["forward  h @ W^T (NN, engine)"], result["backward dg @ W (NN, engine)"]
        print(f"### B {batch}, H {hidden}, {gates} gates: W_hh ({gates * hidden}, {hidden})\n")
        print("| form | us per step | vs the engine's |\n|---|---:|---:|")
        for name, us in result.items():
            base = base_b if name.startswith("backward") else base_f if name.startswith("forward") else None
            ratio = f"{us / base:.2f}" if base else "-"
            print(f"| {name} | {us:.0f} | {ratio} |")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
