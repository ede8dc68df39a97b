"""The Orthanc ingestion filter (validators/orthanc/synthmark_filter.py) in a real Orthanc.

Each test starts Orthanc (Debian's ``orthanc`` + ``orthanc-python``) on free loopback
ports with a temporary storage folder and the filter configured, sends a real CT, an
acknowledged (stamped, watermarked) synthetic CT and the same synthetic CT with its labels
stripped, with dcmtk's ``storescu`` (C-STORE) and over REST, and checks what the sender was
told and what was stored. The filter runs inside Orthanc's embedded Python and imports
synthmark from this test's virtual environment (``sys.prefix``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
FILTER = REPO / "validators" / "orthanc" / "synthmark_filter.py"
EXAMPLE_CONFIG = REPO / "validators" / "orthanc" / "orthanc.json"
PLUGIN_CANDIDATES = (
    Path("/usr/share/orthanc/plugins/libOrthancPython.so"),
    *sorted(Path("/usr/lib/orthanc").glob("libOrthancPython.so*")),
)
START_TIMEOUT_S = 60.0
#: Patient names and UIDs of the test files: none may appear in the filter's log lines.
PRIVATE_VALUES = ("CompressedSamples", "JXD191021006", "1.3.6.1.4.1.5962", "1.2.826.0.1")


def _orthanc_binary() -> str | None:
    # /usr/sbin is not on every user's PATH.
    return shutil.which("Orthanc") or shutil.which("Orthanc", path="/usr/sbin:/usr/bin")


def _plugin() -> Path | None:
    return next((p for p in PLUGIN_CANDIDATES if p.is_file()), None)


def _plugin_python(plugin: Path) -> str | None:
    """``3.X`` of the libpython the Python plugin is linked against."""
    found = re.search(rb"libpython(3\.\d+)", plugin.read_bytes())
    return found.group(1).decode() if found else None


def _missing() -> str | None:
    if _orthanc_binary() is None:
        return "Orthanc is not installed (apt-get install orthanc orthanc-python)"
    plugin = _plugin()
    if plugin is None:
        return "the Orthanc Python plugin is not installed (apt-get install orthanc-python)"
    if shutil.which("storescu") is None:
        return "dcmtk's storescu is not installed (apt-get install dcmtk)"
    embedded = _plugin_python(plugin)
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if embedded is not None and embedded != here:
        # Compiled wheels (numpy, torch) exist per Python minor version: the plugin can
        # only load synthmark from a venv of its own Python (validators/orthanc/README.md).
        return (
            f"orthanc-python embeds Python {embedded} but this test venv is Python {here}: "
            f"run the tests from a python{embedded} virtual environment"
        )
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=str(_missing()))


def _free_port() -> int:
    # Orthanc 1.10 binds every interface (it has no bind-address option), so ask for a
    # port that is free on all of them.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    http: int
    dicom: int
    log: Path
    process: subprocess.Popen[bytes]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.http}{path}"

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
        req = urllib.request.Request(self.url(path), data=body, method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as answer:
                status, raw = answer.status, answer.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        return status, json.loads(raw) if raw.strip() else None

    def status(self) -> dict[str, Any]:
        code, body = self.request("GET", "/synthmark/status")
        assert code == 200, body
        return dict(body)

    def instances(self) -> list[dict[str, Any]]:
        code, body = self.request("GET", "/instances?expand")
        assert code == 200
        return list(body)

    def clear(self) -> None:
        for instance in self.instances():
            self.request("DELETE", f"/instances/{instance['ID']}")
        assert self.instances() == []

    def storescu(self, path: Path) -> subprocess.CompletedProcess[str]:
        # -v prints the C-STORE response status; -xv also proposes JPEG 2000 lossless,
        # the transfer syntax of the synthetic test files (uncompressed is still offered).
        return subprocess.run(
            ["storescu", "-v", "-xv", "-aet", "STORESCU", "-aec", "ORTHANC",
             "127.0.0.1", str(self.dicom), str(path)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    def filter_lines(self) -> list[str]:
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return [line for line in text.splitlines() if "synthmark: " in line]


def _start(folder: Path, synthmark: dict[str, Any]) -> Server:
    folder.mkdir(parents=True, exist_ok=True)
    http, dicom = _free_port(), _free_port()
    # The documented example configuration, pointed at this test's ports and folders.
    config = json.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    config.update(
        Name="synthmark-test",
        StorageDirectory=str(folder / "storage"),
        IndexDirectory=str(folder / "storage"),
        HttpPort=http,
        AuthenticationEnabled=False,
        DicomPort=dicom,
        Plugins=[str(_plugin())],
        PythonScript=str(FILTER),
    )
    config.pop("RegisteredUsers", None)
    config["Synthmark"] = {**config["Synthmark"], **synthmark}
    path = folder / "orthanc.json"
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    log = folder / "orthanc.log"
    # The embedded interpreter must not inherit this venv's interpreter settings.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "PYTHONPATH")}
    binary = _orthanc_binary()
    assert binary is not None
    with open(log, "wb") as sink:
        # --verbose: accepted instances are logged at info level.
        process = subprocess.Popen(
            [binary, "--verbose", str(path)], stdout=sink, stderr=subprocess.STDOUT, env=env
        )
    server = Server(http, dicom, log, process)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"Orthanc exited {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            server.status()
            return server
        except (OSError, AssertionError):
            time.sleep(0.2)
    _stop(server)
    pytest.fail(f"Orthanc did not start in {START_TIMEOUT_S} s:\n{log.read_text()[-4000:]}")


def _stop(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=30)


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A real CT, a stamped (acknowledged, watermarked) synthetic CT, and that synthetic
    CT with every label stripped (watermark only: what SM501 catches)."""
    from pydicom.data import get_testdata_file

    import synthmark
    from synthmark.demo import strip_dicom_labels
    from synthmark.watermark import PUBLIC_DETECTION_KEY

    def shipped(name: str) -> Path:
        found = get_testdata_file(name, download=False)
        assert found is not None, name
        return Path(str(found))

    folder = tmp_path_factory.mktemp("orthanc-scans")
    made = {"real": shipped("CT_small.dcm")}
    # CT_small (128 x 128) is too small to carry a detectable mark: use a 512 x 512 CT.
    template = shipped("J2K_pixelrep_mismatch.dcm")
    record = synthmark.load_record(REPO / "spec" / "examples" / "valid-diffusion-ct-chest.json")
    made["acknowledged"] = folder / "synthetic.dcm"
    result = synthmark.stamp(
        template, record, dest=made["acknowledged"], watermark=PUBLIC_DETECTION_KEY
    )
    assert result.watermark_note is None, result.watermark_note  # it was marked
    made["unacknowledged"] = folder / "passed-off-as-real.dcm"
    strip_dicom_labels(made["acknowledged"], made["unacknowledged"])
    return made


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = _start(tmp_path_factory.mktemp("orthanc"), {"VirtualEnv": sys.prefix})
    try:
        yield running
    finally:
        _stop(running)


