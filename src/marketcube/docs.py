"""Generate the CLI reference (docs/cli.md) from the commands' own --help: ``python -m marketcube.docs``."""

from __future__ import annotations

import os

from typer.testing import CliRunner

from .cli import app

__all__ = ["cli_reference", "COMMANDS"]

COMMANDS = ("validate", "report")
HELP_ENV = {"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"}


def help_text(*args: str) -> str:
    old = {k: os.environ.get(k) for k in HELP_ENV}
    os.environ.update(HELP_ENV)
    try:
        result = CliRunner().invoke(app, [*args, "--help"], prog_name="marketcube")
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    assert result.exit_code == 0, result.output
    return "\n".join(line.rstrip() for line in result.output.strip("\n").splitlines())


def cli_reference() -> str:
    parts = [
        "# CLI reference",
        "",
        "Generated from `--help` by `make docs` (`python -m marketcube.docs`); a test fails when it is out of date.",
        "",
        "```text",
        help_text(),
        "```",
    ]
    for name in COMMANDS:
        parts += ["", f"## marketcube {name}", "", "```text", help_text(name), "```"]
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    print(cli_reference(), end="")
