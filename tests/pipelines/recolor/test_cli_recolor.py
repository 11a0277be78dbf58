"""``maydo recolor`` through typer's CliRunner: files, table, JSON, errors with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from maydo_testing.synthetic import render_product
from workers.cli import app

runner = CliRunner()


def _product(tmp_path: Path) -> Path:
    p = render_product("mug", 128, color=(30, 90, 170), logo_color=(240, 200, 40), seed=1)
    f = tmp_path / "mug.png"
    Image.fromarray(p.image).save(f)
    np.save(tmp_path / "mask.npy", p.mask)
    Image.fromarray(p.mask.astype(np.uint8) * 255).save(tmp_path / "mask.png")
    return f


def test_cli_writes_pngs_and_json(tmp_path: Path) -> None:
    img = _product(tmp_path)
    out = tmp_path / "out"
    r = runner.invoke(app, ["recolor", str(img), "--to", "đỏ", "--to", "acme:jade", "-o", str(out), "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert [e["target"]["hex"] for e in data["entries"]] == ["#D7261E", "#00A36C"]
    for e in data["entries"]:
        f = Path(e["file"])
        assert f.is_file() and f.parent == out
        assert e["report"]["median_de00"] <= 2.0 and e["report"]["max_abs_outside"] == 0
        assert Image.open(f).size == (128, 128)
    assert sorted(p.name for p in out.iterdir()) == [  # no temp files left
        "mug.mask.png", "mug_acme-jade.cutout.png", "mug_acme-jade.png", "mug_do.cutout.png", "mug_do.png"]
    cut = Image.open(out / "mug_do.cutout.png")
    assert cut.mode == "RGBA" and cut.size == (128, 128)


def test_cli_table_with_mask_and_from(tmp_path: Path) -> None:
    img = _product(tmp_path)
    r = runner.invoke(app, ["recolor", str(img), "--to", "navy", "--mask", str(tmp_path / "mask.png"),
                            "--from", "#1E5AAA", "-o", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    assert "navy" in r.stdout and "given" in r.stdout
    assert (tmp_path / "o" / "mug_navy.png").is_file()


def test_cli_bad_inputs_exit_2(tmp_path: Path) -> None:
    img = _product(tmp_path)
    r = runner.invoke(app, ["recolor", str(img), "--to", "blu", "-o", str(tmp_path / "o")])
    assert r.exit_code == 2 and "did you mean" in r.stderr and "blue" in r.stderr
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    r = runner.invoke(app, ["recolor", str(bad), "--to", "red", "-o", str(tmp_path / "o")])
    assert r.exit_code == 2 and "error" in r.stderr
    full = tmp_path / "full.png"
    Image.new("L", (128, 128), 255).save(full)
    r = runner.invoke(app, ["recolor", str(img), "--to", "red", "--mask", str(full), "-o", str(tmp_path / "o")])
    assert r.exit_code == 2 and "whole frame" in r.stderr
    r = runner.invoke(app, ["recolor", str(img), "--to", "red", "--engine", "magic", "-o", str(tmp_path / "o")])
    assert r.exit_code == 2 and "exact, diffusion" in r.stderr
    r = runner.invoke(app, ["recolor", str(img), "--to", "red", "--engine", "diffusion", "-o", str(tmp_path / "o")])
    assert r.exit_code == 2 and "--model-dir" in r.stderr
    r = runner.invoke(app, ["recolor", str(img), "--to", "red", "--engine", "diffusion", "--model-dir",
                            str(tmp_path / "no-model"), "-o", str(tmp_path / "o")])
    assert r.exit_code == 2 and "error" in r.stderr
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_cli_coffee_to_navy_with_no_flags(tmp_path: Path, monkeypatch) -> None:
    """The issue's command on the real photo: output next to it, cut-out + mask, U²-Net-p named."""
    from tests.pipelines.recolor.photos import coffee, models_dir

    monkeypatch.setenv("MAYDO_MODELS_DIR", str(models_dir()))
    f = tmp_path / "coffee.png"
    Image.fromarray(coffee()).save(f)
    r = runner.invoke(app, ["recolor", str(f), "--to", "navy"])
    assert r.exit_code == 0, r.output
    flat = " ".join(r.stdout.split())  # rich wraps long lines at the terminal width
    assert "mask u2netp" in flat and "not a plain studio backdrop" in flat and "main colour" in flat
    assert sorted(p.name for p in tmp_path.iterdir()) == ["coffee.mask.png", "coffee.png", "coffee_navy.cutout.png",
                                                          "coffee_navy.png"]
    assert Image.open(tmp_path / "coffee_navy.cutout.png").mode == "RGBA"
    r = runner.invoke(app, ["recolor", str(f), "--to", "navy", "--json", "--no-cutout", "-o", str(tmp_path / "o")])
    e = json.loads(r.stdout)["entries"][0]
    assert e["mask_source"] == "u2netp" and e["report"]["changed_outside_px"] > 0 and "cutout" not in e
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["coffee_navy.png"]


def test_cli_missing_model_exit_2_names_install_command(tmp_path: Path, monkeypatch) -> None:
    from tests.pipelines.recolor.photos import coffee

    monkeypatch.setenv("MAYDO_MODELS_DIR", str(tmp_path / "nomodels"))
    f = tmp_path / "coffee.png"
    Image.fromarray(coffee()).save(f)
    r = runner.invoke(app, ["recolor", str(f), "--to", "navy"])
    assert r.exit_code == 2 and "maydo models install" in r.stderr and "Traceback" not in r.output


def test_cli_diffusion_options_and_gif_warning(tmp_path: Path) -> None:
    img = _product(tmp_path)
    r = runner.invoke(app, ["recolor", str(img), "--to", "red", "--steps", "10"])
    assert r.exit_code == 2 and "--engine diffusion" in r.stderr
    r = runner.invoke(app, ["recolor", str(img), "--to", "red", "--engine", "diffusion", "--model-dir", str(tmp_path),
                            "--strength", "1.5"])
    assert r.exit_code == 2 and "strength" in r.stderr
    r = runner.invoke(app, ["recolor", str(img), "--to", "red", "--engine", "diffusion", "--model-dir", str(tmp_path),
                            "--resolution", "10"])
    assert r.exit_code == 2 and "resolution" in r.stderr
    r = runner.invoke(app, ["recolor", str(img), "--to", "red", "--onnx-model", str(tmp_path / "m.onnx"),
                            "--onnx-preprocess", "{not json"])
    assert r.exit_code == 2 and "--onnx-preprocess" in r.stderr
    frames = [Image.open(img).convert("RGB"), Image.open(img).convert("RGB").rotate(90)]
    gif = tmp_path / "anim.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100, loop=0)
    r = runner.invoke(app, ["recolor", str(gif), "--to", "red", "-o", str(tmp_path / "g")])
    assert r.exit_code == 0, r.output
    flat = " ".join(r.stdout.split())
    assert "only the first frame is used" in flat and "2 frames" in flat
