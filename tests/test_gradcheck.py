"""The finite-difference checker itself: correct numbers, parameters restored, clear failures."""
import numpy as np
import pytest

from rnnlab.cli import main
from rnnlab.engine.gradcheck import assert_gradients, check_gradients, format_report, numeric_gradients, relative_error
from rnnlab.engine.registry import cell_names


def _quadratic(seed=0):
    rng = np.random.default_rng(seed)
    params = {"a": rng.standard_normal((3, 4)), "b": rng.standard_normal(5)}
    loss = lambda: float((params["a"] ** 3).sum() + (params["b"] ** 2).sum())  # noqa: E731
    grads = {"a": 3 * params["a"] ** 2, "b": 2 * params["b"]}
    return params, grads, loss


def test_numeric_gradients_of_a_polynomial_equal_its_derivative():
    params, grads, loss = _quadratic()
    numeric = numeric_gradients(params, loss)
    for name, (idx, values) in numeric.items():
        np.testing.assert_array_equal(idx, np.arange(params[name].size))
        np.testing.assert_allclose(values, grads[name].reshape(-1), rtol=1e-8, atol=1e-9)


def test_numeric_gradients_restore_every_parameter_exactly():
    params, _, loss = _quadratic()
    before = {k: v.copy() for k, v in params.items()}
    numeric_gradients(params, loss)
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])


def test_max_elements_checks_a_seeded_random_subset_of_named_arrays():
    params, grads, loss = _quadratic()
    numeric = numeric_gradients(params, loss, names=["a"], max_elements=5, rng=np.random.default_rng(1))
    assert list(numeric) == ["a"]
    idx, values = numeric["a"]
    assert len(idx) == 5 and len(set(idx.tolist())) == 5
    np.testing.assert_allclose(values, grads["a"].reshape(-1)[idx], rtol=1e-8, atol=1e-9)


def test_check_gradients_reports_tiny_errors_for_correct_gradients():
    params, grads, loss = _quadratic()
    errors = check_gradients(params, grads, loss)
    assert set(errors) == {"a", "b"} and max(errors.values()) < 1e-6


def test_relative_error_uses_a_floor_where_both_values_are_near_zero():
    assert relative_error(np.array([0.0]), np.array([0.0]))[0] == 0.0
    assert relative_error(np.array([1e-12]), np.array([-1e-12]), floor=1e-4)[0] == pytest.approx(2e-8)
    assert relative_error(np.array([1.0]), np.array([3.0]))[0] == pytest.approx(0.5)


def test_a_wrong_gradient_fails_and_the_message_shows_ours_beside_the_numeric_value():
    params, grads, loss = _quadratic()
    grads["b"][2] *= 1.01
    with pytest.raises(AssertionError) as info:
        assert_gradients(params, grads, loss)
    message = str(info.value)
    assert "b[2]" in message and "ours" in message and "numeric" in message and "FAIL" in message


def test_check_gradients_prints_the_worst_element_when_above_threshold(capsys):
    params, grads, loss = _quadratic()
    grads["a"][1, 3] += 1.0
    check_gradients(params, grads, loss, threshold=1e-6)
    assert "a[1, 3]: ours" in capsys.readouterr().out


def test_format_report_lists_each_parameter_with_its_status():
    report = format_report({"weight": 1e-9, "bias": 0.1}, threshold=1e-6)
    lines = report.splitlines()
    assert len(lines) == 3
    assert lines[1].startswith("weight") and lines[1].endswith("ok")
    assert lines[2].startswith("bias") and lines[2].endswith("FAIL")


@pytest.mark.parametrize("cell", cell_names())
@pytest.mark.parametrize("flags", [["--layers", "2", "--bidirectional"], ["--bptt-truncate", "2"]],
                         ids=["2-layer-bidirectional", "truncated"])
def test_rnnlab_gradcheck_passes_for_every_registered_cell(cell, flags, capsys):
    assert main(["gradcheck", "--cell", cell, *flags]) == 0
    assert "PASS" in capsys.readouterr().out
