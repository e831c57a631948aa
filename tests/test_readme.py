"""The README tells the truth: its Python block runs, and every ``vslerp ...`` command line it
shows names a real command and only options that command has."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vslerp.cli import app

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, re.S)


def _command_lines() -> list[list[str]]:
    """Every ``vslerp ...`` invocation in the shell blocks, continuation lines joined."""
    lines = []
    for block in _blocks("sh"):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("vslerp "):
                lines.append(shlex.split(line)[1:])
    return lines


def test_the_readme_python_block_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (block,) = _blocks("python")
    (tmp_path / "assets").symlink_to(ROOT / "assets")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["path"].shape == (5, 3, 512)  # type: ignore[attr-defined]
    assert np.asarray(namespace["C"]).shape == (10_000,)
    assert 0.9 < namespace["fit"].pearson <= 1.0  # type: ignore[attr-defined]
    manifest = tmp_path / "grid_out" / "manifest.json"
    assert manifest.is_file() and (tmp_path / "grid_out" / "sheet.png").is_file()


def test_the_readme_shows_every_command() -> None:
    shown = {args[0] for args in _command_lines()}
    assert {"interpolate", "grid", "means", "conformity", "rank", "geometry"} <= shown


@pytest.mark.parametrize("args", _command_lines(), ids=lambda a: " ".join(a[:2]))
def test_readme_command_lines_use_real_options(args: list[str]) -> None:
    words = args[:2] if args[0] == "means" else args[:1]
    result = CliRunner().invoke(app, [*words, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for arg in args:
        option = arg.split("=", 1)[0]
        if option.startswith("--"):
            assert option in result.output, f"{' '.join(words)} has no {option}"
