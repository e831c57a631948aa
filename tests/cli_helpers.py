"""Shared pieces of the CLI tests: invoke ``vslerp`` in-process, read its CSVs, check that a
user error exits with code 2 and a one-line ``error: ...`` message."""

from __future__ import annotations

import csv
from pathlib import Path

from typer.testing import CliRunner, Result

from vslerp.cli import app


def run(*args: object) -> Result:
    """``vslerp ARGS...`` through typer's test runner (arguments are turned into strings)."""
    return CliRunner().invoke(app, [str(a) for a in args])


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a CSV file written by the CLI."""
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def assert_user_error(result: Result, *fragments: str, progress_first: bool = False) -> None:
    """Exit code 2, no traceback, stderr is ``error: ...`` holding every fragment. With
    ``progress_first`` progress bars may come before the error, which is then the last line."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    message = result.stderr.splitlines()[-1] if progress_first else result.stderr
    assert message.startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)
