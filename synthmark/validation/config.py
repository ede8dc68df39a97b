"""Validation configuration: policies, ``[tool.synthmark]``/``synthmark.toml`` and flags.

Precedence (later wins): the packaged or given policy, then the dataset's configuration
file, then command-line options. Rules are selected by code prefix like ruff (``SM5``
selects SM501-SM599).
"""

from __future__ import annotations

import fnmatch
import importlib.resources
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from synthmark.carriers.limits import Limits, config_keys, from_table, resolve
from synthmark.errors import ConfigError
from synthmark.rules import RULES, Rule
from synthmark.validation.report import Severity

POLICY_NAMES = ("research", "publish", "archive-ingest")
CONFIG_FILE = "synthmark.toml"
IGNORE_FILE = ".synthmarkignore"
MANIFEST_FILE = "synthmark-manifest.json"
_KEYS = {
    "select",
    "ignore",
    "severity",
    "per-path-severity",
    "exclude",
    "keyring",
    "fpr",
    "strict",
    "policy",
    "header-only",
    "trust",
    "required-stages",
    *config_keys(),
}
_STAGES = (
    "data_collection",
    "data_processing",
    "model_training",
    "model_evaluation",
    "deployment",
)


@dataclass(frozen=True)
class ValidateConfig:
    """Everything that shapes a validation run.

    Attributes:
        select: Code prefixes of rules to run.
        ignore: Code prefixes of rules not to run (wins over select).
        severity: ``code prefix -> severity`` overrides (``"off"`` disables).
        per_path_severity: ``(glob, code prefix, severity-or-off)`` overrides for matching
            dataset-relative paths.
        exclude: gitignore-style patterns of paths not to walk (plus ``.synthmarkignore``).
        keyring: Watermark keyring file (the public detection key is always tried).
        trust: Trust file for attestations, record signatures and C2PA anchors.
        required_stages: Lifecycle stages a dataset must have attested (the policy's and
            the trust file's requirements are added together).
        fpr: False-positive rate of watermark detection.
        header_only: Skip pixel decoding and watermark detection (opt-in; the report lists
            the rules not run).
        strict: Warnings fail the run.
        policy: Name or path of the policy in effect.
        jobs: Worker processes (``None``: all cores).
        redact_paths: Replace paths by stable hashes in every output.
        cache_dir: Incremental cache folder (``None``: no cache).
        changed_only: Dataset-relative paths to check (``--changed-since``); ``None``: all.
        thumbnails: Collect thumbnails of synthetic images (HTML report).
        real_thumbnails: Also collect thumbnails of real images (patient data: opt-in).
        max_pixels, max_decompressed, max_frames: Resource limits from a configuration file
            (``max-pixels`` ...; ``None``: not set there); spec/parts/limits.md.
        limits: The resource limits in effect when the caller resolved them (the CLI: its
            options, the environment, then the fields above); ``None``: :meth:`resource_limits`.
    """

    select: tuple[str, ...] = ("SM",)
    ignore: tuple[str, ...] = ()
    severity: tuple[tuple[str, str], ...] = ()
    per_path_severity: tuple[tuple[str, str, str], ...] = ()
    exclude: tuple[str, ...] = ()
    keyring: Path | None = None
    trust: Path | None = None
    required_stages: tuple[str, ...] = ()
    fpr: float = 1e-6
    header_only: bool = False
    strict: bool = False
    policy: str | None = None
    jobs: int | None = None
    redact_paths: bool = False
    cache_dir: Path | None = None
    changed_only: frozenset[str] | None = None
    thumbnails: bool = False
    real_thumbnails: bool = False
    max_pixels: int | None = None
    max_decompressed: int | None = None
    max_frames: int | None = None
    limits: Limits | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def resource_limits(self) -> Limits:
        """The resource limits of the run: :attr:`limits` when set, else the defaults, the
        configuration file's keys, then the environment (which wins, so that whoever runs
        the check caps what a dataset's own file may ask for).

        Raises:
            ConfigError: when an environment variable holds no valid amount.
        """
        if self.limits is not None:
            return self.limits
        return resolve(config=self.limit_values())

    def limit_values(self) -> dict[str, int | None]:
        """The limits the configuration sets, by field name (``None`` when unset)."""
        return {
            "max_pixels": self.max_pixels,
            "max_decompressed": self.max_decompressed,
            "max_frames": self.max_frames,
        }

    def enabled_rules(self) -> list[Rule]:
        """Rules selected and not ignored or switched off."""
        enabled = []
        for rule in RULES:
            if not any(rule.code.startswith(p) for p in self.select):
                continue
            if any(rule.code.startswith(p) for p in self.ignore):
                continue
            if self._severity_override(rule.code) == "off":
                continue
            enabled.append(rule)
        return enabled

    def _severity_override(self, code: str) -> str | None:
        best: tuple[int, str] | None = None
        for prefix, value in self.severity:
            if code.startswith(prefix) and (best is None or len(prefix) >= best[0]):
                best = (len(prefix), value)
        return best[1] if best else None

    def severity_for(self, rule: Rule, path: str | None) -> Severity | None:
        """Effective severity of ``rule`` at ``path``; ``None`` when switched off there."""
        value = self._severity_override(rule.code)
        if path is not None:
            for pattern, prefix, override in self.per_path_severity:
                if rule.code.startswith(prefix) and fnmatch.fnmatchcase(path, pattern):
                    value = override
        if value == "off":
            return None
        return Severity(value) if value is not None else rule.severity


