"""The package outside the clone: the wheel `python -m build` makes, and `pip install .`, in a plain
virtual environment (NumPy only, no optional extras) train, save, resume, generate and evaluate on
the shipped corpora, and missing extras are one line, never a traceback."""
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--max-chars", "3000", "--hidden", "16", "--seq-len", "10", "--batch-size", "4", "--sample-length", "10"]


def run(command, cwd, check=True, timeout=300):
    """Run `command` with no trace of the clone in its environment; -> CompletedProcess (text)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    result = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, command))} failed ({result.returncode}):\n"
                             f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def copy_of_the_source(destination: Path) -> Path:
    """What a source distribution holds (no build leftovers, caches or egg-info of the clone)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    shutil.copytree(ROOT / "src", destination / "src", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, destination / name)
    return destination


@pytest.fixture(scope="module")
def plain_venv(tmp_path_factory):
    """A plain virtual environment (no system site-packages) with the built wheel installed."""
    for module in ("build", "setuptools"):
        try:
            __import__(module)
        except ImportError:
            pytest.skip(f"packaging test skipped: `{module}` is not installed (pip install {module})")
    base = tmp_path_factory.mktemp("packaging")
    source = copy_of_the_source(base / "source")
    run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", base / "dist", source], cwd=base)
    wheels = list((base / "dist").glob("rnnlab-*.whl"))
    assert len(wheels) == 1
    try:
        venv.EnvBuilder(with_pip=True, system_site_packages=False).create(base / "venv")
    except Exception as error:  # e.g. no ensurepip in this Python
        pytest.skip(f"packaging test skipped: cannot create a virtual environment with pip ({error})")
    bin_dir = base / "venv" / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"
    run([python, "-m", "pip", "install", "--quiet", wheels[0]], cwd=base)
    work = base / "work"
    work.mkdir()
    return {"python": python, "rnnlab": bin_dir / "rnnlab", "work": work, "source": source}


def no_traceback(result) -> None:
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.slow
def test_the_wheel_in_a_plain_venv_trains_resumes_generates_and_evaluates_on_the_shipped_corpus(plain_venv):
    rnnlab, work = plain_venv["rnnlab"], plain_venv["work"]
    files = run([plain_venv["python"], "-c", "import rnnlab, sys; print(rnnlab.__file__)"], cwd=work).stdout
    assert "site-packages" in files and str(ROOT) not in files
    trained = run([rnnlab, "train", "charlm", "--corpus", "tinyshakespeare", *TINY, "--epochs", "1",
                   "--run-dir", "run"], cwd=work)
    no_traceback(trained)
    assert (work / "run" / "checkpoints" / "last.safetensors").is_file()
    # no matplotlib here: the plot is skipped with a note naming the extra
    assert not (work / "run" / "curves.png").exists()
    assert "pip install 'rnnlab[plot]'" in trained.stdout
    # no tqdm and no terminal: plain progress lines
    assert "\r" not in trained.stderr
    resumed = run([rnnlab, "train", "--resume", "run", "--epochs", "2"], cwd=work)
    no_traceback(resumed)
    assert "resuming" in resumed.stdout
    generated = run([rnnlab, "generate", "run", "--prefix", "ROMEO:", "--length", "20", "--seed", "1"], cwd=work)
    assert "ROMEO:" in generated.stdout
    evaluated = run([rnnlab, "evaluate", "run", "--json"], cwd=work)
    assert "val_loss" in evaluated.stdout.splitlines()[-1]


@pytest.mark.slow
@pytest.mark.parametrize("command, extra", [
    (["train", "charlm", *TINY, "--epochs", "1", "--backend", "torch", "--run-dir", "torch-run"], "rnnlab[torch]"),
    (["train", "charlm", *TINY, "--epochs", "1", "--tensorboard", "tb", "--run-dir", "tb-run"],
     "rnnlab[tensorboard]"),
])
def test_a_missing_extra_is_one_line_naming_what_to_install(plain_venv, command, extra):
    result = run([plain_venv["rnnlab"], *command], cwd=plain_venv["work"], check=False)
    assert result.returncode == 2
    no_traceback(result)
    assert len(result.stderr.strip().splitlines()) == 1 and f"pip install '{extra}'" in result.stderr


@pytest.mark.slow
def test_pip_install_of_the_source_folder_not_editable_works_too(plain_venv):
    python, work = plain_venv["python"], plain_venv["work"]
    run([python, "-m", "pip", "install", "--quiet", "--force-reinstall", "--no-deps", plain_venv["source"]],
        cwd=work)
    files = run([python, "-c", "import rnnlab, sys; print(rnnlab.__file__)"], cwd=work).stdout
    assert "site-packages" in files
    trained = run([plain_venv["rnnlab"], "train", "charlm", "--corpus", "warpeace", *TINY, "--epochs", "1",
                   "--run-dir", "warpeace"], cwd=work)
    no_traceback(trained)
    assert (work / "warpeace" / "final.json").is_file()
