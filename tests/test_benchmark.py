"""The benchmarks' arithmetic and plumbing (timings are measured, never asserted)."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name):
    """A module of benchmarks/ (engine.py puts the folder on sys.path for its siblings)."""
    spec = importlib.util.spec_from_file_location(f"{name}_benchmark", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_benchmark():
    return load("engine")


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


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_recurrent_flops_grow_with_the_gate_count_the_cell_registry_gives(cell):
    from rnnlab.engine.registry import get_cell

    load_benchmark()
    flops = load("flops")
    base = flops.CONFIGS["a"]
    head = 3 * 2 * base["T"] * base["B"] * base["model"]["hidden_size"] * base["model"]["output_size"]
    spec_rnn = {**base, "model": {**base["model"], "cell": "rnn"}}
    spec_cell = {**base, "model": {**base["model"], "cell": cell}}
    rnn = flops.step_flops(spec_rnn) - head
    assert flops.step_flops(spec_cell) - head == get_cell(cell).num_gates * rnn


def test_the_benchmark_reruns_itself_without_the_openblas_kernel_overrides(monkeypatch):
    machine = load("machine")
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.setenv("OPENBLAS_L2_SIZE", "1048576")
    calls = []
    monkeypatch.setattr(os, "execve", lambda exe, args, env: calls.append((args, env)))
    machine.native_blas("benchmarks/engine.py", ["--quick"], keep=False)
    (args, env), = calls
    assert args[-1] == "--quick" and args[-2].endswith("engine.py")
    assert "OPENBLAS_CORETYPE" not in env and "OPENBLAS_L2_SIZE" not in env
    assert env.get("PATH") == os.environ.get("PATH")


def test_keep_blas_env_or_a_clean_environment_runs_in_place(monkeypatch):
    machine = load("machine")
    monkeypatch.setattr(os, "execve", lambda *a: pytest.fail("should not re-exec"))
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    machine.native_blas("engine.py", [], keep=True)
    monkeypatch.delenv("OPENBLAS_CORETYPE")
    monkeypatch.delenv("OPENBLAS_L2_SIZE", raising=False)
    machine.native_blas("engine.py", [], keep=False)


def test_blas_info_says_unknown_without_threadpoolctl(monkeypatch):
    machine = load("machine")
    monkeypatch.setattr(machine, "_threadpools", lambda: None)
    info = machine.blas_info()
    assert info["core_type"] == "unknown" and info["threading"] == "unknown"
    assert info["blas_threads"] >= 1


@pytest.mark.parametrize("shapes, bucket", [
    ([[20, 200], [200, 800]], "recurrent products"),       # h_{t-1} @ W_hh^T, B = 20
    ([[20, 800], [800, 200]], "recurrent products"),       # dg_t @ W_hh
    ([[800, 20], [20, 200]], "weight-grad products"),      # a per-step dW_hh
    ([[700, 200], [200, 10000]], "head"),                  # h @ W^T
    ([[10000, 700], [700, 200]], "head"),                  # dz^T h
    ([[700, 10000], [10000, 200]], "head"),                # dz W
    ([[800, 700], [700, 200]], "weight-grad products"),    # dW_ih over the sequence
    ([[10000], [700, 200], [200, 800]], "input projection"),  # addmm: bias, x, W_ih^T
])
def test_torch_matrix_products_are_put_in_the_bucket_their_shapes_name(shapes, bucket):
    load_benchmark()
    breakdown = load("breakdown")
    dims = {"N": 700, "B": 20, "G": 800, "V": 10000, "I": 200}
    assert breakdown._product_bucket(shapes, dims) == bucket


def test_the_scaling_sweeps_vary_one_size_at_a_time_around_a_shared_base():
    load_benchmark()
    scaling = load("scaling")
    base = {"hidden_size": 512, "B": 32, "T": 100}
    pts = scaling.points(scaling.SWEEPS, base)
    assert len(pts) == sum(len(v) for v in scaling.SWEEPS.values())
    for axis, value, sizes in pts:
        assert sizes[axis] == value
        assert {k: v for k, v in sizes.items() if k != axis} == {k: v for k, v in base.items() if k != axis}


@pytest.mark.parametrize("extra", [[], ["--profile"]])
def test_engine_benchmark_runs_end_to_end_on_numpy(extra):
    done = subprocess.run([sys.executable, str(BENCHMARKS / "engine.py"), "--quick", "--configs", "c-rnn",
                           "--only", "numpy", "--no-memory", "--repeats", "1", "--keep-blas-env", *extra],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "c-rnn" in done.stdout and "core type" in done.stdout


def test_the_layouts_benchmark_times_every_form_of_the_per_step_products_for_each_shape():
    done = subprocess.run([sys.executable, str(BENCHMARKS / "layouts.py"), "--shapes", "4x8x4,3x5x1",
                           "--rounds", "1", "--keep-blas-env"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "B 4, H 8, 4 gates" in done.stdout and "B 3, H 5, 1 gates" in done.stdout
    for form in ("h @ W^T (NN, engine)", "W @ h^T, state^T", "dg @ W (NN, engine)", "cells.transposed(W)"):
        assert done.stdout.count(form) == 2


@pytest.mark.parametrize("shapes", ["4x8", "0x8x4", "axbxc", ""])
def test_the_layouts_benchmark_rejects_shapes_that_are_not_positive_bxhxg_triples(shapes):
    done = subprocess.run([sys.executable, str(BENCHMARKS / "layouts.py"), "--shapes", shapes, "--keep-blas-env"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "BxHxG" in done.stderr
