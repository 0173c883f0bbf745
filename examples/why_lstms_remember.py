"""Why LSTMs remember: every number and plot of docs/why-lstms-remember.md, in one command.

    OMP_NUM_THREADS=1 python examples/why_lstms_remember.py            # ~35 min on 2 CPU cores (1,928 s of training measured 2026-11-22)
    OMP_NUM_THREADS=1 python examples/why_lstms_remember.py --quick    # tiny settings, a smoke test

1. trains the adding problem (T = 50, 100) and the copy task (delay 10, 30) with the tanh
   RNN, the LSTM and the GRU (`rnnlab train adding|copy ...`, `--jobs` at a time);
2. measures |dL/dh_t| at initialisation and for the trained adding runs at T = 100, the
   tanh RNN at several spectral radii, and an exploding case with and without clipping
   (`rnnlab gradients ...`), writing docs/images/{gradient-flow,spectral-radius,clipping}.png;
3. writes the tables between the `<!-- results -->` markers of docs/why-lstms-remember.md.

Runs go to runs/why/ (an existing finished run is reused, not retrained).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rnnlab import gradients

ROOT = Path(__file__).resolve().parent.parent
CELLS = ("rnn", "lstm", "gru")
# (task, length flag value, extra flags): the length is --seq-len (T for adding, the delay for copy)
EXPERIMENTS = [("adding", 100, ["--epochs", "25"]), ("adding", 50, ["--epochs", "15"]),
               ("copy", 10, ["--epochs", "15"]), ("copy", 30, ["--epochs", "15"])]
QUICK = [("adding", 10, ["--epochs", "1", "--steps-per-epoch", "5", "--hidden", "8", "--eval-size", "50"]),
         ("copy", 5, ["--epochs", "1", "--steps-per-epoch", "5", "--hidden", "8", "--eval-size", "50"])]


def train(task: str, cell: str, length: int, extra: list, runs: Path) -> dict:
    run_dir = runs / f"{task}-{cell}-{length}"
    if (run_dir / "final.json").exists():
        return json.loads((run_dir / "final.json").read_text())
    command = ["rnnlab", "train", task, "--cell", cell, "--seq-len", str(length), *extra,
               "--run-dir", str(run_dir), "--quiet", "--json"]
    print("$", " ".join(command), flush=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    return json.loads((run_dir / "final.json").read_text())


def results_table(results: dict) -> str:
    """cell x (task, length) -> test metric (and training time)."""
    columns = sorted({(task, length) for task, _, length in results}, key=lambda c: (c[0] != "adding", c))
    header = []
    for task, length in columns:
        header.append(f"adding T={length}: test MSE" if task == "adding"
                      else f"copy, delay {length}: recall accuracy")
    lines = ["| cell | " + " | ".join(header) + " |", "| --- | " + " | ".join("---:" for _ in columns) + " |"]
    for cell in CELLS:
        cells = []
        for task, length in columns:
            final = results.get((task, cell, length))
            if final is None:
                cells.append("")
                continue
            metric = f"{final['test_mse']:.4f}" if task == "adding" else f"{final['test_accuracy']:.3f}"
            cells.append(f"{metric} ({final['steps']} updates, {final['seconds']:.0f} s)")
        lines.append(f"| {cell} | " + " | ".join(cells) + " |")
    baselines = []
    for (task, cell, length), final in results.items():
        if cell == CELLS[0]:
            baselines.append(f"adding T={length}: MSE {final['baseline_mse']:.4f}" if task == "adding"
                             else f"copy, delay {length}: accuracy {math.exp(-final['baseline_loss']):.3f} "
                             f"(cross-entropy {final['baseline_loss']:.3f})")
    return "\n".join(lines) + "\n\nMemoryless baselines on the same test sets: " + "; ".join(sorted(baselines)) + "."


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default=str(ROOT / "runs" / "why"), help="folder for the training runs")
    parser.add_argument("--docs", default=str(ROOT / "docs"), help="folder of why-lstms-remember.md and images/")
    parser.add_argument("--jobs", type=int, default=2, help="training runs at a time [2]")
    parser.add_argument("--quick", action="store_true", help="tiny settings (checks that everything runs)")
    args = parser.parse_args()
    runs, docs = Path(args.runs), Path(args.docs)
    started = time.perf_counter()
    experiments = QUICK if args.quick else EXPERIMENTS
    jobs = [(task, cell, length, extra) for task, length, extra in experiments for cell in CELLS]
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        finals = list(pool.map(lambda job: train(job[0], job[1], job[2], job[3], runs), jobs))
    results = {(task, cell, length): final for (task, cell, length, _), final in zip(jobs, finals)}
    table = results_table(results)
    print(table)

    adding_long = max(length for task, length, _ in experiments if task == "adding")
    trained = [str(runs / f"adding-{cell}-{adding_long}") for cell in CELLS]
    steps = adding_long if args.quick else 100
    report = gradients.run(cells=CELLS, steps=steps, hidden=8 if args.quick else 64, seeds=3, trained=trained,
                           radii=(0.9, 1.0, 1.1, 1.5), forget_bias=1.0, clip_updates=20 if args.quick else 150,
                           out_dir=docs / "images")
    print(gradients.format_report(report))

    command = "OMP_NUM_THREADS=1 python examples/why_lstms_remember.py" + (" --quick" if args.quick else "")
    block = "\n\n".join([
        f"<!-- results: written by `{command}` ({time.strftime('%Y-%m-%d')}; training time in all "
        f"{sum(final['seconds'] for final in finals):.0f} s, gradients {report.seconds:.0f} s) -->",
        "**Long-range tasks** (hidden 64, Adam lr 1e-3, batch 50, clip 1.0; 200 fresh batches per epoch; "
        "1000 test sequences; seconds = training time on this machine):", table,
        f"**Gradient flow**: median |dL/dh_(T-k)| for a unit error at the last step (T={report.steps}, "
        f"hidden {report.hidden}, {report.seeds} seeds x 16 sequences):", gradients.format_table(report.cells, steps),
        "**tanh RNN, W_hh rescaled to a spectral radius** (at initialisation):",
        gradients.format_table(report.radii, steps),
        f"**Exploding case**: {report.clipping[0].setting}, the same data and initial weights:",
        gradients.format_clipping(report.clipping), "<!-- /results -->"])
    page = docs / "why-lstms-remember.md"
    text = page.read_text() if page.exists() else "<!-- results -->\n<!-- /results -->\n"
    text = re.sub(r"<!-- results.*?<!-- /results -->", lambda _: block, text, flags=re.S)
    page.write_text(text)
    print(f"wrote {page} and {docs / 'images'}/*.png in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
