"""Fixtures that run one test against both the in-process transport and the real HTTP server."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from attsms.sandbox import SandboxConfig
from tests.helpers.sandbox_harness import (
    FakeClock,
    Harness,
    MakeSandbox,
    http_harness,
    inprocess_harness,
)


@pytest.fixture(params=["inprocess", "http"])
def make_sandbox(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeSandbox]:
    """make_sandbox(config=None, timeout=5.0): a Harness of this test's kind, closed afterwards."""
    with contextlib.ExitStack() as stack:
        made = 0

        def make(config: SandboxConfig | None = None, timeout: float = 5.0) -> Harness:
            nonlocal made
            made += 1
            clock = FakeClock()
            if request.param == "inprocess":
                path = tmp_path / f"sandbox-{made}" / "state.db"
                return stack.enter_context(inprocess_harness(path, config, clock, timeout))
            return stack.enter_context(http_harness(config, clock, timeout))

        yield make


@pytest.fixture
def sb(make_sandbox: MakeSandbox) -> Harness:
    """A default sandbox, in-process or over HTTP by parameter."""
    return make_sandbox()
