"""The ``cnnmath`` command line as a whole: help, version, every subcommand's --help, errors.

Run as a user runs it: ``python -m cnnmath ...`` (and the installed ``cnnmath`` script when
it is on PATH) in a subprocess.
"""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import cnnmath
import cnnmath.commands

# The commands the issue asks for: all reachable from `cnnmath --help`.
REQUIRED = ("tour", "verify", "filter", "train", "bench")
DISCOVERED = sorted(
    info.name
    for info in pkgutil.iter_modules(cnnmath.commands.__path__)
    if not info.name.startswith("_")
)


def cnnmath_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cnnmath", *args], capture_output=True, text=True, timeout=120
    )


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_version():
    proc = cnnmath_cli("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"cnnmath {cnnmath.__version__}"


def test_help_lists_every_command():
    proc = cnnmath_cli("--help")
    assert proc.returncode == 0 and proc.stdout.startswith("usage: cnnmath")
    listed = {line.split()[0] for line in proc.stdout.splitlines() if line.startswith("    ")}
    missing = [name for name in REQUIRED if name not in listed]
    assert not missing, f"not in cnnmath --help: {missing}"
    assert set(DISCOVERED) <= listed


def test_no_command_prints_help():
    proc = cnnmath_cli()
    assert proc.returncode == 0 and "usage: cnnmath" in proc.stdout


@pytest.mark.parametrize("name", DISCOVERED)
def test_every_command_has_help(name):
    proc = cnnmath_cli(name, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("argv", "phrase"),
    [
        (["nope"], "cnnmath: error: argument COMMAND: invalid choice: 'nope'"),
        # an unknown option is reported by the subcommand it was given to...
        (["tour", "--bogus"], "cnnmath tour: error: unrecognized arguments: --bogus"),
        (["verify", "--bogus"], "cnnmath verify: error: unrecognized arguments: --bogus"),
        (
            ["verify", "--json", "--bogus=1", "extra"],
            "cnnmath verify: error: unrecognized arguments: --bogus=1 extra",
        ),
        # ...and by cnnmath itself when it came before the subcommand
        (["--bogus", "verify"], "cnnmath: error: unrecognized arguments: --bogus"),
        (["--bogus"], "cnnmath: error: unrecognized arguments: --bogus"),
        (["filter", "--k", "2"], "required"),
    ],
)
def test_usage_errors_are_one_line(argv, phrase):
    proc = cnnmath_cli(*argv)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and phrase in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    if argv[:1] in (["tour"], ["verify"]):  # the help it points at is the subcommand's
        assert lines[0].endswith(f"(see cnnmath {argv[0]} --help)")


def test_top_level_help_documents_cnnmath_debug():
    proc = cnnmath_cli("--help")
    assert proc.returncode == 0 and "CNNMATH_DEBUG" in proc.stdout


def _missing_input_argv(tmp_path):
    return ["filter", "gradient", str(tmp_path / "missing.png"), "-o", str(tmp_path / "o.png")]


def test_user_errors_are_one_line_unless_cnnmath_debug(tmp_path, monkeypatch, capsys):
    from cnnmath.cli import CLIError, main

    monkeypatch.delenv("CNNMATH_DEBUG", raising=False)
    assert main(_missing_input_argv(tmp_path)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cnnmath filter: error: INPUT: no such file")

    monkeypatch.setenv("CNNMATH_DEBUG", "1")
    with pytest.raises(CLIError, match="no such file"):
        main(_missing_input_argv(tmp_path))

    monkeypatch.setenv("CNNMATH_DEBUG", "")  # set but empty: off
    assert main(_missing_input_argv(tmp_path)) == 2


def test_cnnmath_debug_shows_the_traceback(tmp_path):
    env = {**os.environ, "CNNMATH_DEBUG": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "cnnmath", *_missing_input_argv(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 1  # an uncaught exception, as Python exits on one
    assert "Traceback" in proc.stderr and "CLIError: INPUT: no such file" in proc.stderr


# Modules whose every public function, class and method must say what it does.
DOCUMENTED = (
    "cli",
    "results",
    "tour",
    "images",
    "train",
    "nn",
    "optim",
    "commands.tour",
    "commands.filter",
    "commands.verify",
)


def _undocumented(module) -> list[str]:
    missing = []
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        if not (obj.__doc__ or "").strip():
            missing.append(name)
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():  # its own methods, overrides included
                if attr.startswith("_"):
                    continue
                func = member.fget if isinstance(member, property) else member
                func = getattr(func, "__func__", func)  # classmethod, staticmethod
                if inspect.isfunction(func) and not (func.__doc__ or "").strip():
                    missing.append(f"{name}.{attr}")
    return missing


@pytest.mark.parametrize("name", DOCUMENTED)
def test_public_api_has_docstrings(name):
    module = importlib.import_module(f"cnnmath.{name}")
    assert _undocumented(module) == []


def test_bench_forwards_every_argument():
    """With a stand-in for cnnmath.bench, the arguments after `bench` arrive unchanged."""
    code = (
        "import sys, types\n"
        "fake = types.ModuleType('cnnmath.bench')\n"
        "def main(argv=None):\n"
        "    print('got', argv)\n"
        "    return 3\n"
        "fake.main = main\n"
        "sys.modules['cnnmath.bench'] = fake\n"
        "from cnnmath.cli import main as cli\n"
        "sys.exit(cli(['bench', '--repeat', '3', 'conv', '--help']))\n"
    )
    proc = run_python(code)
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout.strip() == "got ['--repeat', '3', 'conv', '--help']"


def test_bench_missing_is_a_clear_error():
    code = (
        "import sys\n"
        "sys.modules['cnnmath.bench'] = None  # makes `import cnnmath.bench` fail\n"
        "from cnnmath.cli import main\n"
        "sys.exit(main(['bench']))\n"
    )
    proc = run_python(code)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cnnmath.bench" in lines[0] and "Traceback" not in proc.stderr


SCRIPT = Path(sys.executable).parent / "cnnmath"


@pytest.mark.skipif(not SCRIPT.exists(), reason="cnnmath is not installed beside this Python")
def test_console_script():
    proc = subprocess.run([SCRIPT, "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == f"cnnmath {cnnmath.__version__}"
