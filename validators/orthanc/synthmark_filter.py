"""synthmark ingestion filter for Orthanc (a script for the Orthanc Python plugin).

Every instance that reaches Orthanc is checked with synthmark (the ``archive-ingest``
policy by default) before it is stored. An unacknowledged synthetic instance (for example
a watermarked image whose labels were stripped, rule SM501) is refused; real instances and
synthetic instances that say what they are are stored. Each decision is logged with the
rule codes and a short hash of the instance, never with patient data or UIDs.

Which hook tells the sender (Orthanc 1.10 + orthanc-python 4.0, verified; see README.md):

* DICOM C-STORE: ``RegisterIncomingCStoreInstanceFilter``. Returning a DIMSE failure
  status makes Orthanc answer the C-STORE with that status, so the modality sees the
  rejection (storescu: ``Error: DataSetDoesNotMatchSOPClass``, exit status 169).
* REST, DICOMweb/other plugins, Lua, WebDAV: ``RegisterReceivedInstanceCallback``
  returning ``DISCARD``; ``POST /instances`` then answers HTTP 200 with
  ``"Status": "FilteredOut"``. That callback also runs for C-STORE, *before* the C-STORE
  filter, and a C-STORE instance it discards is reported to the modality as a success, so
  for DICOM it keeps the instance and leaves the decision to the C-STORE filter.

Orthanc runs this script in the Python it was built against (Debian 12: 3.11). synthmark
is imported from the virtual environment named in the configuration, which must have been
created with the same Python minor version. When synthmark cannot be loaded (no or wrong
virtual environment, a bad policy or keyring), the filter fails closed: Orthanc starts, so
stored studies stay readable, but every incoming instance is refused and the reason is
logged at start-up and with each refusal. ``GET /synthmark/status`` reports the state.

Configuration (Orthanc configuration JSON)::

    "Plugins": ["/usr/share/orthanc/plugins/libOrthancPython.so"],
    "PythonScript": "/etc/orthanc/synthmark_filter.py",
    "Synthmark": {
      "VirtualEnv": "/opt/synthmark/venv",     // required
      "Policy": "archive-ingest",              // packaged name or a .toml file
      "Keyring": null,                         // watermark keyring (private keys)
      "Trust": null,                           // trust file for signed records
      "RejectStatus": "0xA900",                // DIMSE status of a refused C-STORE
      "TemporaryDirectory": null               // where instances are checked
    }

Relative paths are resolved against the folder of the Orthanc configuration.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import site
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orthanc  # provided by the Orthanc Python plugin, not installable from PyPI

PREFIX = "synthmark: "
#: "Error: Data Set does not match SOP Class" (PS3.4 Annex B). A permanent error: a
#: "Refused: Out of Resources" (0xA7xx) status would invite the modality to retry forever.
DEFAULT_REJECT_STATUS = 0xA900
DEFAULT_POLICY = "archive-ingest"
STATUS_URI = "/synthmark/status"


@dataclass(frozen=True)
class Decision:
    """What happens to one instance.

    Attributes:
        accept: Store it.
        verdict: ``real``, ``synthetic-acknowledged``, ``rejected`` or ``unavailable``.
        codes: Rule codes that decided (errors when rejected; every finding otherwise).
    """

    accept: bool
    verdict: str
    codes: tuple[str, ...]


@dataclass(frozen=True)
class Settings:
    """The ``Synthmark`` section of the Orthanc configuration, resolved."""

    venv: Path | None
    policy: str
    keyring: Path | None
    trust: Path | None
    reject_status: int
    temp_dir: Path | None


class Unavailable(Exception):
    """synthmark cannot check instances; the message says why and what to do."""


# ----------------------------------------------------------------------- configuration


def _base_folder() -> Path:
    # Relative paths follow Orthanc's own convention: the configuration's folder.
    try:
        where = Path(orthanc.GetConfigurationPath())
    except Exception:
        return Path.cwd()
    return where if where.is_dir() else where.parent


def _path(value: Any, key: str, base: Path) -> Path | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise Unavailable(f'configuration "Synthmark.{key}" must be a path string')
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _status(value: Any) -> int:
    try:
        status = int(value, 0) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        raise Unavailable(f'"Synthmark.RejectStatus" is not a number: {value!r}') from None
    # 0x0000 is success and 0xFFxx pending: neither refuses an instance.
    if not 0x0001 <= status <= 0xFEFF:
        raise Unavailable(
            f'"Synthmark.RejectStatus" must be a DIMSE failure status, got {status:#06x}'
        )
    return status


def read_settings(configuration: str) -> Settings:
    """Parse the ``Synthmark`` section of Orthanc's configuration JSON."""
    try:
        section = json.loads(configuration).get("Synthmark", {})
    except (ValueError, AttributeError):
        raise Unavailable("the Orthanc configuration is not a JSON object") from None
    if not isinstance(section, dict):
        raise Unavailable('configuration "Synthmark" must be an object')
    base = _base_folder()
    policy = section.get("Policy") or DEFAULT_POLICY
    if not isinstance(policy, str):
        raise Unavailable('"Synthmark.Policy" must be a policy name or a .toml path')
    if policy.endswith(".toml") and not Path(policy).is_absolute():
        policy = str(base / policy)
    return Settings(
        venv=_path(section.get("VirtualEnv"), "VirtualEnv", base),
        policy=policy,
        keyring=_path(section.get("Keyring"), "Keyring", base),
        trust=_path(section.get("Trust"), "Trust", base),
        reject_status=_status(section.get("RejectStatus", DEFAULT_REJECT_STATUS)),
        temp_dir=_path(section.get("TemporaryDirectory"), "TemporaryDirectory", base),
    )


