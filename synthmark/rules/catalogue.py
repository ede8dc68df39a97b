"""The rule catalogue: stable codes, names, default severities and documentation.

Codes are never renumbered and a retired code stays reserved. Families:
SM1xx record and schema, SM2xx content binding, SM3xx attestations, signatures and
Content Credentials, SM4xx watermark, SM5xx dataset and manifest,
SM9xx reading files. ``spec/rules.md`` is generated from this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    """How serious a finding is. Errors fail the run; warnings fail it with ``--strict``."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Ordering: error > warning > info."""
        return {"error": 2, "warning": 1, "info": 0}[self.value]


@dataclass(frozen=True)
class Rule:
    """A check's identity and documentation (ruff-style sections).

    Attributes:
        code: Stable code, e.g. ``SM501``.
        name: Reads as "allow <name>", e.g. ``unacknowledged-synthetic-image``.
        severity: Default severity.
        summary: One line.
        what: What it does.
        why: Why it matters.
        example: A situation that triggers it.
        fix: What to do about it.
        spec: Spec section it enforces.
        needs_pixels: True when it needs decoded pixels (skipped by ``--header-only``).
        needs_manifest: True when it only applies to a dataset with a manifest.
    """

    code: str
    name: str
    severity: Severity
    summary: str
    what: str
    why: str
    example: str
    fix: str
    spec: str
    needs_pixels: bool = False
    needs_manifest: bool = False


_E, _W, _I = Severity.ERROR, Severity.WARNING, Severity.INFO

