"""Where rwkd runs from: its checkout (editable install or `python -m` in the repository) or an installed
package (a wheel). What may be read or written beside the code follows from that, so it is decided here once."""

from __future__ import annotations

import functools
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


@functools.cache
def checkout_root() -> Path | None:
    """The repository root rwkd runs from, or None for an installed package. A pyproject.toml that names
    rwkd, beside the top-level conf/: a wheel installed next to some other project's pyproject.toml
    (`pip install --target`) is still an installed package."""
    root = PACKAGE.parent
    pyproject = root / "pyproject.toml"
    try:
        names_rwkd = 'name = "rwkd"' in pyproject.read_text(encoding="utf-8")
    except OSError:
        return None
    return root if names_rwkd and (root / "conf" / "train.yaml").is_file() else None


def runs_from_checkout() -> bool:
    return checkout_root() is not None


def conf_dir() -> Path:
    """The built-in configs: the checkout's conf/ (the source of truth, so an edit counts at once), else the
    copy of it the wheel ships as rwkd/conf (setup.py maps it there)."""
    root = checkout_root()
    return root / "conf" if root is not None else PACKAGE / "conf"


def inside_installed_package(path: str | Path) -> bool:
    """Whether `path` lies in an installed package's own files, which no command may write: an upgrade
    or reinstall would drop what was written, and other environments may share them."""
    return checkout_root() is None and Path(path).resolve().is_relative_to(PACKAGE)


def locate(folder: str | Path) -> Path:
    """A relative folder is looked up in the working directory, else in the checkout rwkd runs from (where the
    committed outputs under results/teacher_outputs/ lie), so a recipe's teacher.outputs works from any folder
    of a checkout. An installed package ships no results/: there, only the working directory."""
    folder = Path(folder)
    root = checkout_root()
    if folder.is_absolute() or folder.exists() or root is None:
        return folder
    return root / folder if (root / folder).exists() else folder
