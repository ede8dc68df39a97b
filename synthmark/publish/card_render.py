"""Rendering a dataset card: Markdown here, HTML through ``templates/card.html.j2``.

:func:`synthmark.publish.card.build_card` builds the values; nothing here reads files or
decides what a card says, only how it reads.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from synthmark.publish.card import WITHHELD_NOTE, CardImage, DatasetCard, MetricRow

__all__ = ["card_page", "markdown_images", "render_html", "render_markdown"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- markdown

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|#])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _md(value: object) -> str:
    """Escape text for a Markdown table cell or paragraph (one line, no markup, no HTML)."""
    text = _CONTROL.sub(" ", str(value)).replace("\n", " ")
    return _MD_SPECIAL.sub(r"\\\1", text)


def _md_table(head: list[str], rows: Iterable[list[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return [*out, ""]


def _number(value: float) -> str:
    return f"{value:.4g}"


def _training_rows(card: DatasetCard) -> list[list[str]]:
    rows = []
    for gen in card.generators:
        for t in gen.training_data:
            ethics = (
                f"{t.ethics_approval.board} {t.ethics_approval.reference}"
                if t.ethics_approval is not None
                else "none stated"
            )
            subjects = str(t.demographics.subjects) if t.demographics is not None else "n/a"
            rows.append(
                [
                    _md(gen.label),
                    _md(f"{t.name} {t.version}"),
                    _md(t.identifier),
                    _md(t.licence),
                    _md(t.consent_basis.value),
                    _md(t.deidentification.profile.value),
                    _md(ethics),
                    subjects,
                ]
            )
    return rows


def _image_name(index: int, image: CardImage) -> str:
    return f"{index:02d}-{image.role}.png"


def render_markdown(card: DatasetCard, *, image_dir: str | None = None) -> str:
    """Render ``card`` as Markdown.

    Args:
        card: The card.
        image_dir: Folder (relative to the Markdown file) where the caller writes the
            thumbnails returned by :func:`markdown_images`; None leaves images out, since
            Markdown viewers commonly refuse ``data:`` images.

    Returns:
        The Markdown text.
    """
    lines = [
        f"# Dataset card: {_md(card.name)} {_md(card.version)}",
        "",
        f"Published by {_md(card.publisher)}; manifest created {_md(card.created)}.",
        "",
        "## What is synthetic",
        "",
    ]
    lines += _md_table(
        ["files", "synthetic", "real", "synthetic proportion", "records read"],
        [
            [
                f"{card.total:,}",
                f"{card.synthetic:,}",
                f"{card.real:,}",
                f"{card.proportion:.1%}",
                f"{card.records_read:,}",
            ]
        ],
    )
    if card.synthetic:
        lines += [
            "**Synthetic images depict no real patient.** They must never be passed off as "
            "real acquisitions; each carries a synthmark record and, where possible, an "
            "invisible watermark.",
            "",
        ]
    lines += ["## Generators", ""]
    if card.generators:
        lines += _md_table(
            ["generator", "manufacturer", "architecture", "images", "source type", "weights"],
            (
                [
                    _md(g.label),
                    _md(g.manufacturer),
                    _md(g.architecture),
                    f"{g.images:,}",
                    _md(", ".join(sorted(g.source_types))),
                    f"`{g.weights_sha256[:16]}…`" if g.weights_sha256 else "n/a",
                ]
                for g in card.generators
            ),
        )
    else:
        lines += ["No synthetic record could be read.", ""]
    lines += ["## Training data and consent", ""]
    training = _training_rows(card)
    if training:
        lines += _md_table(
            [
                "generator",
                "dataset",
                "identifier",
                "licence",
                "consent basis",
                "de-identification",
                "ethics approval",
                "subjects",
            ],
            training,
        )
    else:
        lines += ["No training data declared in the records.", ""]
    privacy = [(g.label, p) for g in card.generators for p in g.privacy]
    if privacy:
        lines += [f"- {_md(label)}: {_md(text)}" for label, text in privacy] + [""]
    lines += ["## Intended and prohibited uses", ""]
    for g in card.generators:
        lines += [
            f"- **{_md(g.label)}** intended: {_md(', '.join(sorted(g.intended)) or 'none')}",
            f"- **{_md(g.label)}** prohibited: {_md(', '.join(sorted(g.prohibited)) or 'none')}",
        ]
    lines += ["", "## Known limitations", ""]
    for g in card.generators:
        lines += [f"- **{_md(g.label)}**: {_md(', '.join(sorted(g.limitations)))}"]
    lines += ["", "## Evaluation and fairness", ""]
    for title, rows in _metric_groups(card):
        lines += [f"### {title}", ""]
        lines += _md_table(
            ["generator", "metric", "value", "unit", "subgroup", "reference", "source"],
            (
                [
                    _md(r.generator),
                    _md(f"{r.kind}: {r.metric.name.value}"),
                    _number(r.metric.value),
                    _md(r.metric.unit.value),
                    _md(r.subgroup),
                    _md(r.metric.reference_dataset),
                    r.source,
                ]
                for r in rows
            ),
        )
    if not card.metrics:
        lines += ["No evaluation is declared.", ""]
    lines += ["## Lifecycle attestations", ""]
    if not card.trust_given:
        lines += [
            "No trust file was given: signatures were **not verified**; attesters are "
            "as the statements claim.",
            "",
        ]
    if card.attestations:
        lines += _md_table(
            ["stage", "status", "attester (claimed)", "attested", "signed by", "findings"],
            (
                [
                    _md(a.stage),
                    f"**{a.status}**",
                    _md(a.attester or "n/a"),
                    _md(a.attested_at or "n/a"),
                    _md(a.signer_owner or ", ".join(a.key_ids) or "n/a"),
                    _md("; ".join(a.findings) or "none"),
                ]
                for a in card.attestations
            ),
        )
        for a in card.attestations:
            if a.highlights:
                lines += [f"- **{_md(a.stage)}**: "]
                lines[-1] += "; ".join(f"{_md(k)}: {_md(v)}" for k, v in a.highlights)
        lines += [""]
    if card.stages_missing:
        lines += [f"Stages without an attestation: {_md(', '.join(card.stages_missing))}.", ""]
    if card.required_missing:
        lines += [
            "Stages the trust file requires without a verified attestation: "
            f"{_md(', '.join(card.required_missing))}.",
            "",
        ]
    lines += ["## Access", ""]
    access = [(g.label, a) for g in card.generators for a in g.access]
    if access:
        lines += _md_table(
            ["generator", "audience", "level", "conditions"],
            (
                [_md(label), _md(a.audience.value), _md(a.level.value), _md(a.conditions or "")]
                for label, a in access
            ),
        )
    else:
        lines += ["Not stated.", ""]
    if card.images or card.withheld:
        lines += ["## Examples", ""]
        if card.images and image_dir is None:
            lines += [f"{len(card.images)} thumbnail(s) omitted (write the card to a file).", ""]
        elif image_dir is not None:
            folder = quote(image_dir)
            lines += [
                f"![{_md(image.role)}: {_md(image.path)}]({folder}/{_image_name(i, image)})"
                for i, image in enumerate(card.images)
            ] + [""]
        if card.real_thumbnails:
            lines += ["Real images are shown because it was explicitly requested.", ""]
        if card.withheld:
            lines += [_md(WITHHELD_NOTE.format(card.withheld)), ""]
    if card.problems:
        lines += ["## Problems found", ""] + [f"- {_md(p)}" for p in card.problems] + [""]
    lines += ["---", "Generated by synthmark from the manifest, the records and attestations."]
    return "\n".join(lines) + "\n"


def markdown_images(card: DatasetCard) -> dict[str, bytes]:
    """File name -> PNG bytes of the thumbnails :func:`render_markdown` links to."""
    return {_image_name(i, image): image.png for i, image in enumerate(card.images)}


def _metric_groups(card: DatasetCard) -> list[tuple[str, list[MetricRow]]]:
    fairness = [r for r in card.metrics if r.kind == "fairness"]
    other = [r for r in card.metrics if r.kind != "fairness"]
    groups = []
    if fairness:
        groups.append(("Fairness (metrics per subgroup)", fairness))
    if other:
        groups.append(("Fidelity, diversity and utility", other))
    return groups


# ------------------------------------------------------------------------------- html


def card_page(card: DatasetCard) -> dict[str, Any]:
    """The values the HTML card shows beyond the card itself, apart from how they look."""
    from synthmark import __version__

    groups = []
    for title, rows in _metric_groups(card):
        groups.append(
            {
                "title": title,
                "table_id": "fairness" if title.startswith("Fairness") else "evaluation",
                "rows": [
                    {"row": r, "value": _number(r.metric.value), "value_repr": repr(r.metric.value)}
                    for r in rows
                ],
            }
        )
    images = [
        {"path": i.path, "role": i.role, "data": base64.b64encode(i.png).decode("ascii")}
        for i in card.images
        if i.png.startswith(_PNG_SIGNATURE)
    ]
    return {
        "proportion_repr": repr(card.proportion),
        "training": [(g, t) for g in card.generators for t in g.training_data],
        "privacy": [(g.label, text) for g in card.generators for text in g.privacy],
        "metric_groups": groups,
        "access": [(g.label, a) for g in card.generators for a in g.access],
        "images": images,
        "withheld_text": WITHHELD_NOTE.format(card.withheld),
        "version": __version__,
    }


def render_html(card: DatasetCard) -> bytes:
    """Render ``card`` as one self-contained HTML page (same CSP and styles as the report).

    Numbers carry ids and data attributes (``id="count-synthetic"``,
    ``data-stage="model_training" data-status="verified"``, ``data-metric``/``data-value``
    on metric rows) so people's tools and tests can read them back.
    """
    from synthmark.validation.reporters.html import CONTENT_SECURITY_POLICY, html_environment

    template = html_environment().get_template("card.html.j2")
    text = template.render(card=card, page=card_page(card), csp=CONTENT_SECURITY_POLICY)
    return text.encode("utf-8", "backslashreplace")
