"""CLI answers to issue #13's bad inputs: exit 2 with the option/field named, never a traceback;
``campaign validate`` and ``campaign run --dry-run`` report what a run would reject, per row."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from pipelines._common.data import ASSETS_DIR
from workers.cli import app

runner = CliRunner()
DEMO = ASSETS_DIR / "demo"


def _no_traceback(result) -> None:  # type: ignore[no-untyped-def]
    assert "Traceback" not in result.output and not isinstance(result.exception, (AttributeError, OSError,
                                                                                  UnicodeDecodeError))


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    img = np.full((40, 40, 3), 235, np.uint8)
    img[10:30, 10:30] = (200, 30, 40)
    p = tmp_path / "shirt.png"
    Image.fromarray(img).save(p)
    return p


def test_recolor_out_at_an_existing_file_or_unwritable_dir(tmp_path: Path, photo: Path) -> None:
    existing = tmp_path / "taken.png"
    existing.write_bytes(b"x")
    res = runner.invoke(app, ["recolor", str(photo), "--to", "#1F9E6E", "-o", str(existing)])
    assert res.exit_code == 2 and "--out/-o" in res.output and "existing file" in res.output, res.output
    _no_traceback(res)
    assert existing.read_bytes() == b"x"  # untouched
    under_file = existing / "sub"  # a directory cannot be made under a file
    res = runner.invoke(app, ["recolor", str(photo), "--to", "#1F9E6E", "-o", str(under_file)])
    assert res.exit_code == 2 and "cannot write to directory" in res.output, res.output
    _no_traceback(res)
    if os.geteuid() != 0:  # root writes anywhere; the read-only case is only checkable as a user
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        res = runner.invoke(app, ["recolor", str(photo), "--to", "#1F9E6E", "-o", str(ro)])
        assert res.exit_code == 2 and "cannot write" in res.output


def test_voice_file_not_utf8_or_binary(tmp_path: Path) -> None:
    latin = tmp_path / "script.txt"
    latin.write_bytes("Giảm giá".encode("cp1258", errors="replace") + b" caf\xe9")
    res = runner.invoke(app, ["voice", "--file", str(latin), "--accent", "en-us", "-o", str(tmp_path / "a.wav")])
    assert res.exit_code == 2 and "--file" in res.output and "not UTF-8" in res.output, res.output
    _no_traceback(res)
    binary = tmp_path / "script.bin"
    binary.write_bytes(b"\x00\x01hello")
    res = runner.invoke(app, ["voice", "--file", str(binary), "--accent", "en-us", "-o", str(tmp_path / "b.wav")])
    assert res.exit_code == 2 and "binary" in res.output, res.output


@pytest.mark.parametrize("content,match", [
    (bytes(range(256)) * 4, "binary file"),
    (b"name: &a [*a]\nscenes: []\n", "recursive alias"),
    (b"x: " + b"[" * 3000, "nested deeper"),
])
def test_template_validate_binary_and_recursive_alias(tmp_path: Path, content: bytes, match: str) -> None:
    p = tmp_path / "t.yaml"
    p.write_bytes(content)
    res = runner.invoke(app, ["template", "validate", str(p), "--json"])
    assert res.exit_code == 2, res.output
    report = json.loads(res.stdout)
    assert not report["ok"] and any(match in e for e in report["errors"]), report
    _no_traceback(res)
    data = tmp_path / "d.json"
    data.write_bytes(b'{"a": NaN}')
    res = runner.invoke(app, ["template", "validate", str(ASSETS_DIR / "templates" / "bumper_6s.yaml"), "-d", str(data)])
    assert res.exit_code == 2 and "--data" in res.output and "NaN" in res.output


def _spec(tmp_path: Path, audience: bytes, **keys: str) -> Path:
    (tmp_path / "aud.csv").write_bytes(audience)
    lines = ["campaign_id: cli-check", f"catalogue: {DEMO / 'catalogue.yaml'}", f"copy: {DEMO / 'copy.yaml'}",
             f"audience: {tmp_path / 'aud.csv'}", "size: tiny"] + [f"{k}: {v}" for k, v in keys.items()]
    p = tmp_path / "c.yaml"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def test_campaign_validate_and_dry_run_report_rows_before_any_work(tmp_path: Path) -> None:
    audience = ("customer_id;first_name;age;location\r\n" "c1;Zoë;30;London\r\n" "c2;Ann;9;Texas\r\n").encode("cp1252")
    spec = _spec(tmp_path, audience, template="no_such_template")
    for args in (["campaign", "validate", str(spec), "--json"], ["campaign", "run", str(spec), "--dry-run", "--json"]):
        res = runner.invoke(app, args)
        assert res.exit_code == 1, res.output
        body = json.loads(res.stdout)
        assert body["valid"] == 0 and body["rows"] == 2
        assert {(e["row"], e["field"]) for e in body["errors"]} == {(2, "template"), (3, "age")}
    xlsx = _spec(tmp_path, b"PK\x03\x04...")
    (tmp_path / "aud.xlsx").write_bytes(b"PK\x03\x04")
    xlsx.write_text(xlsx.read_text(encoding="utf-8").replace("aud.csv", "aud.xlsx"), encoding="utf-8")
    res = runner.invoke(app, ["campaign", "validate", str(xlsx)])
    assert res.exit_code == 2 and "CSV UTF-8" in res.output, res.output
    _no_traceback(res)


def test_campaign_with_a_binary_local_template_exits_2(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_bytes(bytes(range(256)))
    spec = _spec(tmp_path, b"customer_id,first_name\nc1,An\n", template="t.yaml")
    res = runner.invoke(app, ["campaign", "validate", str(spec)])
    assert res.exit_code == 2 and "binary file" in res.output, res.output
    _no_traceback(res)


def test_campaign_music_file_problems_name_the_file_given(tmp_path: Path) -> None:
    # found by break-cli: a broken local music file was reported per row by its content hash
    # ("music 'e23b51a4…' is not audio ..."), a missing one as "unknown music bed 'x.m4a'"
    (tmp_path / "bed.m4a").write_text("not audio", encoding="utf-8")
    spec = _spec(tmp_path, b"customer_id,first_name\nc1,An\n", music="bed.m4a")
    res = runner.invoke(app, ["campaign", "validate", str(spec)], env={"COLUMNS": "300"})
    assert res.exit_code == 2, res.output
    assert "music" in res.output and "bed.m4a" in res.output and "not audio" in res.output, res.output
    _no_traceback(res)
    spec = _spec(tmp_path, b"customer_id,first_name\nc1,An\n", music="nothere.m4a")
    res = runner.invoke(app, ["campaign", "validate", str(spec)], env={"COLUMNS": "300"})
    assert res.exit_code == 2, res.output
    assert "nothere.m4a" in res.output and "not found" in res.output and "bed_upbeat" in res.output, res.output
    _no_traceback(res)


def test_campaign_validate_of_an_audience_without_rows_exits_2(tmp_path: Path) -> None:
    # found by break-cli: a header-only audience validated as "0/0 rows valid", exit 0
    spec = _spec(tmp_path, b"customer_id,first_name\n")
    res = runner.invoke(app, ["campaign", "validate", str(spec)], env={"COLUMNS": "300"})
    assert res.exit_code == 2 and "audience" in res.output and "no rows" in res.output, res.output
    _no_traceback(res)
