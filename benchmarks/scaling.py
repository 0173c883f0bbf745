"""How cost grows: tok/s and peak memory of the NumPy engine and torch.nn as one size grows.

    python benchmarks/scaling.py                      # H, B, T sweeps around (a); ~15 min on 2 idle cores
    python benchmarks/scaling.py --quick              # smoke test: small sizes, one round, no plot
    python benchmarks/scaling.py --png docs/images/scaling.png --json scaling.json

Around config (a) (one-hot 65 -> LSTM 512 -> 65, T 100, B 32), one parameter at a time:
hidden size H in 128, 256, 512, 1024; batch B in 1, 8, 32, 128; sequence length T in
10, 50, 100, 400. Each point is timed like engine.py (the engines interleaved, each turn
after one untimed step; ratio = median of per-round paired ratios) and its peak memory
read in a fresh subprocess per engine (memory.py). Like engine.py, it re-runs itself
without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unless --keep-blas-env.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from engines import ENGINES, HAVE_TORCH  # noqa: E402
from flops import CONFIGS, with_sizes  # noqa: E402
from machine import blas_info, cpu_name, native_blas  # noqa: E402
from memory import measure_memory  # noqa: E402
from timing import paired_ratio, time_config  # noqa: E402

SWEEPS = {"hidden_size": (128, 256, 512, 1024), "B": (1, 8, 32, 128), "T": (10, 50, 100, 400)}
QUICK_SWEEPS = {"hidden_size": (32, 64), "B": (1, 4), "T": (5, 10)}
QUICK_BASE = dict(hidden_size=64, B=4, T=10)
LABELS = {"hidden_size": "hidden size H", "B": "batch B", "T": "sequence length T"}


def points(sweeps: dict, base: dict) -> list:
    """(axis, value, sizes) for every point; the base point is shared by all three sweeps."""
    out = []
    for axis, values in sweeps.items():
        for value in values:
            out.append((axis, value, {**base, axis: value}))
    return out


def measure_point(sizes: dict, engines: list, threads: int, repeats: int, memory: bool) -> dict:
    spec = with_sizes(CONFIGS["a"], **sizes)
    r = time_config(spec, {e: ENGINES[e] for e in engines}, threads, repeats, steps=1, warmup=1)
    tokens = spec["T"] * spec["B"]
    out = {"sizes": sizes, "engines": {}}
    for e in engines:
        t = r["times"][e]
        out["engines"][e] = {"tok_s": tokens / statistics.median(t), "tok_s_min": tokens / max(t),
                             "tok_s_max": tokens / min(t)}
        if memory:
            mem = measure_memory(spec, e, threads, 1)
            out["engines"][e]["peak_mb"] = mem["peak_mb"] if mem else None
    if "numpy" in engines and "torch" in engines:
        out["ratio"] = paired_ratio(r["times"]["numpy"], r["times"]["torch"])["median"]
    return out


def plot(results: list, engines: list, path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axes_names = list(dict.fromkeys(r["axis"] for r in results))
    fig, axes = plt.subplots(2, len(axes_names), figsize=(4.2 * len(axes_names), 6.4), squeeze=False)
    for col, axis in enumerate(axes_names):
        rows = [r for r in results if r["axis"] == axis]
        xs = [r["value"] for r in rows]
        for e, style in zip(engines, ("o-", "s--", "^:")):
            tok = [r["engines"][e]["tok_s"] for r in rows]
            lo = [r["engines"][e]["tok_s_min"] for r in rows]
            hi = [r["engines"][e]["tok_s_max"] for r in rows]
            line, = axes[0][col].plot(xs, tok, style, label=e)
            axes[0][col].fill_between(xs, lo, hi, color=line.get_color(), alpha=0.15)
            mem = [r["engines"][e].get("peak_mb") for r in rows]
            if any(m is not None for m in mem):
                axes[1][col].plot(xs, [m if m is not None else float("nan") for m in mem], style, label=e)
        for row in (0, 1):
            axes[row][col].set_xscale("log", base=2)
            axes[row][col].set_xticks(xs, [str(x) for x in xs])
            axes[row][col].grid(alpha=0.3)
        axes[1][col].set_yscale("log")
        axes[1][col].set_xlabel(LABELS[axis])
    axes[0][0].set_ylabel("tokens / s (band: min..max over rounds)")
    axes[1][0].set_ylabel("peak memory added, MB")
    axes[0][0].legend()
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes, one round, no plot: a smoke test")
    p.add_argument("--repeats", type=int, default=None, help="interleaved rounds per point (default 3, quick 1)")
    p.add_argument("--only", default=None, help="comma list of engines (default numpy,torch)")
    p.add_argument("--threads", type=int, default=None, help="threads (default: NumPy's BLAS thread count)")
    p.add_argument("--no-memory", action="store_true", help="skip the subprocess memory probes")
    p.add_argument("--png", default=None, help="plot path (default docs/images/scaling.png; none with --quick)")
    p.add_argument("--json", default=None, metavar="PATH", help="also save the results as JSON")
    p.add_argument("--keep-blas-env", action="store_true",
                   help="keep OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (default: re-run without them)")
    args = p.parse_args(argv)
    native_blas(__file__, argv, keep=args.keep_blas_env)
    engines = (args.only or ("numpy,torch" if HAVE_TORCH else "numpy")).split(",")
    missing = [e for e in engines if e not in ENGINES]
    if missing:
        p.error(f"unknown or unavailable engines {missing}; available: {list(ENGINES)}")
    blas = blas_info()
    threads = args.threads or blas["blas_threads"]
    if any(e != "numpy" for e in engines):
        import torch

        torch.set_num_threads(threads)
    repeats = args.repeats or (1 if args.quick else 3)
    base = QUICK_BASE if args.quick else {"hidden_size": 512, "B": 32, "T": 100}
    sweeps = QUICK_SWEEPS if args.quick else SWEEPS
    print("# rnnlab scaling: tok/s and peak memory as one size grows around (a)\n")
    print(f"- cpu {cpu_name()}; BLAS {blas['blas']}, core type {blas['core_type']}, {threads} threads; "
          f"OpenBLAS environment: {', '.join(f'{k}={v}' for k, v in blas['blas_env'].items()) or 'none set'}")
    try:
        print(f"- load average at start {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    except OSError:
        pass
    print(f"- base: one-hot 65 -> LSTM H -> 65, {base}; {repeats} interleaved round(s) per point\n")
    head = ["sweep", "H", "B", "T", *[f"{e} tok/s (min..max)" for e in engines]]
    if len(engines) > 1 and "numpy" in engines and "torch" in engines:
        head.append("numpy/torch")
    if not args.no_memory:
        head += [f"peak MB {e}" for e in engines]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head), flush=True)
    done, results = {}, []
    png = args.png or (None if args.quick else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                                             "docs", "images", "scaling.png"))
    title = f"around (a): one-hot 65 -> LSTM -> 65; {cpu_name()}, {blas['core_type']} kernel, {threads} threads"
    for axis, value, sizes in points(sweeps, base):
        key = tuple(sorted(sizes.items()))
        if key not in done:  # the base point appears in every sweep: measured once
            print(f"... {sizes}", file=sys.stderr, flush=True)
            done[key] = measure_point(sizes, engines, threads, repeats, not args.no_memory)
        r = {"axis": axis, "value": value, **done[key]}
        results.append(r)
        row = [LABELS[axis].split()[-1], str(sizes["hidden_size"]), str(sizes["B"]), str(sizes["T"])]
        for e in engines:
            en = r["engines"][e]
            row.append(f"{en['tok_s']:,.0f} ({en['tok_s_min']:,.0f}..{en['tok_s_max']:,.0f})")
        if "ratio" in r:
            row.append(f"{r['ratio']:.2f}")
        if not args.no_memory:
            row += [f"{r['engines'][e]['peak_mb']:.0f}" if r["engines"][e].get("peak_mb") is not None else "-"
                    for e in engines]
        print("| " + " | ".join(row) + " |", flush=True)
        if png:  # redrawn after every point: an interrupted run still leaves its plot
            plot(results, engines, png, title)
    print()
    if png:
        print(f"- plot: {png}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"blas": blas, "threads": threads, "points": results}, f, indent=1)
        print(f"- saved {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
