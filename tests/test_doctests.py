"""The examples in rnnlab's docstrings run and print what they say (modules needing a missing extra are skipped)."""
import doctest
import importlib
import pkgutil

import pytest

import rnnlab

MODULES = sorted(name for _, name, _ in pkgutil.walk_packages(rnnlab.__path__, "rnnlab.")
                 if not name.endswith(".__main__"))  # importing one runs its command


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example that writes files writes them here
    try:
        module = importlib.import_module(name)
    except ImportError as error:  # an optional extra (torch, onnx, ...) is not installed
        pytest.skip(f"{name} needs {error.name}")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples in {name} failed"
