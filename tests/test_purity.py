"""pipelines/ is pure media code: importing any of it must not pull in Ray, HTTP or workers."""

import pkgutil
import subprocess
import sys

import pipelines

FORBIDDEN = ("ray", "fastapi", "starlette", "uvicorn", "httpx", "sqlite3", "workers")


def test_importing_pipelines_pulls_no_runtime():
    modules = sorted(m.name for m in pkgutil.walk_packages(pipelines.__path__, "pipelines."))
    assert "pipelines._common.images" in modules
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"bad = sorted(n for n in sys.modules if n.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "", f"pipelines imported forbidden modules: {proc.stdout.strip()}"


def test_cli_help_is_fast_and_light():
    code = "import sys; import workers.cli; print(','.join(m for m in ('torch','diffusers','TTS','ray','moviepy') if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "", f"`maydo --help` imports heavy modules: {proc.stdout.strip()}"
