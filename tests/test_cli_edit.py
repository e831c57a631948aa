"""``vslerp interpolate`` / ``vslerp grid`` on the tiny backend (CliRunner and one real
subprocess of the installed console script)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vslerp.cli import app
from vslerp.editors import load_editor
from vslerp.errors import InputError
from vslerp.grid import GridResult, interpolate, parse_values
from vslerp.imaging import load_image, save_image
from vslerp.tiny import generated_images

runner = CliRunner()


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("pics")
    a, b = generated_images(2, 64, 30)
    return save_image(a, folder / "a.png"), save_image(b, folder / "b.png")


def _ok(result) -> None:
    assert result.exit_code == 0, (result.output, result.exception)


def test_parse_values():
    assert parse_values("--t", "0:1:5") == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert parse_values("--alpha", "-2:2:3") == [-2.0, 0.0, 2.0]
    assert parse_values("--t", "0.1, 0.7") == [0.1, 0.7]
    assert parse_values("--t", "0.5") == [0.5]
    assert parse_values("--t", "3:3:1") == [3.0]
    for bad in ("0:1", "0:1:0", "0:1:2.5", "a,b", "", "0:1:5:2", "nan"):
        with pytest.raises(InputError) as err:
            parse_values("--t", bad)
        assert err.value.argument == "--t"


def test_grid_command_writes_everything(pictures, tmp_path):
    out = tmp_path / "grid"
    result = runner.invoke(app, ["grid", str(pictures[0]), str(pictures[1]), "--model", "tiny",
                                 "--t", "0:1:3", "--alpha", "-1,1", "--steps", "1", "--seed", "3",
                                 "--batch-size", "2", "-o", str(out)])
    _ok(result)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["t"] == [0.0, 0.5, 1.0] and manifest["alpha"] == [-1.0, 1.0]
    assert manifest["model"] == "tiny" and manifest["seed"] == 3 and manifest["steps"] == 1
    assert len(manifest["cells"]) == 6 and all((out / c["file"]).is_file()
                                               for c in manifest["cells"])
    assert (out / "sheet.png").is_file() and len(list((out / "gifs").iterdir())) == 5
    assert str(out) in result.output and "sheet" in result.output
    assert GridResult.load(out).shape == (3, 2)
    # the CLI is a thin layer: a cell equals the Python API's rendering of it
    cell = next(c for c in manifest["cells"] if c["t"] == 0.5 and c["alpha"] == 1.0)
    api = interpolate(load_editor("tiny"), *pictures, t=0.5, alpha=1.0, seed=3, steps=1)
    diff = np.asarray(load_image(out / cell["file"]), np.int16) - np.asarray(api, np.int16)
    assert np.abs(diff).max() <= 1  # (batched vs alone: last-bit rounding at most)


def test_interpolate_command(pictures, tmp_path):
    out = tmp_path / "mid.png"
    result = runner.invoke(app, ["interpolate", str(pictures[0]), "prompt:a red kite",
                                 "--model", "tiny", "--t", "0.3", "--alpha", "0.5",
                                 "--steps", "1", "-o", str(out)])
    _ok(result)
    assert load_image(out).size == (64, 64) and str(out) in result.output


def test_bad_inputs_exit_2_naming_the_problem(pictures, tmp_path):
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    cases = [
        (["grid", str(tmp_path / "missing.png"), str(pictures[1])], "missing.png"),
        (["grid", str(garbage), str(pictures[1])], "garbage.png"),
        (["grid", str(pictures[0]), str(pictures[1]), "--model", "dall-e-9"], "dall-e-9"),
        (["grid", str(pictures[0]), str(pictures[1]), "--t", "0:1"], "--t"),
        (["grid", str(pictures[0]), str(pictures[1]), "--alpha=-2:2:x"], "--alpha"),
        (["interpolate", str(pictures[0]), str(tmp_path / "nope.jpg")], "nope.jpg"),
        # model CPU offload needs CUDA; on a CPU device it is refused, naming the option
        (["grid", str(pictures[0]), str(pictures[1]), "--cpu-offload", "--device", "cpu"],
         "--cpu-offload"),
    ]
    for args, needle in cases:
        out = tmp_path / "out"
        extra = ["-o", str(out) if args[0] == "grid" else str(tmp_path / "x.png")]
        if "--model" not in args:
            extra += ["--model", "tiny"]
        result = runner.invoke(app, args + extra)
        assert result.exit_code == 2, (args, result.exit_code, result.output, result.exception)
        assert needle in result.output and "Traceback" not in result.output
        assert not out.exists() and not (tmp_path / "x.png").exists()


def test_console_script_reports_a_bad_path_with_exit_2(pictures, tmp_path):
    script = Path(sys.executable).with_name("vslerp")
    done = subprocess.run([str(script), "grid", str(tmp_path / "absent.png"), str(pictures[1]),
                           "--model", "tiny", "-o", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    assert "absent.png" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "o").exists()
