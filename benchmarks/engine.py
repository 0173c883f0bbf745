"""Training-step throughput: the NumPy engine against torch.nn, side by side, in one run.

    python benchmarks/engine.py                      # every config, full repeats
    python benchmarks/engine.py --quick              # CI smoke (< 2 minutes)
    python benchmarks/engine.py --configs a,b --repeats 9 --json out.json
    python benchmarks/engine.py --only numpy         # one engine only
    python benchmarks/engine.py --profile --configs a,b   # where each engine's step time goes

What a step is and which engines run: engines.py. How they are timed side by side:
timing.py. The FLOP model behind 'GFLOP/s' and '% of machine': flops.py. The BLAS kernel,
thread count and machine rate: machine.py (by default the benchmark re-runs itself without
OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, so that OpenBLAS uses this CPU's own kernel, as a
user's machine does; --keep-blas-env keeps them). Peak memory: memory.py. The breakdown
of --profile: breakdown.py. The protocol, for a reader: docs/speed.md.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the sibling modules, however we are loaded

from breakdown import breakdown, format_breakdown, method_notes  # noqa: E402
from engines import ENGINES, HAVE_TORCH, all_engines  # noqa: E402
from flops import CONFIGS, DEFAULT_CONFIGS, step_flops  # noqa: E402
from machine import blas_info, machine_rates, native_blas  # noqa: E402
from memory import measure_memory  # noqa: E402
from report import print_header, print_rates, print_table  # noqa: E402
from timing import paired_ratio, time_config  # noqa: E402

__all__ = ["CONFIGS", "ENGINES", "main", "paired_ratio", "step_flops", "time_config"]


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--configs", default=DEFAULT_CONFIGS, help=f"comma list of {','.join(CONFIGS)}")
    p.add_argument("--repeats", type=int, default=None, help="measured rounds per engine (default 7, quick 2)")
    p.add_argument("--steps", type=int, default=None, help="training steps per round (default 2, quick 1)")
    p.add_argument("--warmup", type=int, default=None, help="warm-up steps per engine (default 2, quick 1)")
    p.add_argument("--quick", action="store_true", help="few repeats: a smoke test for CI")
    p.add_argument("--only", default=None, help=f"comma list of engines ({','.join(ENGINES)})")
    p.add_argument("--threads", type=int, default=None, help="threads (default: NumPy's BLAS thread count)")
    p.add_argument("--no-memory", action="store_true", help="skip the per-engine subprocess memory probes")
    p.add_argument("--profile", action="store_true",
                   help="instead of the table: where one step's time goes, per config and engine")
    p.add_argument("--keep-blas-env", action="store_true",
                   help="keep OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (default: re-run without them)")
    p.add_argument("--json", default=None, metavar="PATH", help="also save the results as JSON")
    return p, p.parse_args(argv)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p, args = parse_args(argv)
    native_blas(__file__, argv, keep=args.keep_blas_env)
    engines_known = all_engines()
    repeats = args.repeats or (2 if args.quick else 7)
    steps = args.steps or (1 if args.quick else 2)
    warmup = args.warmup or (1 if args.quick else 2)
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        p.error(f"unknown configs {unknown}; choose from {list(CONFIGS)}")
    engines = list(engines_known) if args.only is None else [e.strip() for e in args.only.split(",")]
    missing = [e for e in engines if e not in engines_known]
    if missing:
        p.error(f"unknown or unavailable engines {missing}; available: {list(engines_known)}")
    torch = None
    if HAVE_TORCH and engines != ["numpy"]:
        import torch
    blas = blas_info()
    threads = args.threads or blas["blas_threads"]
    if torch is not None:
        torch.set_num_threads(threads)
    print_header(blas, torch, repeats, steps, warmup)
    if args.profile:
        return profile(configs, engines, threads, repeats, args.json)

    rates = machine_rates(args.quick, torch)
    print_rates(rates)
    results = {"blas": blas, "threads": threads, "torch": getattr(torch, "__version__", None),
               "machine_rates": rates, "repeats": repeats, "steps_per_round": steps, "configs": {}}
    for name in configs:
        spec = CONFIGS[name]
        print(f"... {name}: {spec['about']}", file=sys.stderr, flush=True)
        r = time_config(spec, {e: engines_known[e] for e in engines}, threads, repeats, steps, warmup)
        results["configs"][name] = summarise(spec, engines, r)
        if not args.no_memory:
            for e in engines:
                if e.endswith("cuda"):  # RSS is host memory; the GPU's is not measured here
                    continue
                results["configs"][name]["engines"][e]["memory"] = measure_memory(spec, e, threads,
                                                                                  1 if args.quick else 2)
        print(f"... {name} done: {progress(results['configs'][name])}", file=sys.stderr, flush=True)
    print_table(results, engines)
    if torch is None:
        print("- torch not used: NumPy only (pip install torch for the comparison)")
    save(results, args.json)
    return 0


def summarise(spec: dict, engines: list, r: dict) -> dict:
    """Per engine: median step time, tok/s and its spread, GFLOP/s, % of machine; paired ratios."""
    flops, tokens = step_flops(spec), spec["T"] * spec["B"]
    entry = {"about": spec["about"], "flops_per_step": flops, "tokens_per_step": tokens,
             "first_loss": r["first_loss"], "engines": {}, "machine_per_round": r["machine"]}
    for e in engines:
        t = r["times"][e]
        med = statistics.median(t)
        entry["engines"][e] = {"step_s_median": med, "step_s_min": min(t), "step_s_max": max(t),
                               "tok_s": tokens / med, "tok_s_min": tokens / max(t), "tok_s_max": tokens / min(t),
                               "gflops": flops / med / 1e9,
                               "pct_machine": statistics.median(
                                   100.0 * flops / seconds / 1e9 / rate for seconds, rate in zip(t, r["machine"])),
                               "times": t}
    if "numpy" in engines:
        entry["paired_ratio"] = {e: paired_ratio(r["times"]["numpy"], r["times"][e]) for e in engines
                                 if e != "numpy"}
    return entry


def progress(entry: dict) -> str:
    """One line per finished config (stderr), so an interrupted run still says what it measured."""
    parts = [f"{e} {v['tok_s']:,.0f} tok/s" for e, v in entry["engines"].items()]
    parts += [f"numpy/{e} {r['median']:.2f} ({r['min']:.2f}..{r['max']:.2f})"
              for e, r in entry.get("paired_ratio", {}).items()]
    return ", ".join(parts)


def profile(configs: list, engines: list, threads: int, rounds: int, json_path) -> int:
    results = {}
    for name in configs:
        print(f"... profiling {name}", file=sys.stderr, flush=True)
        results[name] = breakdown(CONFIGS[name], engines, threads, rounds)
        print(format_breakdown(name, CONFIGS[name]["about"], results[name]) + "\n", flush=True)
    for note in method_notes(results):
        print(f"- {note}")
    save({"breakdown": results}, json_path)
    return 0


def save(results: dict, path) -> None:
    if path:
        with open(path, "w") as f:
            json.dump(results, f, indent=1)
        print(f"- saved {path}")


if __name__ == "__main__":
    sys.exit(main())
