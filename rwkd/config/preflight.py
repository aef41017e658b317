"""A command line checked before its first job: every value it gives, swept or not, and every value the
sweep of an experiment config will try, composed and passed through rwkd.config.settings. A sweep with one
bad value is refused whole, in one line, instead of failing on that job hours in."""

from __future__ import annotations

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError

from rwkd.config.settings import check_settings
from rwkd.errors import RwkdError

# Hydra flags that take the next argument as their value, or change what is composed: not pre-checked
UNCHECKED_FLAGS = {"--config-name", "-cn", "--config-path", "-cp", "--config-dir", "-cd", "--info", "-i",
                   "--experimental-rerun", "--cfg", "-c", "--help", "-h", "--hydra-help", "--resolve",
                   "--package", "-p", "--shell-completion", "-sc"}
MAX_COMPOSITIONS = 200  # a larger sweep is checked job by job, as each starts


def check_command_line(args: list[str], conf_dir: str, config_name: str = "train") -> None:
    if any(a.split("=", 1)[0] in UNCHECKED_FLAGS for a in args):
        return
    given = [a for a in args if not a.startswith("-")]
    parser = OverridesParser.create()
    try:
        parsed = parser.parse_overrides(given)
    except HydraException:
        return  # a malformed override: Hydra's own message says where
    fixed = [o.input_line for o in parsed if not o.is_sweep_override()]
    swept = {o.get_key_element(): _values(o) for o in parsed if o.is_sweep_override()}
    with initialize_config_dir(config_dir=conf_dir, version_base="1.3"):
        first = fixed + [f"{k}={v[0]}" for k, v in swept.items() if v]
        cfg = _compose(config_name, first, with_hydra=True)
        if cfg is None:
            return
        # the sweep an experiment config plans (hydra.sweeper.params), where the command line leaves it
        planned = OmegaConf.select(cfg, "hydra.sweeper.params") or {}
        for key, value in planned.items():
            if not any(o.get_key_element() == str(key) for o in parsed):
                for o in parser.parse_overrides([f"{key}={value}"]):
                    swept[str(key)] = _values(o)
        swept = {k: v for k, v in swept.items() if v}
        jobs = [fixed + [f"{k}={v[0]}" for k, v in swept.items()]]
        for key, values in swept.items():
            for value in values[1:]:
                jobs.append(fixed + [f"{k}={value if k == key else v[0]}" for k, v in swept.items()])
        here = not any(a.lstrip("+").startswith("hydra/launcher=") for a in given)  # else a cluster runs them
        for overrides in jobs[:MAX_COMPOSITIONS]:
            job_cfg = _compose(config_name, overrides, with_hydra=False)
            if job_cfg is not None:
                check_settings(job_cfg, here=here)


def _values(override) -> list[str]:
    """The values a sweep override tries; [] for sweeps a sampler draws from (interval, Optuna)."""
    try:
        return list(override.sweep_string_iterator())
    except HydraException:
        return []


def _compose(config_name: str, overrides: list[str], with_hydra: bool) -> DictConfig | None:
    """The composed config; a key the config does not have is one line; any other composition problem is
    left to Hydra's own run (None)."""
    try:
        return compose(config_name, overrides=overrides, return_hydra_config=with_hydra)
    except Exception as exc:  # noqa: BLE001 - only the unknown-key case is ours to report
        cause = exc
        while cause is not None and not isinstance(cause, ConfigKeyError | ConfigAttributeError):
            cause = cause.__cause__ or cause.__context__
        if isinstance(cause, ConfigKeyError | ConfigAttributeError) and getattr(cause, "full_key", None):
            key = cause.full_key
            parent = key.rsplit(".", 1)[0] if "." in key else ""
            node = OmegaConf.select(compose(config_name), parent) if parent else compose(config_name)
            keys = ", ".join(str(k) for k in node) if isinstance(node, DictConfig) else "none"
            where = f"under {parent}" if parent else "at the top level"
            raise RwkdError(f"{key} is not a setting of rwkd {config_name}; accepted {where}: {keys}") from None
        return None
