"""The ``cnnmath`` command line as a whole: help, version, every subcommand's --help, errors.

Run as a user runs it: ``python -m cnnmath ...`` (and the installed ``cnnmath`` script when
it is on PATH) in a subprocess.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import pkgutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import cnnmath
import cnnmath.commands
from helpers import fifo_never_hangs

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
    """The public functions, classes and methods the module defines, or (a package) exports
    from its own modules, without a docstring."""
    missing = []
    for name, obj in vars(module).items():
        home = getattr(obj, "__module__", None) or ""
        if name.startswith("_") or not (
            home == module.__name__ or home.startswith(module.__name__ + ".")
        ):
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


# -- hostile use (issue 9) ---------------------------------------------------------------------


def _without_unbuffered() -> dict[str, str]:
    # PYTHONUNBUFFERED would write each print at once and hide the failing flush at exit
    return {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


@pytest.mark.parametrize(
    "argv", [["--version"], ["--help"], ["filter", "--help"], ["bench", "--help"]]
)
def test_a_closed_stdout_stops_quietly(argv):
    """Finding 5: stdout's reader gone before the first byte (``| (exec <&-; sleep 3)``)."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will ever read: every write is EPIPE
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "cnnmath", *argv],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            env=_without_unbuffered(),
        )
    finally:
        os.close(write_end)
    assert proc.stderr == ""  # not "Exception ignored ... BrokenPipeError"
    assert proc.returncode == 1  # Python's advice for SIGPIPE; 120 is a failed flush at exit


