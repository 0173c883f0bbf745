"""Printing the benchmark: the header (machine, libraries, protocol) and the results table."""
from __future__ import annotations

import os
import platform
import statistics
import sys

import numpy as np

from engines import CLIP, LR
from machine import cpu_name


def print_header(blas: dict, torch, repeats: int, steps: int, warmup: int) -> None:
    print("# rnnlab engine benchmark\n")
    print(f"- cpu {cpu_name()}, {os.cpu_count()} logical cores")
    env = ", ".join(f"{k}={v}" for k, v in blas["blas_env"].items()) or "none set"
    print(f"- python {platform.python_version()}, numpy {np.__version__}, BLAS {blas['blas']}, core type "
          f"{blas['core_type']}, threading {blas['threading']}, {blas['blas_threads']} threads "
          f"({blas.get('blas_threads_source', '')}); OpenBLAS environment: {env}")
    if blas.get("blas_config"):
        print(f"- BLAS build: {blas['blas_config']}")
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
        print(f"- load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    except OSError:
        pass
    print(f"- step: forward, mean softmax cross-entropy, backward, clip {CLIP}, SGD lr {LR}; float32; "
          f"state carried, detached")
    print(f"- timing: warm-up {warmup}, then {repeats} interleaved rounds x {steps} step(s), each turn after "
          f"one untimed step; median, spread min..max over rounds\n", flush=True)


def print_rates(rates: dict) -> None:
    print("Machine float32 matmul rate (median):\n")
    for k, v in rates.items():
        print(f"- {k}: {v:.1f} GFLOP/s")
    print("\n'% of machine' below = achieved GFLOP/s / the machine's rate at the (b) head shapes, "
          "read again just before each round (median over rounds; the rates per config are listed "
          "after the table)\n", flush=True)


def print_table(results: dict, engines: list) -> None:
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
