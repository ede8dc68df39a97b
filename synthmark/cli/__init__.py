"""The ``synthmark`` command line: a thin shell over the public Python API.

Commands live one per module and are imported only when invoked, so ``synthmark --help``
never pays for pydantic models, pydicom or torch. This module is the only place where
errors become exit codes: 0 clean, 1 findings, 2 usage/config/unreadable input, 70 bug.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from typing import Any

import click

from synthmark import __version__

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70

#: command name -> (module, attribute, one-line help). Help is duplicated here so that
#: listing commands does not import them.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "schema": ("synthmark.cli.schema_cmd", "schema", "Export or check the JSON Schemas."),
    "record": ("synthmark.cli.record_cmd", "record", "Check record files against the schema."),
    "stamp": (
        "synthmark.cli.stamp_cmd",
        "stamp",
        "Embed a record (bound to the pixels) in images.",
    ),
    "verify": ("synthmark.cli.verify_cmd", "verify", "Verify records and bindings of images."),
    "inspect": ("synthmark.cli.inspect_cmd", "inspect", "Print the record an image carries."),
    "validate": (
        "synthmark.cli.validate_cmd",
        "validate",
        "Validate datasets: reject unacknowledged synthetic images.",
    ),
    "rules": ("synthmark.cli.rules_cmd", "rules", "List the validation rules or explain one."),
    "manifest": (
        "synthmark.cli.manifest_cmd",
        "manifest",
        "Build, check or export (Croissant, BIDS) a dataset manifest.",
    ),
    "mark": ("synthmark.cli.mark_cmd", "mark", "Embed the invisible watermark in an image."),
    "detect": ("synthmark.cli.detect_cmd", "detect", "Detect the synthmark watermark."),
    "keygen": ("synthmark.cli.keygen_cmd", "keygen", "Create a key file."),
    "attest": (
        "synthmark.cli.attest_cmd",
        "attest",
        "Sign and verify lifecycle attestations; manage trust files.",
    ),
    "demo": ("synthmark.cli.demo_cmd", "demo", "Run the end-to-end demo on shipped real scans."),
    "card": ("synthmark.cli.card_cmd", "card", "Write a dataset card (Markdown or HTML)."),
    "serve": (
        "synthmark.cli.serve_cmd",
        "serve",
        "Run a validating DICOM storage gateway.",
    ),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module = importlib.import_module(entry[0])
        command = getattr(module, entry[1])
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="synthmark", message="%(prog)s %(version)s")
def cli() -> None:
    """Label, bind, watermark and validate synthetic medical images.

    Exit codes: 0 clean; 1 findings (invalid record, failed verification); 2 usage,
    configuration or unreadable input; 70 internal error (a bug: please report it).
    """


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; never lets a traceback reach the user."""
    from synthmark.errors import SynthmarkError

    try:
        # In non-standalone mode click returns the code of an Exit instead of raising it.
        result = cli.main(args=argv, prog_name="synthmark", standalone_mode=False)
    except SynthmarkError as exc:
        click.echo(f"synthmark: error: {exc.one_line()}", err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.Abort:
        click.echo("synthmark: aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE if isinstance(exc, click.UsageError) else exc.exit_code
    except KeyboardInterrupt:
        click.echo("synthmark: interrupted", err=True)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:
        _report_bug(exc)
        return EXIT_INTERNAL
    return result if isinstance(result, int) else EXIT_OK


def _report_bug(exc: BaseException) -> None:
    # A crash must never look like a verdict: say plainly that this is a bug, keep the
    # traceback out of the way unless asked for (it may contain file paths).
    click.echo(
        f"synthmark: internal error (this is a bug, not a verdict): {type(exc).__name__}: {exc}",
        err=True,
    )
    import os

    if os.environ.get("SYNTHMARK_DEBUG"):
        traceback.print_exception(exc, file=sys.stderr)
    else:
        click.echo("synthmark: set SYNTHMARK_DEBUG=1 to see the traceback", err=True)


def exit_with(code: int) -> Any:
    """Leave a command with ``code`` (raises click's Exit, handled by :func:`main`)."""
    raise click.exceptions.Exit(code)


def entry_point() -> None:
    """Console-script entry point."""
    sys.exit(main())