def _sop_uid(path: Path) -> str:
    import pydicom

    return str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def _assert_private(lines: list[str]) -> None:
    for line in lines:
        for value in PRIVATE_VALUES:
            assert value not in line, line


def test_filter_is_active(server: Server) -> None:
    status = server.status()
    assert status["ready"] is True, status
    assert status["policy"] == "archive-ingest"
    assert status["python"].startswith(f"{sys.version_info.major}.{sys.version_info.minor}.")
    assert any("ingestion filter active" in line for line in server.filter_lines())


@pytest.mark.slow  # real tools, several processes: 5-30 s on a loaded 2-core host
def test_cstore_refuses_unacknowledged_synthetic(server: Server, scans: dict[str, Path]) -> None:
    server.clear()
    # The stripped copy shares its SOP Instance UID with the stamped one: send it first,
    # so that "nothing stored" is unambiguous.
    refused = server.storescu(scans["unacknowledged"])
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0, output
    assert "Received Store Response (Error: DataSetDoesNotMatchSOPClass)" in output
    assert server.instances() == []

    for name in ("real", "acknowledged"):
        sent = server.storescu(scans[name])
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert "Received Store Response (Success)" in sent.stdout + sent.stderr
    stored = {i["MainDicomTags"]["SOPInstanceUID"] for i in server.instances()}
    assert stored == {_sop_uid(scans["real"]), _sop_uid(scans["acknowledged"])}

    lines = [line for line in server.filter_lines() if "origin=dicom" in line]
    rejected = [line for line in lines if "REJECT" in line]
    assert len(rejected) == 1 and "rules=SM501" in rejected[0], lines
    assert "aet=STORESCU" in rejected[0]
    assert re.search(r"sha256:[0-9a-f]{12} ", rejected[0])
    assert any("ACCEPT" in line and "verdict=real" in line for line in lines), lines
    assert any("verdict=synthetic-acknowledged" in line for line in lines), lines
    _assert_private(server.filter_lines())


