"""The template passes cfn-lint and `sam validate --lint`, and `sam build` works without Docker.

aws-sam-cli lives in its own venv (.venv-sam, installed by `make test`) so its pins do not
fight moto's; `sam build` needs python3.12 on PATH (found the way the Makefile finds it).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SAM = ROOT / ".venv-sam" / "bin" / "sam"


def _python312_dir() -> str | None:
    # Real interpreters first: a pyenv shim on PATH fails when 3.12 is not the selected version.
    candidates = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python3.12"))) + ["/usr/bin/python3.12"]
    for cand in candidates:
        if os.access(cand, os.X_OK):
            return str(Path(cand).parent)
    found = shutil.which("python3.12")
    return str(Path(found).parent) if found and "/shims/" not in found else None


def _sam_env() -> dict[str, str]:
    env = dict(os.environ, SAM_CLI_TELEMETRY="0", AWS_DEFAULT_REGION="us-east-1")
    for key in ("AWS_ENDPOINT_URL", "STRATUS_ENDPOINT_URL"):
        env.pop(key, None)
    py = _python312_dir()
    if py:
        env["PATH"] = py + os.pathsep + env.get("PATH", "")
    return env


needs_sam = pytest.mark.skipif(not SAM.exists(), reason="aws-sam-cli not installed in .venv-sam (run `make test`)")


def test_cfn_lint_is_clean():
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    exe = str(cfn_lint) if cfn_lint.exists() else shutil.which("cfn-lint")
    assert exe, "cfn-lint is not installed (it is in the dev extras: pip install -e '.[dev]')"
    proc = subprocess.run([exe, str(ROOT / "template.yaml")], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@needs_sam
def test_sam_validate_lint_is_clean():
    proc = subprocess.run(
        [str(SAM), "validate", "--lint", "--template-file", str(ROOT / "template.yaml")],
        capture_output=True, text=True, cwd=ROOT, env=_sam_env(),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "is a valid SAM Template" in proc.stdout + proc.stderr


@pytest.mark.slow
@needs_sam
def test_sam_build_without_docker_packages_library_dags_and_functions(tmp_path):
    if _python312_dir() is None:
        pytest.skip("python3.12 is not installed: sam build for python3.12 needs it on PATH")
    dags = tmp_path / "my_dags"
    dags.mkdir()
    (dags / "hello.py").write_text("# a DAG folder given as the DagsPath parameter\n")
    build = tmp_path / "build"
    proc = subprocess.run(
        [
            str(SAM), "build", "--template-file", str(ROOT / "template.yaml"), "--build-dir", str(build),
            "--cache-dir", str(tmp_path / "cache"), "--parameter-overrides", f"DagsPath={dags}",
        ],
        capture_output=True, text=True, cwd=ROOT, env=_sam_env(), timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    layer = build / "StratusLayer" / "python"
    assert (layer / "orchestrator" / "__init__.py").is_file()
    assert (layer / "aws_lambda_powertools").is_dir() and (layer / "boto3").is_dir()
    assert not list(layer.glob("orchestrator/**/__pycache__"))
    # Wheels for Lambda's platform, not the build machine's.
    assert list(layer.glob("pydantic_core/_pydantic_core*aarch64*.so"))
    assert (build / "DagsLayer" / "dags" / "hello.py").is_file()
    built = (build / "template.yaml").read_text()
    for fn in ("WorkerFunction", "ConductorFunction", "TriggerFunction", "WidgetFunction", "ApiFunction"):
        assert (build / fn).is_dir()
        assert f"CodeUri: {fn}" in built


def test_the_deploys_per_dag_template_passes_cfn_lint(tmp_path):
    """What `stratus deploy` builds with Isolation=dag: template.yaml plus a worker and role per DAG
    or group (a DAG tagged into a group, a task policy, declared assets), as cfn-lint sees it."""
    import json

    from orchestrator.local.template import isolated, load_sam_template
    from orchestrator.plan import isolation

    groups = isolation.groups_of([
        isolation.DagIsolation("daily_sales", ["stratus:task-policy=arn:aws:iam::123456789012:policy/lake"],
                               ["s3://lake/sales/"]),
        isolation.DagIsolation("a.b", ["stratus:isolation=shared_group"]),
        isolation.DagIsolation("c", ["stratus:isolation=shared_group"]),
    ])
    generated = ROOT / f".stratus-lint-{os.getpid()}.template.json"  # next to template.yaml: CodeUri paths resolve
    generated.write_text(json.dumps(isolated(load_sam_template(ROOT / "template.yaml"), groups, stack_name="stratus")))
    try:
        cfn_lint = Path(sys.executable).parent / "cfn-lint"
        exe = str(cfn_lint) if cfn_lint.exists() else shutil.which("cfn-lint")
        assert exe, "cfn-lint is not installed (it is in the dev extras: pip install -e '.[dev]')"
        proc = subprocess.run([exe, str(generated)], capture_output=True, text=True, cwd=ROOT)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    finally:
        generated.unlink()
