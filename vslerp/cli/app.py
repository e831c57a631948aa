"""The typer application object, shared options' parsing and error handling.

Errors meant for users (:class:`vslerp.errors.VslerpError`, including ``InputError``) and
missing/unreadable files become a one-line ``error: ...`` on stderr and exit code 2, with no
traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys

import typer
from typer.core import TyperGroup

from vslerp import __version__
from vslerp.errors import VslerpError

#: Exceptions shown to users as one line on stderr with exit code 2 (no traceback).
USER_ERRORS: tuple[type[BaseException], ...] = (VslerpError, FileNotFoundError, IsADirectoryError,
                                                PermissionError)
#: Exit code for user errors (bad input, unknown model, unreadable file).
USER_ERROR_EXIT = 2


class _Group(TyperGroup):
    """Top-level group: prints user errors raised by any sub-command as ``error: ...`` on
    stderr and exits with code 2. (Typer vendors its own click, so this uses typer's own
    ``Exit`` rather than click exception classes.)"""

    def invoke(self, ctx):  # type: ignore[no-untyped-def]
        try:
            return super().invoke(ctx)
        except USER_ERRORS as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(USER_ERROR_EXIT) from err


app = typer.Typer(
    cls=_Group,
    name="vslerp",
    help="Generative editing (vSLERP) and conformity evaluation in CLIP space.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"vslerp {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version."
    ),
) -> None:
    """vSLERP = SLERP(v_j − α·m, v_k − α·m, t) + α·m;  C(v_j) = mean_k cos(v_j, v_k)."""


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (``vslerp``)."""
    app(args=argv if argv is not None else sys.argv[1:], prog_name="vslerp")
