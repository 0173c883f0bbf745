"""Timing engines side by side: interleaved rounds, paired ratios.

Both engines are built from the same weights and data, warmed up, then measured
interleaved (numpy, torch, torch, numpy, ...), `repeats` rounds of `steps` steps each. The
ratio numpy/X is the median over rounds of that round's paired ratio (X's step time over
numpy's, the two measured back to back): a shared machine's speed drifts by tens of percent
between rounds, and pairing cancels the drift that a ratio of the two medians keeps.
Each engine's turn in a round starts with one untimed step: right after a switch, the other
engine's threads are still spinning (OpenBLAS's and torch's OpenMP workers wait busy for a
while after their last job) and its data fills the cache.
"""
from __future__ import annotations

import statistics
import time
from typing import Dict

from engines import make_data, make_weights
from machine import machine_probe


def time_config(spec: dict, engines: Dict[str, object], threads: int, repeats: int, steps: int,
                warmup: int) -> dict:
    """engines: name -> builder. -> {"times": name -> [s per step per round], "first_loss", "machine"}."""
    weights, data = make_weights(spec), make_data(spec)
    closures = {name: build(spec, weights, data, threads) for name, build in engines.items()}
    names = list(closures)
    first_loss = {name: closures[name]() for name in names}  # same weights, same batch: should agree
    for _ in range(warmup - 1):
        for name in names:
            closures[name]()
    times: Dict[str, list] = {name: [] for name in names}
    probe, machine = machine_probe(), []
    for r in range(repeats):
        machine.append(probe())  # the machine's rate right now: '% of machine' per round
        order = names if r % 2 == 0 else names[::-1]  # alternate who goes first
        for name in order:
            closures[name]()  # untimed: it absorbs the switch from the other engine (above)
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