_SLOW_SAVE = """
import sys, time
import PIL.Image
def slow_save(self, fp, *args, **kwargs):  # half a file, then a long wait
    fp.write(b"half an image")
    fp.flush()
    print("writing", flush=True)
    time.sleep(60)
PIL.Image.Image.save = slow_save
from cnnmath.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_during_a_write_leaves_no_temporary_file(tmp_path, signum):
    """Finding 9: SIGTERM runs the same clean-up as Ctrl-C: no hidden ``.part`` file left."""
    Image = pytest.importorskip("PIL.Image")
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "in.png")
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLOW_SAVE, "filter", "grayscale", "in.png", "-o", "out.png"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a test run started in the background by a non-interactive shell inherits SIGINT
        # ignored, and Python keeps it so (no KeyboardInterrupt): give the child Ctrl-C back
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert proc.stdout.readline() == "writing\n"
        assert any(p.name.endswith(".part") for p in tmp_path.iterdir())  # mid-write
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    expected = (143, "terminated") if signum == signal.SIGTERM else (130, "interrupted")
    assert (proc.returncode, err.strip()) == (expected[0], f"cnnmath filter: {expected[1]}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]


def test_sigterm_handler_is_put_back(tmp_path, capsys):
    from cnnmath.cli import main

    assert main(["filter", "gradient", str(tmp_path / "no.png"), "-o", str(tmp_path / "o")]) == 2
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


@pytest.mark.parametrize(
    ("argv", "phrase"),
    [
        (["--repeats", "0"], "argument --repeats: expected a whole number >= 1, got 0"),
        (["--repeats", "x"], "argument --repeats: expected a whole number >= 1, got 'x'"),
        (["--threads", "0"], "argument --threads: expected comma-separated counts >= 1"),
        (["--threads", "1,two"], "got '1,two'"),
        (["--memory-size", "2"], "argument --memory-size: expected a whole number >= 3, got 2"),
    ],
)
def test_bench_usage_errors_are_one_line_on_stderr(argv, phrase):
    """Finding 6: errors on stderr (not stdout), one line, status 2, named `cnnmath bench`."""
    proc = cnnmath_cli("bench", *argv)
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cnnmath bench: error: "), proc.stderr
    assert phrase in lines[0] and "python -m" not in lines[0]


# ---------------------------------------------------------------------------------------------
# Files a user hands in are untrusted: anything but a regular file is refused before it is
# opened (a FIFO's open blocks until a writer comes; /dev/zero reads until memory runs out).


# (argv with {bad} the path under test, the argument the message must name, what is written
# when nothing is refused); {png} a readable image, {weights} lenet's weights, {tmp} a folder
NOT_REGULAR = [
    (["filter", "gradient", "{bad}.png", "-o", "{tmp}/o.png"], "INPUT", "o.png"),
    (["filter", "gradient", "{bad}.tif", "-o", "{tmp}/o.zarr"], "INPUT", "o.zarr"),  # lazy
    (
        ["filter", "conv", "{png}", "-o", "{tmp}/o.png", "--kernel-file", "{bad}.npy"],
        "--kernel-file",
        "o.png",
    ),
    (["predict", "{weights}", "{bad}.png", "--arch", "lenet"], "IMAGE", None),
    (["predict", "{bad}.safetensors", "{png}", "--arch", "lenet"], "MODEL", None),
    (["predict", "{bad}.onnx", "{png}"], "MODEL", None),
    (
        ["predict", "{weights}", "{png}", "--arch", "lenet", "--labels", "{bad}.txt"],
        "--labels",
        None,
    ),
    (["summary", "{bad}.safetensors", "--arch", "lenet", "--input", "1", "8", "8"], "MODEL", None),
    (["summary", "{bad}.onnx", "--input", "1", "8", "8"], "MODEL", None),
    (["train", "--resume", "{bad}.ckpt", "--quiet"], "--resume", None),
    (["explore", "{bad}.safetensors", "--arch", "lenet", "-o", "{tmp}/page"], "MODEL", "page"),
    (["explore", "lenet", "-o", "{tmp}/page", "--quiet"], "-o", None),
]


@pytest.mark.parametrize("kind", ["fifo", "device"])
@pytest.mark.parametrize(
    ("argv", "argument", "written"),
    NOT_REGULAR,
    ids=[
        f"{a[0]} {arg}" + next((w[5:] for w in a if w.startswith("{bad}")), "/index.html")
        for a, arg, _ in NOT_REGULAR
    ],
)
def test_a_fifo_or_a_device_as_an_input_file_is_refused_before_it_is_opened(
    tmp_path, capsys, kind, argv, argument, written
):
    pytest.importorskip("safetensors")
    from PIL import Image

    from cnnmath import models, weights
    from cnnmath.cli import main

    if kind == "device" and not Path(os.devnull).exists():
        pytest.skip("no character device to link to")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "in.png")
    weights.save(models.lenet(0), tmp_path / "w.safetensors")
    bad = tmp_path / "bad"
    words = [
        a.format(bad=bad, png=tmp_path / "in.png", weights=tmp_path / "w.safetensors", tmp=tmp_path)
        for a in argv
    ]
    if argument == "-o":  # the index.html the page would replace
        target = tmp_path / "page" / "index.html"
        target.parent.mkdir()
    else:
        target = Path(next(w for w in words if w.startswith(str(bad))))
    with contextlib.ExitStack() as stack:
        if kind == "fifo":
            stack.enter_context(fifo_never_hangs(target))
            what = "is a FIFO (named pipe), not a regular file"
        else:  # reading /dev/null ends at once: it stands in for /dev/zero, which never ends
            target.symlink_to(os.devnull)
            what = f"(a link to {os.devnull}) is a character device, not a regular file"
        status = main(words)
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1, err
    assert err.startswith(f"cnnmath {argv[0]}: error: {argument}: '{target}' {what}"), err
    assert target.is_fifo() if kind == "fifo" else target.is_symlink()  # left as it was
    if written is not None:
        assert not (tmp_path / written).exists()


@pytest.mark.parametrize(
    ("argv", "phrase"),
    [
        (["--input", "1", "8", "8", "--batch", "10" * 10], "--input 1 8 8 with --batch 1010"),
        (["--input", "3", "9" * 20, "8"], f"--input 3 {'9' * 20} 8 with --batch 1:"),
    ],
)
def test_summary_of_an_input_no_memory_holds_names_the_options(capsys, argv, phrase):
    from cnnmath.cli import main

    assert main(["summary", "lenet", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"cnnmath summary: error: {phrase}"), err
    assert "GiB are available; give a smaller --input or --batch" in err
