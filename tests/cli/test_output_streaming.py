"""Issue 16: documents written a piece at a time read exactly as one written whole."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from attsms.cli.output import to_jsonable
from attsms.send.plan import dry_run, plan_send
from tests.helpers.support import Cli


@pytest.mark.parametrize("count", [0, 1, 12_345])
def test_a_dry_run_json_document_is_the_one_json_dumps_writes(
    cli: Cli, tmp_path: Path, count: int
) -> None:
    numbers = [f"+1212{2000000 + i:07d}" for i in range(count)] or ["short:12345"]
    path = tmp_path / "to.txt"
    path.write_text("\n".join(numbers) + "\n")
    result = cli("send", "--to-file", str(path), "-m", "Gate ’B12’", "--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    plan = dry_run(plan_send(numbers, "Gate ’B12’"))
    whole = dataclasses.replace(plan, recipients=list(plan.recipients))
    expected = {"dry_run": True, **to_jsonable(whole)}
    assert result.stdout == json.dumps(expected, indent=2, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("flag", ["--json", None])  # send offers no --jsonl
def test_a_streamed_send_prints_every_row_in_batch_order(
    sandbox_http: Any, use_server: Any, cli: Cli, tmp_path: Path, flag: str | None
) -> None:
    server = use_server(sandbox_http())
    numbers = [f"+1212{3000000 + i:07d}" for i in range(260)]  # 6 requests, several at once
    path = tmp_path / "to.txt"
    path.write_text("\n".join(numbers) + "\n")
    result = cli("send", "--to-file", str(path), "-m", "hi", *([flag] if flag else []))
    assert result.exit_code == 0, result.stderr
    if flag == "--json":
        document = json.loads(result.stdout)
        rows = document["messages"]
        assert document["summary"]["accepted"] == 260
        assert document["summary"]["requests"] == 6
    else:
        rows = [
            dict(zip(("message_id", "to", "result"), line.split("\t"), strict=True))
            for line in result.lines
        ]
    assert [row["to"] for row in rows] == numbers
    assert {row["result"] for row in rows} == {"accepted"}
    delivered = server.stats()["delivered_to"]
    assert len(delivered) == 260 and set(delivered.values()) == {1}
