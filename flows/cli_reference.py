"""docs/cli.md, written from the command line's own definitions.

Every command and option with its help, as `streamlake ... --help` says it:
`python -m flows.cli_reference` writes the page, and tests/test_cli_reference.py
fails while the page is stale or an option has no help.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from flows.cli import app

PAGE = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
HEADER = """\
# The `streamlake` command line

Every command and option, with the help `streamlake <command> --help` prints.
Generated from the command line's definitions (`python -m flows.cli_reference`);
a test fails when this page is stale or an option has no help. After `make
install`, run it as `uv run streamlake ...` (or `.venv/bin/streamlake ...`).
Options that every command takes: `--target local|aws` before the command.
"""


def commands(command: Any = None, path: tuple[str, ...] = ("streamlake",)) -> Iterator[tuple]:
    """(path, command) of every command that runs something, depth first in the
    order the help lists them."""
    command = command or typer.main.get_command(app)
    subcommands = getattr(command, "commands", None)
    if subcommands is None:
        yield path, command
        return
    for name in command.list_commands(None):
        yield from commands(subcommands[name], (*path, name))


def options_without_help() -> list[str]:
    """`command --option` of every option with no help text."""
    return [
        f"{' '.join(path)} {param.opts[0]}"
        for path, command in commands()
        for param in command.params
        if param.param_type_name == "option" and not param.help and param.name != "help"
    ]


def _default(param: Any) -> str:
    if param.is_flag or param.default in (None, "", ()) or callable(param.default):
        return ""
    return f" (default: `{param.default}`)"


def _first_paragraph(text: str | None) -> str:
    return " ".join((text or "").split("\n\n")[0].split())


def render() -> str:
    lines = [HEADER]
    for path, command in commands():
        arguments = " ".join(
            f"{p.name.upper()}{'...' if p.nargs == -1 else ''}"
            for p in command.params
            if p.param_type_name == "argument"
        )
        lines += ["", f"## `{' '.join(path)}`", ""]
        if arguments:
            lines += [f"`{' '.join(path)} [OPTIONS] {arguments}`", ""]
        lines += [" ".join((command.help or "").split()), ""]
        for param in command.params:
            if param.param_type_name == "argument":
                lines.append(
                    f"- `{param.name.upper()}`: {_first_paragraph(getattr(param, 'help', ''))}"
                )
            elif param.param_type_name == "option" and param.name != "help":
                names = ", ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
                lines.append(f"- {names}: {_first_paragraph(param.help)}{_default(param)}")
    return "\n".join(lines).rstrip() + "\n"


def main() -> None:
    missing = options_without_help()
    if missing:
        print("options without help:\n  " + "\n  ".join(missing), file=sys.stderr)
        raise SystemExit(1)
    PAGE.write_text(render(), encoding="utf-8")
    print(f"wrote {PAGE}")


if __name__ == "__main__":
    main()