RULES: tuple[Rule, ...] = (
    Rule(
        "SM101",
        "invalid-record",
        _E,
        "A record fails its schema.",
        "Validates every record found (embedded or sidecar) against the record schema and "
        "the cross-field rules.",
        "A malformed record cannot be trusted for anything: not its synthetic flag, not its "
        "generator, not its consent basis.",
        "`intended_use` missing from a synthetic record; a metric without a subgroup.",
        "Fix the fields named in the message (`synthmark record check` lists them) and stamp "
        "again.",
        "4.1, 4.2",
    ),
    Rule(
        "SM102",
        "unknown-spec-version",
        _E,
        "A record declares a spec version this validator does not implement.",
        "Reports records whose `spec_version` is not one this implementation reads.",
        "Fields of an unknown version cannot be interpreted safely.",
        '`"spec_version": "2.0"` read by a 1.x validator.',
        "Upgrade synthmark, or re-stamp with a record of a supported version.",
        "4.4",
    ),
    Rule(
        "SM103",
        "synthetic-source-type-contradiction",
        _E,
        "`synthetic` and `digital_source_type` disagree.",
        "Flags a record whose `synthetic` flag contradicts its IPTC digital source type.",
        "A record that says both real and synthetic is the easiest way to pass off a "
        "synthetic image: every consumer picks the field it reads.",
        "`synthetic: true` with `digitalCapture`, or `synthetic: false` with "
        "`trainedAlgorithmicMedia`.",
        "Set the source type that describes how the image was made (spec 5.1).",
        "4.2 rule 1, 5.1",
    ),
    Rule(
        "SM104",
        "unparseable-record",
        _E,
        "A record container holds bytes that are not a JSON object.",
        "Reports record bytes (private block, extension or sidecar) that are not UTF-8 JSON.",
        "A corrupted record is indistinguishable from a stripped one.",
        "A sidecar truncated by a failed copy.",
        "Restore the file or sidecar from its source, or stamp again.",
        "4.3",
    ),
    Rule(
        "SM105",
        "label-contradicts-record",
        _E,
        "Standard header fields contradict the record.",
        "Compares the format's standard acknowledgment (DICOM Synthetic Data) with the record.",
        "Viewers and archives read the standard field, synthmark reads the record: when they "
        "disagree, someone is shown the wrong answer.",
        "Synthetic Data = NO in a DICOM whose record says synthetic.",
        "Stamp the file again; never edit Synthetic Data by hand.",
        "8, 9 step 6",
    ),
    Rule(
        "SM106",
        "sidecar-disagrees",
        _W,
        "The sidecar holds a different record than the file.",
        "Flags files whose embedded record and `<file>.synthmark.json` differ.",
        "One of them is stale; the embedded one is used, but the sidecar may mislead tools "
        "that read only sidecars.",
        "A file re-stamped in place while an old sidecar stayed beside it.",
        "Delete or regenerate the sidecar.",
        "8 rule 4",
    ),
    Rule(
        "SM107",
        "synthetic-without-record",
        _W,
        "A file says it is synthetic in standard fields but carries no record.",
        "Flags files acknowledged synthetic only by a standard field (e.g. DICOM Synthetic "
        "Data = YES) with no synthmark record.",
        "The acknowledgment survives, but generator, training data, consent and intended use "
        "are unknown.",
        "A synthetic DICOM whose private block was removed by de-identification.",
        "Keep the private block (Retain Safe Private) or ship the record as a sidecar.",
        "8, parts/dicom.md",
    ),
    Rule(
        "SM201",
        "binding-mismatch",
        _E,
        "A record's content binding does not match the pixels.",
        "Recomputes the canonical pixel digests and compares them with the record's binding.",
        "The record was transplanted from another image, or the pixels were edited after "
        "stamping: the record no longer describes this image.",
        "A synthetic label copied onto a real scan; one pixel changed after stamping.",
        "If the pixels changed legitimately, stamp the new image with `--derived-from`; "
        "otherwise restore the original.",
        "6, 9 step 5",
        needs_pixels=True,
    ),
    Rule(
        "SM202",
        "record-without-binding",
        _W,
        "A record carries no content binding.",
        "Flags records whose `binding` is absent.",
        "An unbound record can be moved to any image unnoticed.",
        "A record JSON placed beside an image by hand.",
        "Use `synthmark stamp`, which fills in the binding.",
        "6",
    ),
    Rule(
        "SM301",
        "required-stage-not-attested",
        _E,
        "A lifecycle stage the policy requires has no valid attestation.",
        "For a dataset with a manifest, checks that every stage required by the policy and "
        "by the trust file (`required_stages`) has an attestation referenced from the "
        "manifest that verifies against the trust file.",
        "A dataset published without evidence that its collection was consented and its "
        "generator audited asks users to trust claims nobody signed.",
        "`--policy publish` on a manifest that references no `model_evaluation` attestation.",
        "Sign the stage with `synthmark attest sign`, reference the envelope from the "
        "manifest (`synthmark manifest build --attestation STAGE=FILE`), and give the "
        "validator the trust file (`--trust`; never from a config file inside the dataset).",
        "attestations 9",
        needs_manifest=True,
    ),
    Rule(
        "SM302",
        "attestation-signature-invalid",
        _E,
        "An attestation's signature does not verify, or the envelope is malformed.",
        "Verifies each referenced envelope's DSSE signature over its payload with the "
        "trusted key it names (codes SMA001-SMA003).",
        "A changed byte in a signed statement means its claims are no longer the signer's.",
        "A consent basis edited inside the statement after signing.",
        "Obtain the original envelope from its signer, or have the stage signed again.",
        "attestations 7",
        needs_manifest=True,
    ),
    Rule(
        "SM303",
        "attestation-key-untrusted",
        _E,
        "An attestation is signed by a key the trust file does not trust for it.",
        "Reports envelopes signed only by unknown keys, by keys not trusted for the stage, "
        "by revoked keys, or outside the key's validity period (codes SMA004-SMA007).",
        "A valid signature by an unknown key proves nothing about who made the claim.",
        "A training attestation signed with a key that was revoked for compromise.",
        "Add the signer's public key to the trust file for that stage (after checking its "
        "fingerprint out of band), or have a trusted key sign the stage.",
        "attestations 6, 7",
        needs_manifest=True,
    ),
    Rule(
        "SM304",
        "attestation-subject-mismatch",
        _E,
        "A file an attestation is about has changed or is absent.",
        "Compares the SHA-256 of every statement subject found under the dataset root with "
        "the digest signed (codes SMA010, SMA011). Subjects outside the dataset (model "
        "weights kept elsewhere) are reported as absent only when their path is inside it.",
        "An attestation about other bytes than the ones shipped attests nothing about them.",
        "The manifest was rebuilt after the processing attestation was signed over it.",
        "Sign the stage again over the current files.",
        "attestations 7",
        needs_manifest=True,
    ),
    Rule(
        "SM305",
        "attestation-time-invalid",
        _E,
        "An attestation is expired or dated in the future.",
        "Checks `attested_at` (with 5 minutes of clock skew) and `valid_until` against the "
        "validation time (codes SMA008, SMA009).",
        "An expired evaluation no longer vouches for the model; a future date hints at a "
        "wrong clock or a forged statement.",
        "A model evaluation whose `valid_until` passed before the dataset release.",
        "Evaluate again and sign a new statement.",
        "attestations 7",
        needs_manifest=True,
    ),
    Rule(
        "SM306",
        "attestation-reference-broken",
        _E,
        "A manifest references an attestation that is missing or differs from its digest.",
        "Reads each attestation the manifest references by `path` and compares the file's "
        "SHA-256 with `envelope_sha256`.",
        "The manifest is the publisher's sign-off; a reference that leads nowhere, or to "
        "other bytes, breaks the chain from dataset to generator.",
        "`attestations/training.dsse.json` deleted, or replaced by a newer envelope.",
        "Restore the envelope, or rebuild the manifest with the current one.",
        "attestations 9",
        needs_manifest=True,
    ),
    Rule(
        "SM307",
        "record-signature-invalid",
        _E,
        "A signed record was changed after it was signed.",
        "Checks the embedded signature of each signed record over the record's canonical "
        "form (codes SMA020, SMA021).",
        "Someone edited a signed provenance claim, e.g. its synthetic flag or consent basis.",
        "A sidecar record whose `intended_use` was widened by hand.",
        "Restore the record from the signer, or stamp and sign again.",
        "attestations 8",
    ),
    Rule(
        "SM308",
        "record-signer-untrusted",
        _W,
        "A record is signed by a key not trusted for records.",
        "With a trust file, reports signed records whose signature verifies only with keys "
        "the trust file does not trust for the `record` scope (code SMA022).",
        "A signature by an unknown key does not say who vouches for the record.",
        "Records signed by a generator provider whose key the archive has not enrolled.",
        "Add the provider's key to the trust file with scope `record`.",
        "attestations 8",
    ),
    Rule(
        "SM309",
        "content-credentials-invalid",
        _E,
        "A PNG/JPEG carries C2PA Content Credentials that do not validate or contradict "
        "the record.",
        "Reads the C2PA manifest with c2pa-python: an invalid claim (file bytes changed "
        "after signing), or a `digitalSourceType` or synthmark assertion that disagrees with "
        "the record in use.",
        "Credentials are what browsers and news tools show; invalid or contradicting ones "
        "mislead everyone who looks.",
        "A credentialed PNG re-saved by an editor that kept the manifest but not the bytes.",
        "Stamp the file again with `--c2pa-chain/--c2pa-key`.",
        "parts/c2pa",
    ),
    Rule(
        "SM401",
        "synthetic-without-watermark",
        _W,
        "A synthetic image carries no detectable watermark.",
        "Flags images acknowledged synthetic in which no synthmark watermark is detected.",
        "Headers are lost in routine processing; without a watermark the image becomes an "
        "unlabelled synthetic image the moment its headers are stripped.",
        "A synthetic image stamped without `--watermark`, or marked then heavily processed.",
        "Stamp with `--watermark` (or `synthmark mark`).",
        "7",
        needs_pixels=True,
    ),
    Rule(
        "SM402",
        "watermark-key-mismatch",
        _W,
        "The detected watermark's key differs from the record's.",
        "Compares the key id of the detected watermark with the record's watermark descriptor.",
        "The record and the pixels tell different provenance stories.",
        "A record from one generator stamped onto output marked by another.",
        "Re-stamp with the record of the generator that marked the image.",
        "7",
        needs_pixels=True,
    ),
    Rule(
        "SM501",
        "unacknowledged-synthetic-image",
        _E,
        "A watermarked (synthetic) image carries no synthetic acknowledgment.",
        "Flags an image whose synthmark watermark is detected but which has no record, a "
        "record saying real, or a manifest entry saying real.",
        "This is the failure synthmark exists to stop: a synthetic image passing for a real "
        "one, so that models and readers learn from findings no patient ever had.",
        "A generated CT slice whose DICOM headers were stripped before it was added to a "
        "dataset of real scans.",
        "Restore its record (stamp it as synthetic) or remove it from the dataset. Never "
        "relabel a watermarked image as real.",
        "3, 7, 10",
        needs_pixels=True,
    ),
    Rule(
        "SM502",
        "manifest-misses-synthetic",
        _E,
        "A synthetic file is not acknowledged by the dataset manifest.",
        "Flags synthetic files whose manifest entry says real, or a manifest declaring no "
        "synthetic content while synthetic files are present.",
        "The dataset-level acknowledgment is what users of a dataset read first.",
        "`contains_synthetic: false` in a dataset with stamped synthetic images.",
        "Rebuild the manifest with `synthmark manifest build`.",
        "10",
        needs_manifest=True,
    ),
    Rule(
        "SM503",
        "manifest-count-mismatch",
        _E,
        "The manifest's synthetic count or proportion differs from what is found.",
        "Compares declared synthetic count and real:synthetic proportion with the files.",
        "An under-declared proportion misleads every model trained on the data (seed 004).",
        "A manifest declaring 10% synthetic over a folder that is 30% synthetic.",
        "Rebuild the manifest with `synthmark manifest build`.",
        "10",
        needs_manifest=True,
    ),
    Rule(
        "SM504",
        "file-not-in-manifest",
        _E,
        "An image file is present but not listed in the manifest.",
        "Flags image files under the dataset root with no manifest entry.",
        "Unlisted files escape the dataset's acknowledgment.",
        "A file copied into the dataset after the manifest was built.",
        "Rebuild the manifest, or remove the file.",
        "10",
        needs_manifest=True,
    ),
    Rule(
        "SM505",
        "manifest-entry-missing-file",
        _E,
        "The manifest lists a file that is not there.",
        "Flags manifest entries whose file does not exist under the dataset root.",
        "The declared counts no longer describe the data.",
        "A file deleted after the manifest was built.",
        "Restore the file or rebuild the manifest.",
        "10",
        needs_manifest=True,
    ),
    Rule(
        "SM506",
        "manifest-digest-mismatch",
        _E,
        "A file's pixels differ from the digest in the manifest.",
        "Compares each listed file's content binding digest with the manifest entry.",
        "The file was replaced or edited after the publisher signed off the manifest.",
        "A synthetic image swapped for another with the same name.",
        "Restore the file or rebuild the manifest.",
        "10",
        needs_pixels=True,
        needs_manifest=True,
    ),
    Rule(
        "SM507",
        "invalid-manifest",
        _E,
        "The dataset manifest fails its schema.",
        "Validates `synthmark-manifest.json` against the manifest schema.",
        "A malformed manifest acknowledges nothing.",
        "A manifest path with `..`, or counts that disagree with its own entries.",
        "Rebuild the manifest with `synthmark manifest build`.",
        "10",
        needs_manifest=True,
    ),
    Rule(
        "SM508",
        "synthetic-dataset-without-manifest",
        _W,
        "Synthetic images are present but the dataset has no manifest.",
        "Flags a dataset root holding synthetic images and no `synthmark-manifest.json`.",
        "Without a manifest the dataset-level proportion of synthetic images is undeclared.",
        "A folder of mixed real and synthetic scans published as is.",
        "Run `synthmark manifest build DIR`.",
        "10",
    ),
    Rule(
        "SM901",
        "unreadable-file",
        _E,
        "A file could not be read.",
        "Reports files that are missing, unreadable, truncated, corrupt or whose pixels "
        "cannot be decoded. The run goes on.",
        "A file nobody can read cannot be checked; silently skipping it would hide exactly "
        "the files an adversary would corrupt.",
        "A truncated DICOM; a permission-denied file; a broken symlink.",
        "Restore the file from its source, or fix its permissions.",
        "9 step 1",
    ),
    Rule(
        "SM902",
        "absent-annexed-content",
        _E,
        "A file's content is not present (git-annex/DataLad pointer or broken link).",
        "Reports symlinks to absent annexed content and pointer files in place of images.",
        "The image cannot be checked until its content is fetched.",
        "A DataLad dataset cloned without `datalad get`.",
        "Fetch the content (`datalad get`, `git annex get`) and validate again.",
        "9 step 1",
    ),
    Rule(
        "SM903",
        "not-an-image",
        _I,
        "A file is not in a supported image format.",
        "Notes files no carrier recognises (they are otherwise ignored).",
        "A DICOM without the preamble or an exotic format would otherwise pass unnoticed.",
        "A README or a CSV in the dataset.",
        "Add the file to `.synthmarkignore` if it is expected.",
        "8",
    ),
    Rule(
        "SM904",
        "file-over-resource-limit",
        _E,
        "A file exceeds a resource limit and was not decoded.",
        "Reports files whose header declares more pixel values or frames, or whose "
        "compressed data inflate to more bytes, than the limits allow (SMX015). They are "
        "refused before anything large is allocated, and the run goes on.",
        "One decompression bomb or absurd declared size would otherwise take down the CI "
        "runner or gateway for everyone; a file that was not checked must not pass.",
        "A PNG whose header declares 100000x100000 pixels; a DICOM with Deflated Explicit "
        "VR Little Endian that inflates to gigabytes; a .nii.gz of zeros.",
        "If the file is genuine and trusted, raise the limit named in the message "
        "(`max-pixels`, `max-decompressed`, `max-frames` in synthmark.toml, the "
        "`--max-...` options, or `SYNTHMARK_MAX_...`); otherwise remove it.",
        "9 step 1; parts/limits.md",
    ),
)

