"""``maydo voice`` (speak a script in a regional accent) and ``maydo voices`` (the accent list)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from workers.commands.common import console, fail, print_json, settings_from


def _pipeline(ctx: typer.Context, coqui_model_dir: Path | None, piper_model: Path | None) -> Any:
    from pipelines.voice.pipeline_voice import VoiceConfig, VoicePipeline

    settings = settings_from(ctx)
    pool = settings.pools.get("voice")
    options = dict(pool.options) if pool is not None else {}
    if piper_model is not None:
        options["piper_model"] = str(piper_model)
    model_dir = coqui_model_dir or (pool.model_dir if pool is not None else None)
    return VoicePipeline(VoiceConfig.from_options(model_dir, options)), settings.limits.max_script_chars


def register(app: typer.Typer) -> None:
    @app.command("voice")
    def voice(
        ctx: typer.Context,
        text: str | None = typer.Argument(
            None, help="Script to speak (or use --file). Markup: \\[pause 300ms], *emphasis*."
        ),
        file: Path | None = typer.Option(None, "--file", "-f", help="Read the script from a UTF-8 text file."),
        accent: str | None = typer.Option(None, "--accent", "-a", help="Accent id (see `maydo voices`)."),
        location: str | None = typer.Option(
            None, "--location", help="Pick the accent from a customer location instead."
        ),
        engine: str | None = typer.Option(
            None, "--engine", "-e", help="espeak, flite, piper or coqui (default: the accent's, see `maydo voices`)."
        ),
        tone: str | None = typer.Option(None, "--tone", help="energetic, calm or empathetic."),
        rate: float | None = typer.Option(None, "--rate", help="Speaking-rate factor (0.5..2.0)."),
        pitch: float | None = typer.Option(None, "--pitch", help="Pitch factor (0.5..2.0)."),
        lufs: float = typer.Option(-16.0, "--lufs", help="Integrated loudness target (-16 social, -23 broadcast)."),
        commercial: bool = typer.Option(False, "--commercial", help="Refuse voices not licensed for commercial use."),
        voice_name: str | None = typer.Option(None, "--voice", help="Engine voice override (e.g. a coqui speaker)."),
        colloquial: bool = typer.Option(False, "--colloquial", help="Colloquial northern numbers (hai mươi nhăm)."),
        coqui_model_dir: Path | None = typer.Option(None, "--coqui-model-dir", help="Local Coqui model directory."),
        piper_model: Path | None = typer.Option(None, "--piper-model", help="Local Piper .onnx voice."),
        out: Path = typer.Option(..., "--out", "-o", help="Output file: .wav (48 kHz, 24-bit), .mp3 or .m4a."),
        as_json: bool = typer.Option(False, "--json", help="Print the result (timings, loudness) as JSON."),
    ) -> None:
        """Voice a script in a regional accent: loudness-normalised WAV + word timings."""
        from pipelines._common.errors import PipelineInputError
        from pipelines.voice.accents import resolve_accent
        from pipelines.voice.pipeline_voice import VoiceParams

        if (text is None) == (file is None):
            fail("give the script either as TEXT or with --file (exactly one)", code=2)
        if file is not None:
            if not file.is_file():
                fail(f"--file: not found: {file}", code=2)
            raw = file.read_bytes()
            try:
                script = raw.decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                fail(f"--file: {file} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                     "save the script as UTF-8", code=2)
            if "\x00" in script:
                fail(f"--file: {file} is a binary file, not a UTF-8 text script", code=2)
        else:
            script = text or ""
        try:
            pipe, max_chars = _pipeline(ctx, coqui_model_dir, piper_model)
            reason = None
            if accent is None:
                if location is None:
                    fail(f"give --accent (one of: {', '.join(pipe.registry.ids())}) or --location", code=2)
                choice = resolve_accent(location, pipe.registry)
                accent, reason = choice.accent_id, choice.reason
            params = VoiceParams(
                accent=accent, engine=engine, tone=tone, rate=rate, pitch=pitch, target_lufs=lufs,
                commercial=commercial, max_chars=max_chars, voice=voice_name, colloquial=colloquial,
            )  # fmt: skip
            result = pipe(script, params)
            result.save(out)
        except PipelineInputError as exc:
            fail(str(exc), code=2)
        if as_json:
            data = result.to_dict() | {"path": str(out)}
            if reason:
                data["accent_reason"] = reason
            print_json(data)
            return
        if reason:
            console.print(f"[dim]accent: {reason}[/]")
        for warning in result.warnings:
            console.print(f"[yellow]warning:[/] {warning}")
        console.print(
            f"[green]wrote[/] {out}  {result.duration:.2f}s  {result.loudness_lufs:.1f} LUFS  "
            f"{result.true_peak_dbtp:.1f} dBTP  {result.accent}/{result.engine}/{result.voice}  "
            f"{len(result.words)} words"
        )

    @app.command("voices")
    def voices(
        as_json: bool = typer.Option(False, "--json", help="Print the registry as JSON."),
    ) -> None:
        """List the regional accents with engine, voice, licence, commercial-use flag and measured
        intelligibility (WER of an offline recogniser, bench/voice.py --wer; above 0.15 labelled)."""
        from pipelines.voice.accents import load_registry

        reg = load_registry()
        rows = []
        for spec in reg:
            for name in spec.engines():
                v = spec.voice_for(name)
                rows.append({
                    "accent": spec.id, "language": spec.language, "dialect": spec.dialect, "engine": name,
                    "voice": v.voice, "licence": v.licence, "commercial_use": v.commercial_use,
                    "default": name == spec.engine, "label": spec.label, "wer": v.wer, "quality": v.quality,
                    "note": v.note,
                })  # fmt: skip
        if as_json:
            print_json(rows)
            return
        table = Table(title="maydo voices (configs/voices.yaml)")
        for col in ("accent", "language", "engine", "voice", "licence", "commercial", "WER"):
            table.add_column(col, overflow="fold")
        for r in rows:
            engine_cell = r["engine"] + (" (default)" if r["default"] else "")
            commercial_cell = "[green]yes[/]" if r["commercial_use"] else "[red]no[/]"
            wer_cell = "—" if r["wer"] is None else f"{r['wer']:.2f}"
            if r["note"]:
                wer_cell = f"[yellow]{r['note']}[/]"
            table.add_row(r["accent"], r["language"], engine_cell, r["voice"], r["licence"], commercial_cell, wer_cell)
        console.print(table)
