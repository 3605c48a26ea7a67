"""A check whose tool is missing must not pass quietly in CI."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.tools import require_tool

MISSING = "no-such-tool-for-registration-tests"


def test_a_missing_tool_fails_the_run_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="install it with apt"):
        require_tool(MISSING, "install it with apt")


def test_a_missing_tool_skips_the_check_on_a_developer_machine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        require_tool(MISSING, "install it with apt")


def test_a_tool_at_an_explicit_path_is_used_before_the_search_path(tmp_path: Path) -> None:
    tool = tmp_path / "checkov"
    tool.write_text("#!/bin/sh\n")
    assert require_tool("sh", "", path=tool) == str(tool)
