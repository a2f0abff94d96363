"""Docs stay true: every setting is in the README, every command has help with an example."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from conftest import ROOT

from kb.settings import SETTINGS
from kbcli import cli

README = (ROOT / "README.md").read_text()


@pytest.mark.parametrize("name", [s.name for s in SETTINGS])
def test_every_setting_is_documented_in_the_readme(name: str) -> None:
    assert f"`KB_{name}`" in README


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_command_has_help_with_an_example(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example:" in result.output


def test_settings_command_lists_every_setting() -> None:
    result = CliRunner().invoke(cli, ["settings"])
    assert result.exit_code == 0
    for s in SETTINGS:
        assert f"KB_{s.name}" in result.output