def test_rest_upload_reports_filtered_out(server: Server, scans: dict[str, Path]) -> None:
    server.clear()
    code, answer = server.request("POST", "/instances", scans["unacknowledged"].read_bytes())
    assert (code, answer["Status"]) == (200, "FilteredOut"), answer
    assert server.instances() == []
    for name in ("real", "acknowledged"):
        code, answer = server.request("POST", "/instances", scans[name].read_bytes())
        assert (code, answer["Status"]) == (200, "Success"), (name, answer)
    assert len(server.instances()) == 2

    lines = [line for line in server.filter_lines() if "origin=rest" in line]
    assert any("REJECT" in line and "rules=SM501" in line for line in lines), lines
    assert sum("ACCEPT" in line for line in lines) == 2, lines
    _assert_private(server.filter_lines())


@pytest.mark.slow  # real tools, several processes: 5-30 s on a loaded 2-core host
@pytest.mark.parametrize("venv", ["missing", "wrong-python"])
def test_fails_closed_without_usable_venv(
    venv: str, tmp_path: Path, scans: dict[str, Path]
) -> None:
    folder = tmp_path / "venv"
    expected: Callable[[str], bool]
    if venv == "wrong-python":
        # What a venv made with another Python looks like: wheels for another ABI.
        folder.mkdir()
        (folder / "pyvenv.cfg").write_text("home = /usr/bin\nversion = 3.9.18\n")
        expected = lambda text: "created with Python 3.9" in text  # noqa: E731
    else:
        expected = lambda text: "not a virtual environment" in text  # noqa: E731
    server = _start(tmp_path / "orthanc", {"VirtualEnv": str(folder)})
    try:
        status = server.status()
        assert status["ready"] is False and expected(status["error"]), status
        sent = server.storescu(scans["real"])
        assert sent.returncode != 0
        assert "Error: DataSetDoesNotMatchSOPClass" in sent.stdout + sent.stderr
        code, answer = server.request("POST", "/instances", scans["real"].read_bytes())
        assert (code, answer["Status"]) == (200, "FilteredOut")
        assert server.instances() == []
        lines = server.filter_lines()
        assert any("UNAVAILABLE, every incoming instance will be REFUSED" in x for x in lines)
        assert sum("REJECT" in line and "verdict=unavailable" in line for line in lines) == 2
        assert all(expected(line) for line in lines if "REJECT" in line)
    finally:
        _stop(server)


@pytest.mark.slow  # real tools, several processes: 5-30 s on a loaded 2-core host
def test_policy_and_keyring_come_from_the_configuration(
    tmp_path: Path, server: Server, scans: dict[str, Path]
) -> None:
    """Relative ``Policy`` and ``Keyring`` paths resolve against the configuration's folder
    and take effect: a mark made with a private key is found only with the keyring, and a
    stricter policy refuses what archive-ingest accepts."""
    from pydicom.data import get_testdata_file

    import synthmark
    from synthmark.api import mark_file
    from synthmark.watermark import generate_key, save_keyring

    folder = tmp_path / "orthanc"
    folder.mkdir()
    key = generate_key()
    save_keyring([key], folder / "ring.json")
    # archive-ingest, except that a synthetic image must carry a watermark.
    (folder / "policy.toml").write_text(
        'select = ["SM1", "SM2", "SM4", "SM501", "SM9"]\n'
        'ignore = ["SM903"]\n'
        "[severity]\n"
        'SM401 = "error"\n',
        encoding="utf-8",
    )
    template = get_testdata_file("J2K_pixelrep_mismatch.dcm", download=False)
    private = tmp_path / "private-mark.dcm"  # marked with the private key, no label
    mark_file(str(template), dest=private, key=key)
    unmarked = tmp_path / "unmarked-synthetic.dcm"  # acknowledged, but no watermark
    record = synthmark.load_record(REPO / "spec" / "examples" / "valid-diffusion-ct-chest.json")
    synthmark.stamp(scans["real"], record, dest=unmarked)

    # The default configuration (archive-ingest, public key only) stores both.
    server.clear()
    for path in (private, unmarked):
        code, answer = server.request("POST", "/instances", path.read_bytes())
        assert (code, answer["Status"]) == (200, "Success"), (path.name, answer)

    custom = _start(
        folder, {"VirtualEnv": sys.prefix, "Policy": "policy.toml", "Keyring": "ring.json"}
    )
    try:
        status = custom.status()
        assert status["ready"] is True, status
        assert status["policy"] == str(folder / "policy.toml")
        for path, rule in ((private, "SM501"), (unmarked, "SM401")):
            code, answer = custom.request("POST", "/instances", path.read_bytes())
            assert (code, answer["Status"]) == (200, "FilteredOut"), (path.name, answer)
            assert any(f"rules={rule}" in line for line in custom.filter_lines()), rule
        code, answer = custom.request("POST", "/instances", scans["acknowledged"].read_bytes())
        assert (code, answer["Status"]) == (200, "Success"), answer
    finally:
        _stop(custom)
