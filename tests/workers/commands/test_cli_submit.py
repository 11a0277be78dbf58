"""``maydo submit recolor|voice|ad`` share one set of options and one submit path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from workers.cli import app

runner = CliRunner()
SHARED = ("--priority", "--wait", "--out", "--idempotency-key", "--campaign", "--json")


@pytest.mark.parametrize("command", ["recolor", "voice", "ad"])
def test_every_submit_command_has_the_shared_options(command: str) -> None:
    res = runner.invoke(app, ["submit", command, "--help"], terminal_width=200)
    assert res.exit_code == 0, res.output
    for option in SHARED:
        assert option in res.output, (command, option)


def test_submit_queues_with_the_shared_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAYDO_DATA_DIR", str(tmp_path / "d"))
    args = ["submit", "voice", "Xin chào", "--accent", "vi-north", "--priority", "interactive",
            "--idempotency-key", "k1", "--campaign", "c1", "--json"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    rec = json.loads(first.output)
    assert (rec["kind"], rec["status"], rec["lane"], rec["campaign_id"], rec["idempotency_key"]) == (
        "voice", "queued", "interactive", "c1", "k1")
    assert rec["params"] == {"text": "Xin chào", "accent": "vi-north"}
    again = runner.invoke(app, args)
    assert json.loads(again.output)["id"] == rec["id"]  # same key, same job
    # transitions the job's state does not allow exit 2 with the reason
    retry = runner.invoke(app, ["jobs", "retry", rec["id"]])
    assert retry.exit_code == 2 and "only failed or canceled" in retry.output
    assert runner.invoke(app, ["jobs", "cancel", rec["id"]]).exit_code == 0
    missing = runner.invoke(app, ["submit", "recolor", str(tmp_path / "nope.png"), "--to", "navy"])
    assert missing.exit_code == 2 and "file not found" in missing.output
