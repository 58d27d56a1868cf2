"""Where rdbench's shipped codec configurations and dataset manifests are, in a checkout and in a wheel.

Their one source is the repository's top level: ``codecs/*.toml`` and ``datasets/*.toml``, beside
the ``rdbench/`` package, so that a reader finds them where the design card puts them. The build
backend copies them into the package when it builds a wheel (``pyproject.toml``,
``[tool.hatch.build.targets.wheel.force-include]``: ``codecs`` -> ``rdbench/codecs/configs``,
``datasets`` -> ``rdbench/data/manifests``), because an installed package has no repository around
it. A checkout (editable install, or ``PYTHONPATH`` pointing at it) has no copies inside the package,
so :func:`shipped_dir` looks there first and falls back to the top level.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent

#: top-level folder of the checkout -> where the wheel installs it, relative to the package
#: (the same pairs as pyproject.toml's force-include; tests/test_packaging.py checks they agree)
INSTALLED_AS: dict[str, str] = {
    "codecs": "codecs/configs",
    "datasets": "data/manifests",
}


def shipped_dir(name: str) -> Path:
    """The folder of rdbench's own ``name`` files (``"codecs"`` or ``"datasets"``).

    The copy inside the installed package when there is one (a wheel install, where the folder
    beside the package is site-packages and a ``datasets/`` there is somebody else's package),
    else the checkout's top-level folder.
    """
    installed = PACKAGE_DIR / INSTALLED_AS[name]
    return installed if installed.is_dir() else PACKAGE_DIR.parent / name