RULES_BY_CODE: dict[str, Rule] = {rule.code: rule for rule in RULES}
RULES_BY_NAME: dict[str, Rule] = {rule.name: rule for rule in RULES}
#: Codes once used and retired: never reuse.
RETIRED_CODES: frozenset[str] = frozenset()


def render_rules_markdown() -> str:
    """Return ``spec/rules.md``: every rule with its sections (generated, drift-checked)."""
    lines = [
        "<!-- GENERATED by `python -m synthmark.rules.catalogue`; do not edit. -->",
        "# Validation rules",
        "",
        "Normative catalogue of the checks `synthmark validate` runs (spec section 12). Codes "
        "are stable and never renumbered. Severity is the default; configuration may change it.",
        "",
        "| code | name | severity | summary |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| [{r.code}](#{r.code.lower()}) | `{r.name}` | {r.severity.value} | {r.summary} |"
        for r in RULES
    ]
    for rule in RULES:
        lines += [
            "",
            f"## {rule.code}",
            "",
            f"`{rule.name}` ({rule.severity.value}; spec section {rule.spec})",
            "",
            "**What it does.** " + rule.what,
            "",
            "**Why is this bad?** " + rule.why,
            "",
            "**Example.** " + rule.example,
            "",
            "**Fix.** " + rule.fix,
        ]
        notes = []
        if rule.needs_pixels:
            notes.append("needs decoded pixels (not run with `--header-only`)")
        if rule.needs_manifest:
            notes.append("runs only where the dataset has a manifest")
        if notes:
            lines += ["", "*Notes:* " + "; ".join(notes) + "."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover - developer entry point
    from pathlib import Path

    target = Path(__file__).resolve().parents[2] / "spec" / "rules.md"
    target.write_text(render_rules_markdown(), encoding="utf-8")
    print(f"wrote {target}")