# ------------------------------------------------------------------- virtual environment


def _venv_python(venv: Path) -> str:
    """``major.minor`` of the Python the virtual environment was created with."""
    config = venv / "pyvenv.cfg"
    try:
        text = config.read_text(encoding="utf-8", errors="replace")
    except OSError:
        raise Unavailable(
            f'"Synthmark.VirtualEnv" {venv} is not a virtual environment (no pyvenv.cfg); '
            f"create one with: python{sys.version_info.major}.{sys.version_info.minor} "
            f"-m venv {venv} && {venv}/bin/pip install synthmark"
        ) from None
    # `version` (venv, Python >= 3.3) or `version_info` (virtualenv, uv).
    match = re.search(r"^\s*version(?:_info)?\s*=\s*(\d+)\.(\d+)", text, re.MULTILINE)
    if match is None:
        raise Unavailable(f"{config} names no Python version")
    return f"{match.group(1)}.{match.group(2)}"


def activate_venv(venv: Path) -> Path:
    """Put the virtual environment's site-packages first on ``sys.path``; return it.

    Compiled wheels (numpy, torch) are built for one Python minor version, so a virtual
    environment of another minor version cannot be used at all: it is refused here with
    the versions named, instead of failing later with an obscure import error.
    """
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    made_with = _venv_python(venv)
    if made_with != here:
        raise Unavailable(
            f'"Synthmark.VirtualEnv" {venv} was created with Python {made_with}, but '
            f"Orthanc's Python plugin runs Python {sys.version.split()[0]} "
            f"(libpython{here}); create the virtual environment with python{here}"
        )
    site_packages = venv / "lib" / f"python{here}" / "site-packages"
    if not site_packages.is_dir():
        raise Unavailable(f"{site_packages} does not exist")
    # addsitedir also runs the .pth files (editable installs); its entries go first so
    # that the venv's numpy/pydicom win over Debian's python3-* packages.
    before = list(sys.path)
    site.addsitedir(str(site_packages))
    added = [entry for entry in sys.path if entry not in before]
    sys.path[:] = added + before
    return site_packages


# ------------------------------------------------------------------------------ checker