def _prefixes(value: Any, key: str, source: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{source}: `{key}` must be a list of rule codes or prefixes")
    for prefix in value:
        if not prefix.startswith("SM") or not any(r.code.startswith(prefix) for r in RULES):
            raise ConfigError(
                f"{source}: `{key}` names no rule: {prefix!r}",
                hint="see `synthmark rules` for the codes",
            )
    return tuple(value)


def _severity_value(value: Any, source: str) -> str:
    allowed = {"error", "warning", "info", "off"}
    if value not in allowed:
        raise ConfigError(f"{source}: severity must be one of {sorted(allowed)}, got {value!r}")
    return str(value)


def apply_table(
    config: ValidateConfig, table: dict[str, Any], source: str, base: Path
) -> ValidateConfig:
    """Apply one configuration table (policy file or ``[tool.synthmark]``) to ``config``."""
    unknown = set(table) - _KEYS
    if unknown:
        raise ConfigError(
            f"{source}: unknown key(s) {sorted(unknown)}", hint=f"known keys: {sorted(_KEYS)}"
        )
    if "policy" in table:
        config = apply_policy(config, str(table["policy"]), base)
    changes: dict[str, Any] = {}
    if "select" in table:
        changes["select"] = _prefixes(table["select"], "select", source)
    if "ignore" in table:
        changes["ignore"] = _prefixes(table["ignore"], "ignore", source)
    if "severity" in table:
        raw = table["severity"]
        if not isinstance(raw, dict):
            raise ConfigError(f"{source}: `severity` must be a table of CODE = level")
        merged = dict(config.severity)
        for prefix, level in raw.items():
            _prefixes([prefix], "severity", source)
            merged[prefix] = _severity_value(level, source)
        changes["severity"] = tuple(merged.items())
    if "per-path-severity" in table:
        raw = table["per-path-severity"]
        if not isinstance(raw, dict):
            raise ConfigError(
                f"{source}: `per-path-severity` must be a table of glob = {{CODE = level}}"
            )
        entries = list(config.per_path_severity)
        for pattern, codes in raw.items():
            if not isinstance(codes, dict):
                raise ConfigError(f"{source}: per-path-severity.{pattern} must be a table")
            for prefix, level in codes.items():
                _prefixes([prefix], "per-path-severity", source)
                entries.append((str(pattern), prefix, _severity_value(level, source)))
        changes["per_path_severity"] = tuple(entries)
    if "exclude" in table:
        value = table["exclude"]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{source}: `exclude` must be a list of patterns")
        changes["exclude"] = (*config.exclude, *value)
    if "keyring" in table:
        changes["keyring"] = (base / str(table["keyring"])).resolve()
    if "trust" in table:
        changes["trust"] = (base / str(table["trust"])).resolve()
    if "required-stages" in table:
        stages = table["required-stages"]
        if not isinstance(stages, list) or not all(v in _STAGES for v in stages):
            raise ConfigError(
                f"{source}: `required-stages` must be a list of lifecycle stages",
                hint="stages: " + ", ".join(_STAGES),
            )
        changes["required_stages"] = tuple(dict.fromkeys([*config.required_stages, *stages]))
    if "fpr" in table:
        fpr = table["fpr"]
        if not isinstance(fpr, (int, float)) or not 0 < float(fpr) < 1:
            raise ConfigError(f"{source}: `fpr` must be a number between 0 and 1")
        changes["fpr"] = float(fpr)
    changes.update(from_table(table, source))
    for key, attr in (("strict", "strict"), ("header-only", "header_only")):
        if key in table:
            if not isinstance(table[key], bool):
                raise ConfigError(f"{source}: `{key}` must be true or false")
            changes[attr] = table[key]
    return replace(config, **changes)


def _load_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise ConfigError("configuration file not found", path=path) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"invalid TOML: {exc}", path=path) from exc
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", path=path) from exc


