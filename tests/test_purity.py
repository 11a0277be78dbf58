"""pipelines/ is pure media code: importing any of it must not pull in Ray, HTTP or workers.

Production code (pipelines/, workers/) never imports the test-only builders in maydo_testing/.
"""

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import pipelines
import workers

FORBIDDEN = ("ray", "fastapi", "starlette", "uvicorn", "httpx", "sqlite3", "workers", "maydo_testing")
REPO = Path(pipelines.__file__).resolve().parents[1]


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


def _imported_roots(path: Path) -> set[str]:
    """Top-level names of every import in a file, including lazy imports inside functions."""
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            roots.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_production_never_imports_the_testing_builders():
    files = sorted((REPO / "pipelines").rglob("*.py")) + sorted((REPO / "workers").rglob("*.py"))
    assert len(files) > 50
    offenders = [str(f.relative_to(REPO)) for f in files if "maydo_testing" in _imported_roots(f)]
    assert offenders == [], f"production modules import maydo_testing: {offenders}"
    # and the builders really left the production packages
    for gone in ("pipelines/recolor/synthetic.py", "pipelines/recolor/diffusion_tiny.py",
                 "pipelines/voice/engines/coqui_tiny.py", "pipelines/voice/engines/piper_tiny.py"):
        assert not (REPO / gone).exists(), gone


def test_importing_workers_pulls_no_testing_builders():
    modules = sorted(m.name for m in pkgutil.walk_packages(workers.__path__, "workers."))
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "print(','.join(sorted(n for n in sys.modules if n.split('.')[0] == 'maydo_testing')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "", f"workers imported maydo_testing: {proc.stdout.strip()}"
