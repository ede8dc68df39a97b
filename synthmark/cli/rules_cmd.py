"""``synthmark rules [CODE]``."""

from __future__ import annotations

import json

import click


@click.command()
@click.argument("code", required=False)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def rules(code: str | None, fmt: str) -> None:
    """List the validation rules, or explain one (CODE or name)."""
    from synthmark.errors import UsageError
    from synthmark.rules import RULES, RULES_BY_CODE, RULES_BY_NAME

    if code is None:
        if fmt == "json":
            click.echo(json.dumps([_as_json(r) for r in RULES], indent=2))
            return
        for rule in RULES:
            click.echo(f"{rule.code}  {rule.severity.value:<7}  {rule.name:<38} {rule.summary}")
        return
    found = RULES_BY_CODE.get(code.upper()) or RULES_BY_NAME.get(code)
    if found is None:
        raise UsageError(f"no rule {code!r}", hint="`synthmark rules` lists them")
    rule = found
    if fmt == "json":
        click.echo(json.dumps(_as_json(rule), indent=2))
        return
    click.echo(f"{rule.code} {rule.name} ({rule.severity.value}; spec section {rule.spec})\n")
    for title, text in (
        ("What it does", rule.what),
        ("Why is this bad?", rule.why),
        ("Example", rule.example),
        ("Fix", rule.fix),
    ):
        click.echo(f"{title}\n  {text}\n")


def _as_json(rule: object) -> dict[str, object]:
    from dataclasses import asdict

    data = asdict(rule)  # type: ignore[call-overload]
    data["severity"] = data["severity"].value
    return dict(data)
