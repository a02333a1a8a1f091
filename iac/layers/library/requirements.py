"""Write (or check) the StratusLayer's requirements.txt from pyproject.toml's runtime dependencies.

One source of truth: ``[project].dependencies`` is what Lambda needs and what the layer
installs; the ``local`` and ``dev`` extras never reach it.

    python iac/layers/library/requirements.py          # rewrite requirements.txt
    python iac/layers/library/requirements.py --check  # exit 1 if it is stale (the layer build runs this)
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
PYPROJECT = HERE.parents[2] / "pyproject.toml"
TARGET = HERE / "requirements.txt"

HEADER = """\
# GENERATED from pyproject.toml [project].dependencies by iac/layers/library/requirements.py;
# edit pyproject.toml, then run `make requirements`. The StratusLayer (/opt/python) installs
# exactly these for Lambda (python3.12, arm64); moto and the SAM translator are the `local`
# extra and never reach Lambda. boto3 is pinned here too: aws-xray-sdk pulls in botocore, and
# a layer botocore next to the runtime's older boto3 would be a mismatched pair.
"""


def render(pyproject: Path = PYPROJECT) -> str:
    deps = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    return HEADER + "".join(f"{d}\n" for d in deps)


def main(argv: list[str]) -> int:
    wanted = render()
    if "--check" in argv:
        current = TARGET.read_text(encoding="utf-8") if TARGET.is_file() else ""
        if current != wanted:
            print(f"{TARGET} is stale: it must list pyproject.toml's dependencies. Run `make requirements`.",
                  file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