class Checker:
    """Runs synthmark on instance bytes. Built once at start-up; never raises."""

    def __init__(self, settings: Settings) -> None:
        if settings.venv is None:
            raise Unavailable(
                'no "Synthmark": {"VirtualEnv": ...} in the Orthanc configuration: '
                "say which virtual environment has synthmark installed"
            )
        activate_venv(settings.venv)
        try:
            import synthmark
            from synthmark.errors import SynthmarkError
            from synthmark.validation.config import ValidateConfig, apply_policy
        except Exception as exc:  # ImportError, or a broken dependency (ABI mismatch)
            raise Unavailable(
                f"cannot import synthmark from {settings.venv}: {type(exc).__name__}: {exc}"
            ) from None
        if not str(Path(synthmark.__file__).resolve()).startswith(str(settings.venv.resolve())):
            # Editable installs live outside the venv: say where it came from.
            orthanc.LogWarning(f"{PREFIX}synthmark imported from {Path(synthmark.__file__).parent}")
        try:
            # One process, no worker pool: a pool would start Orthanc binaries, not Python.
            config = apply_policy(
                ValidateConfig(jobs=1, keyring=settings.keyring, trust=settings.trust),
                settings.policy,
                _base_folder(),
            )
            if config.keyring is not None and not config.header_only:
                from synthmark.watermark import load_keyring

                load_keyring(config.keyring)
            # Load the detector (torch) now rather than on the first instance, whose
            # sender would otherwise wait seconds for its answer.
            from synthmark.watermark import detect

            assert callable(detect)
        except SynthmarkError as exc:
            raise Unavailable(f"{exc.code}: {exc.message}") from None
        except Exception as exc:
            raise Unavailable(f"synthmark failed to start: {type(exc).__name__}: {exc}") from None
        self.version = synthmark.__version__
        self.config = config
        self.settings = settings
        # validate() keeps per-run state in module globals and changes torch's thread
        # count while it runs; Orthanc calls filters from several threads at once.
        self._lock = threading.Lock()

    def check(self, data: bytes) -> Decision:
        from synthmark import validate
        from synthmark.validation.report import Severity

        # The instance is written to a private folder (0700; it holds patient data) and
        # removed whatever happens.
        folder = tempfile.mkdtemp(prefix="synthmark-orthanc-", dir=self.settings.temp_dir)
        try:
            path = Path(folder) / "instance.dcm"
            path.write_bytes(data)
            with self._lock:
                report = validate([path], self.config)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        if report.internal_errors:
            return Decision(False, "rejected", ("SMX070",))
        if report.failed:
            worst = Severity.WARNING if report.strict else Severity.ERROR
            codes = sorted({f.code for f in report.findings if f.severity.rank >= worst.rank})
            return Decision(False, "rejected", tuple(codes))
        verdict = "synthetic-acknowledged" if report.summary.synthetic_acknowledged else "real"
        return Decision(True, verdict, tuple(sorted({f.code for f in report.findings})))


# ------------------------------------------------------------------------------- hooks

_CHECKER: Checker | None = None
_UNAVAILABLE = "not started"
_REJECT_STATUS = DEFAULT_REJECT_STATUS


def short_hash(data: bytes) -> str:
    """A short, stable reference to an instance for the log (no UID, no patient data)."""
    return hashlib.sha256(data).hexdigest()[:12]


def _decide(data: bytes, origin: str, aet: str | None) -> Decision:
    if _CHECKER is None:
        decision = Decision(False, "unavailable", ())
    else:
        try:
            decision = _CHECKER.check(data)
        except Exception as exc:  # fail closed; the log names the failure, not the data
            orthanc.LogError(f"{PREFIX}check failed ({type(exc).__name__}): instance refused")
            decision = Decision(False, "rejected", ("SMX070",))
    source = f"origin={origin}" + (f" aet={aet}" if aet else "")
    codes = ",".join(decision.codes) or "-"
    line = f"instance sha256:{short_hash(data)} {source} verdict={decision.verdict} rules={codes}"
    if decision.accept:
        orthanc.LogInfo(f"{PREFIX}ACCEPT {line}")
    elif _CHECKER is None:
        orthanc.LogError(f"{PREFIX}REJECT {line} (synthmark unavailable: {_UNAVAILABLE})")
    else:
        orthanc.LogWarning(f"{PREFIX}REJECT {line}")
    return decision


