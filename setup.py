"""Ships ``stratus-airflow.pth`` next to the packages (pyproject.toml holds everything else).

The .pth line imports ``stratus_airflow_hook`` at interpreter start, so ``python my_dag.py`` with
``from airflow.sdk import dag, task`` works where Apache Airflow is not installed (see that
module). setuptools copies only packages and modules into a wheel: ``build_py`` adds the .pth
to a regular wheel, and the editable wheel (``pip install -e``) gets it written next to its own
``__editable__`` .pth.
"""

from __future__ import annotations

import os

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

PTH = "stratus-airflow.pth"
HERE = os.path.dirname(os.path.abspath(__file__))


class BuildPyWithPth(build_py):
    def run(self) -> None:
        super().run()
        self.copy_file(os.path.join(HERE, PTH), os.path.join(self.build_lib, PTH), preserve_mode=False)


class EditableWheelWithPth(editable_wheel):
    def _select_strategy(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        strategy = super()._select_strategy(*args, **kwargs)

        def with_pth(wheel, files, mapping):  # type: ignore[no-untyped-def]
            strategy(wheel, files, mapping)
            with open(os.path.join(HERE, PTH), encoding="utf-8") as fh:
                wheel.writestr(PTH, fh.read())

        class _Wrapped:
            def __enter__(self):  # type: ignore[no-untyped-def]
                strategy.__enter__()
                return self

            def __exit__(self, *exc):  # type: ignore[no-untyped-def]
                return strategy.__exit__(*exc)

            def __call__(self, wheel, files, mapping):  # type: ignore[no-untyped-def]
                with_pth(wheel, files, mapping)

        return _Wrapped()


setup(cmdclass={"build_py": BuildPyWithPth, "editable_wheel": EditableWheelWithPth})