def apply_policy(config: ValidateConfig, policy: str, base: Path) -> ValidateConfig:
    """Apply a packaged policy by name, or a policy file by path."""
    if policy in POLICY_NAMES:
        text = (
            importlib.resources.files("synthmark.policies")
            .joinpath(f"{policy}.toml")
            .read_text(encoding="utf-8")
        )
        table = tomllib.loads(text)
        source = f"policy {policy}"
    else:
        path = (base / policy) if not Path(policy).is_absolute() else Path(policy)
        if not path.is_file():
            raise ConfigError(
                f"unknown policy {policy!r}",
                hint=f"use one of {', '.join(POLICY_NAMES)} or a .toml file",
            )
        table = _load_toml(path)
        source = str(path)
    table = dict(table)
    table.pop("policy", None)
    return replace(apply_table(config, table, source, base), policy=policy)


def find_config(root: Path) -> tuple[Path, dict[str, Any]] | None:
    """Find the dataset's configuration: ``synthmark.toml`` or ``[tool.synthmark]`` in
    ``pyproject.toml``, in ``root`` or its nearest ancestor that has one (stopping at a
    repository root)."""
    folder = root if root.is_dir() else root.parent
    for candidate in [folder.resolve(), *folder.resolve().parents]:
        own = candidate / CONFIG_FILE
        if own.is_file():
            return own, _load_toml(own)
        project = candidate / "pyproject.toml"
        if project.is_file():
            table = _load_toml(project).get("tool", {}).get("synthmark")
            if isinstance(table, dict):
                return project, table
        if (candidate / ".git").exists():
            break
    return None


def load_config(
    roots: list[Path], *, policy: str | None = None, config_file: Path | None = None
) -> ValidateConfig:
    """Build the configuration for ``roots`` from a policy and the dataset's config file."""
    config = ValidateConfig()
    base = Path.cwd()
    found: tuple[Path, dict[str, Any]] | None
    if config_file is not None:
        data = _load_toml(config_file)
        table = (
            data.get("tool", {}).get("synthmark", data)
            if config_file.name == "pyproject.toml"
            else data
        )
        found = (config_file, table)
    else:
        found = find_config(roots[0]) if roots else None
    if policy is not None:
        config = apply_policy(config, policy, base)
    if found is not None:
        path, table = found
        if policy is not None:
            table = {k: v for k, v in table.items() if k != "policy"}
        if config_file is None and "trust" in table:
            # The trust file is the verifier's decision (spec/attestations.md section 6.6):
            # a dataset that names its own would vouch for itself.
            raise ConfigError(
                f"{path}: `trust` is not taken from a configuration found beside the data",
                hint="give the verifier's trust file with --trust, or this file with --config",
            )
        config = apply_table(config, table, str(path), path.parent)
    return config