def _origin_name(origin: Any) -> str:
    names = {
        orthanc.InstanceOrigin.DICOM_PROTOCOL: "dicom",
        orthanc.InstanceOrigin.REST_API: "rest",
        orthanc.InstanceOrigin.PLUGIN: "plugin",
        orthanc.InstanceOrigin.LUA: "lua",
        orthanc.InstanceOrigin.WEB_DAV: "webdav",
    }
    return names.get(origin, "unknown")


def on_cstore(instance: Any) -> int:
    """C-STORE filter: 0 stores the instance; a failure status goes back to the sender."""
    try:
        data = bytes(instance.GetInstanceData())
        aet = instance.GetInstanceRemoteAet()
        decision = _decide(data, "dicom", aet)
    except Exception as exc:
        orthanc.LogError(f"{PREFIX}C-STORE filter failed ({type(exc).__name__}): refused")
        return _REJECT_STATUS
    return 0 if decision.accept else _REJECT_STATUS


def on_received(data: bytes, origin: Any) -> tuple[Any, None]:
    """Every other way in (REST, DICOMweb, Lua, WebDAV): discard = "FilteredOut"."""
    keep = orthanc.ReceivedInstanceAction.KEEP_AS_IS
    if origin == orthanc.InstanceOrigin.DICOM_PROTOCOL:
        # Discarding here would tell the modality "Success": on_cstore decides instead.
        return keep, None
    try:
        decision = _decide(bytes(data), _origin_name(origin), None)
    except Exception as exc:
        orthanc.LogError(f"{PREFIX}instance filter failed ({type(exc).__name__}): refused")
        return orthanc.ReceivedInstanceAction.DISCARD, None
    return (keep if decision.accept else orthanc.ReceivedInstanceAction.DISCARD), None


def on_status(output: Any, uri: str, **request: Any) -> None:
    """``GET /synthmark/status``: whether instances are being checked, and how."""
    if request.get("method") != "GET":
        output.SendMethodNotAllowed("GET")
        return
    state: dict[str, Any] = {
        "ready": _CHECKER is not None,
        "error": None if _CHECKER is not None else _UNAVAILABLE,
        "python": sys.version.split()[0],
        "reject_status": f"{_REJECT_STATUS:#06x}",
    }
    if _CHECKER is not None:
        state.update(synthmark=_CHECKER.version, policy=_CHECKER.config.policy)
    output.AnswerBuffer(json.dumps(state), "application/json")


def start() -> None:
    """Read the configuration, load synthmark, register the hooks (always: fail closed)."""
    global _CHECKER, _UNAVAILABLE, _REJECT_STATUS
    try:
        settings = read_settings(orthanc.GetConfiguration())
        _REJECT_STATUS = settings.reject_status
        _CHECKER = Checker(settings)
    except Unavailable as exc:
        _UNAVAILABLE = str(exc)
    except Exception as exc:  # never let a start-up bug leave the archive unfiltered
        _UNAVAILABLE = f"start-up failed: {type(exc).__name__}: {exc}"
    orthanc.RegisterIncomingCStoreInstanceFilter(on_cstore)
    orthanc.RegisterReceivedInstanceCallback(on_received)
    orthanc.RegisterRestCallback(STATUS_URI, on_status)
    if _CHECKER is None:
        orthanc.LogError(
            f"{PREFIX}UNAVAILABLE, every incoming instance will be REFUSED: {_UNAVAILABLE}"
        )
    else:
        orthanc.LogWarning(
            f"{PREFIX}ingestion filter active: synthmark {_CHECKER.version}, policy "
            f"{_CHECKER.config.policy}, Python {sys.version.split()[0]}, "
            f"C-STORE refusal status {_REJECT_STATUS:#06x} (pid {os.getpid()})"
        )


start()
