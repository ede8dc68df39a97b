"""Every C2PA output validates in two independent implementations.

c2pa-python (c2pa-rs) is what synthmark writes with; @trustnxt/c2pa-ts is a separate,
pure-TypeScript reader. .ci/run installs it from npm into SYNTHMARK_C2PA_TS_DIR (default
~/.cache/synthmark/c2pa-ts); without Node.js or the package the test skips and says so.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import EXAMPLES

HERE = Path(__file__).resolve().parent
PACKAGE_DIR = Path(
    os.environ.get("SYNTHMARK_C2PA_TS_DIR", Path.home() / ".cache" / "synthmark" / "c2pa-ts")
)
NODE = shutil.which("node")
INSTALLED = (PACKAGE_DIR / "node_modules" / "@trustnxt" / "c2pa-ts" / "dist").is_dir()
pytestmark = pytest.mark.skipif(
    NODE is None or not INSTALLED,
    reason=f"@trustnxt/c2pa-ts not installed in {PACKAGE_DIR} (npm install --prefix DIR "
    "@trustnxt/c2pa-ts), or no node",
)


def _c2pa_ts(path: Path) -> dict[str, object]:
    done = subprocess.run(
        [str(NODE), str(HERE / "c2pa_ts_read.mjs"), str(PACKAGE_DIR), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _cover(path: Path, fmt: str) -> Path:
    from pydicom import dcmread
    from pydicom.data import get_testdata_file

    ct = dcmread(get_testdata_file("CT_small.dcm", download=False)).pixel_array.astype(float)
    grey = np.rint((ct - ct.min()) / (ct.max() - ct.min()) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(np.tile(grey, (2, 2))).save(
        buf, fmt, **({"quality": 95} if fmt == "JPEG" else {})
    )
    path.write_bytes(buf.getvalue())
    return path


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
@pytest.mark.parametrize("watermark", [True, False], ids=["watermarked", "unmarked"])
def test_outputs_validate_in_c2pa_python_and_c2pa_ts(
    tmp_path: Path, suffix: str, watermark: bool
) -> None:
    from synthmark.api import stamp
    from synthmark.carriers.c2pa import load_signing_identity, make_dev_ca, read_credentials
    from synthmark.record.parsing import parse_record

    ca = make_dev_ca(tmp_path / "ca")
    identity = load_signing_identity(ca.chain, ca.leaf_key)
    source = _cover(tmp_path / f"in{suffix}", "PNG" if suffix == ".png" else "JPEG")
    record = parse_record((EXAMPLES / "valid-diffusion-ct-chest.json").read_bytes())
    out = tmp_path / f"out{suffix}"
    from synthmark.watermark import PUBLIC_DETECTION_KEY

    key = PUBLIC_DETECTION_KEY if watermark else None
    stamp(source, record, dest=out, credentials=identity, watermark=key)
    mime = "image/png" if suffix == ".png" else "image/jpeg"
    state = read_credentials(out.read_bytes(), mime, trust_anchors_pem=ca.root_cert.read_bytes())
    assert state.state == "trusted", state.failure_codes
    independent = _c2pa_ts(out)
    failed = [e for e in independent["entries"] if not e["success"]]  # type: ignore[union-attr]
    assert independent["isValid"] is True and not failed, failed
    codes = {e["code"] for e in independent["entries"]}  # type: ignore[union-attr]
    assert "assertion.hashedURI.match" in codes and "claimSignature.validated" in codes
