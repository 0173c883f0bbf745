"""The engine benchmark's arithmetic (the timing itself is measured, never asserted)."""
import importlib.util
from pathlib import Path

import pytest


def load_benchmark():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "engine.py"
    spec = importlib.util.spec_from_file_location("engine_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_paired_ratio_cancels_a_host_that_slows_down_between_rounds():
    bench = load_benchmark()
    numpy_times = [1.0, 2.0, 4.0]  # the host halves its speed twice
    other_times = [1.25, 2.5, 5.0]  # the other engine is 25% slower in every round
    ratio = bench.paired_ratio(numpy_times, other_times)
    assert ratio["median"] == pytest.approx(1.25)
    assert ratio["min"] == pytest.approx(1.25) and ratio["max"] == pytest.approx(1.25)


def test_paired_ratio_reports_the_spread_of_rounds():
    bench = load_benchmark()
    ratio = bench.paired_ratio([1.0, 1.0, 1.0], [0.8, 1.0, 1.5])
    assert (ratio["min"], ratio["median"], ratio["max"]) == pytest.approx((0.8, 1.0, 1.5))
    assert ratio["rounds"] == pytest.approx([0.8, 1.0, 1.5])
