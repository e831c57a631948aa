"""The runnable examples run as a user runs them (a subprocess, offline) and write what their
docstrings promise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def run_example(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    result = subprocess.run([sys.executable, str(EXAMPLES / name), *args], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{name} failed:\n{result.stdout}\n{result.stderr}"
    return result


def test_interpolation_grid_example(tmp_path: Path) -> None:
    out = tmp_path / "grid"
    run_example("interpolation_grid.py", "--model", "tiny", "--rows", "3", "--cols", "2",
                "--steps", "2", "-o", str(out), cwd=tmp_path)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"].startswith("tiny")
    assert len(manifest["t"]) == 3 and len(manifest["alpha"]) == 2
    assert len(manifest["cells"]) == 6
    for cell in manifest["cells"]:
        assert (out / cell["file"]).is_file()
    with Image.open(out / "sheet.png") as sheet:
        assert sheet.width > 2 * 64 and sheet.height > 3 * 64


def test_prompt_edit_example(tmp_path: Path) -> None:
    out = tmp_path / "edit"
    run_example("prompt_edit.py", "--model", "tiny", "--steps", "2", "--t", "0", "0.5",
                "--alpha", "0", "1", "-o", str(out), cwd=tmp_path)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["t"] == [0.0, 0.5] and manifest["alpha"] == [0.0, 1.0]
    assert len(manifest["cells"]) == 4


@pytest.mark.parametrize("script", ["rank_generators.py", "rank_captioners.py"])
def test_ranking_examples_write_a_report(script: str, tmp_path: Path) -> None:
    out = tmp_path / "report"
    run_example(script, "-o", str(out), cwd=tmp_path)
    ranking = json.loads((out / "ranking.json").read_text())
    names = [s["name"] for s in ranking["sources"]]
    assert len(names) >= 3  # the reference row and at least two sources
    assert "Conformity ranking" in (out / "report.html").read_text(encoding="utf-8")
    assert (out / "ranking.csv").is_file()
    if script == "rank_generators.py":
        ranked = {s["name"]: s["rank"] for s in ranking["sources"] if s["name"] != "real"}
        assert ranked["varied"] < ranked["collapsed"]  # the docstring's claim
    else:
        means = {s["name"]: s["mean_conformity"] for s in ranking["sources"]}
        assert means["template"] > means["detailed"]  # generic captions conform more
