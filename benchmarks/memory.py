"""Peak memory of one engine on one configuration, measured in a fresh process.

    python benchmarks/memory.py '{"model": {...}, "T": 100, "B": 32}' numpy 2 3   # spec, engine, threads, steps

The child reports the increase of its peak resident set size (VmHWM, reset via
/proc/self/clear_refs where the kernel allows; else ru_maxrss) over its RSS after imports,
a warm-up matmul and the data -- i.e. what the model, its caches and its gradients add on
top of the libraries. `measure_memory` runs it and reads its one JSON line.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from typing import Optional

if __package__ in (None, ""):  # run as a script: the sibling modules are importable
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np


def _rss_mb(field: str) -> Optional[float]:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024.0 if sys.platform != "darwin" else 1024.0 ** 2)


def child_memory(spec: dict, engine: str, threads: int, steps: int) -> dict:
    """In this process: peak RSS increase of building `engine` and running `steps` training steps."""
    from engines import ENGINES, _torch, make_data, make_weights

    weights, data = make_weights(spec), make_data(spec)
    a = np.ones((256, 256), np.float32)
    a @ a  # BLAS thread buffers exist before the baseline
    if engine != "numpy":
        torch = _torch()
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
        baseline = _maxrss_mb()
        method = "ru_maxrss after - before"
    step = ENGINES[engine](spec, weights, data, threads)
    for _ in range(steps):
        step()
    peak = _rss_mb("VmHWM")
    if peak is None or "ru_maxrss" in method:
        peak = _maxrss_mb()
    return {"peak_mb": max(0.0, peak - baseline), "baseline_mb": baseline, "method": method}


def measure_memory(spec: dict, engine: str, threads: int, steps: int) -> Optional[dict]:
    """child_memory in a fresh subprocess (same interpreter and environment); None if it failed."""
    cmd = [sys.executable, os.path.abspath(__file__), json.dumps(spec), engine, str(threads), str(steps)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"  memory probe {engine} failed: {done.stderr.strip()[-300:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    spec_json, engine_name, n_threads, n_steps = sys.argv[1:5]
    print(json.dumps(child_memory(json.loads(spec_json), engine_name, int(n_threads), int(n_steps))))
