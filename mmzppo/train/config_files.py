"""Reading, resolving and writing run configs: YAML files, `key=value` overrides, the `auto`
keys (`resolve_auto`), `--help-config`.

`load_config("configs/run.yaml", ["tau=0.3", "vision.max_pixels=16384"])` reads a YAML file,
applies `key=value` overrides (values parsed as YAML), and validates into a
`mmzppo.train.config.Config`: unknown keys and invalid values raise `ConfigError` naming the
key (an unknown key with the closest known one).

A YAML file may start from another one: `base: ../zppo_qwen3.5-0.8b.yaml` (a path relative
to the file) loads that file first, and the keys written here replace its keys. The former key
`dtype` is read as `precision` (`FROM_DTYPE`: float32 -> fp32, bfloat16 -> bf16).
"""

from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path
from typing import Any

import yaml

from mmzppo.data.vision import VisionSettings
from mmzppo.policy.precision import FROM_DTYPE
from mmzppo.train.config import Config, ConfigError
from mmzppo.train.methods import METHODS


def _field_types() -> dict[str, Any]:
    return {f.name: f for f in dataclasses.fields(Config)}


def _coerce(key: str, value: Any, default: Any) -> Any:
    """Check a value against the field's default type (YAML already parsed it)."""
    if isinstance(default, bool) and not isinstance(value, bool):
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if isinstance(default, int) and not isinstance(default, bool):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if isinstance(default, float) and isinstance(value, str):
        try:  # YAML 1.1 reads 1e-4 (no dot) as a string
            value = float(value)
        except ValueError:
            raise ConfigError(f"{key}: expected a number, got {value!r}") from None
    if isinstance(default, float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if isinstance(default, float):
        return float(value)
    if isinstance(default, str) and isinstance(value, bool):  # YAML 1.1 reads on/off as booleans
        value = "on" if value else "off"
    if isinstance(default, str) and not isinstance(value, str):
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    return value


def _unknown(key: str, known: list[str]) -> ConfigError:
    close = difflib.get_close_matches(key, known, n=1)
    return ConfigError(f"unknown config key {key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))


def config_from_dict(values: dict[str, Any]) -> Config:
    """Validate a nested dict (YAML shape) into a Config."""
    fields = _field_types()
    kwargs: dict[str, Any] = {}
    values = former_keys(values)
    for key, value in values.items():
        if key not in fields:
            raise _unknown(key, list(fields))
        f = fields[key]
        default = f.default if f.default is not dataclasses.MISSING else None
        if key == "vision":
            if not isinstance(value, dict):
                raise ConfigError(f"vision: expected a mapping of VisionSettings fields, got {value!r}")
            vision_fields = [vf.name for vf in dataclasses.fields(VisionSettings)]
            for vk in value:
                if vk not in vision_fields:
                    raise _unknown(f"vision.{vk}", [f"vision.{n}" for n in vision_fields])
            kwargs[key] = {**VisionSettings().to_dict(), **value}
        elif value is None or default is None:
            kwargs[key] = value
        else:
            kwargs[key] = _coerce(key, value, default)
    try:
        return Config(**kwargs)
    except TypeError as e:
        raise ConfigError(str(e)) from e


def former_keys(values: dict[str, Any]) -> dict[str, Any]:
    """`dtype` (the key before `precision`) read as the precision it meant."""
    if "dtype" not in values:
        return values
    values = dict(values)
    dtype = values.pop("dtype")
    if "precision" in values:
        raise ConfigError("dtype: give only precision (dtype is its former name)")
    if dtype not in FROM_DTYPE:
        raise ConfigError(
            f"dtype: invalid value {dtype!r}; this former key takes {', '.join(FROM_DTYPE)}; "
            "use precision: bf16-mixed, bf16 or fp32"
        )
    values["precision"] = FROM_DTYPE[dtype]
    return values


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """`key=value` strings -> nested dict; values are parsed as YAML; `vision.x=..` nests."""
    out: dict[str, Any] = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not key=value")
        key, raw = item.split("=", 1)
        value = yaml.safe_load(raw) if raw.strip() else ""
        if "." in key:
            head, sub = key.split(".", 1)
            out.setdefault(head, {})[sub] = value
        else:
            out[key] = value
    return out


def read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A config file's keys, on top of its `base:` file's keys (recursively)."""
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    if path.resolve() in seen:
        raise ConfigError(f"{path}: `base:` files form a cycle")
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({e})") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys")
    base = values.pop("base", None)
    values = former_keys(values)  # per file, so a file's `precision` replaces its base's `dtype`
    if base is None:
        return values
    merged = read_yaml(path.parent / str(base), (*seen, path.resolve()))
    vision = {**merged.get("vision", {}), **values.pop("vision", {})}
    return {**merged, **values, **({"vision": vision} if vision else {})}


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """YAML file (optional, with its `base:` chain) + overrides -> validated Config."""
    values: dict[str, Any] = read_yaml(Path(path)) if path is not None else {}
    for key, value in former_keys(parse_overrides(overrides or [])).items():
        if key == "vision" and isinstance(value, dict):
            values["vision"] = {**values.get("vision", {}), **value}
        else:
            values[key] = value
    return config_from_dict(values)


def save_config(config: Config, path: str | Path) -> None:
    """The config as YAML, its sections as comments (the file loads back as it is)."""
    values = config.to_dict()
    chunks = []
    for f in dataclasses.fields(Config):
        if f.metadata.get("section"):
            chunks.append(f"\n# {f.metadata['section']}\n")
        chunks.append(yaml.safe_dump({f.name: values[f.name]}, sort_keys=False))
    Path(path).write_text("".join(chunks).lstrip())


def describe() -> str:
    """Every key with its default and help text, by section (for --help-config)."""
    lines = []
    for f in dataclasses.fields(Config):
        if f.metadata.get("section"):
            lines.append(f"\n# --- {f.metadata['section']} ---")
        default = f.default if f.default is not dataclasses.MISSING else "(see VisionSettings)"
        lines.append(f"{f.name} = {default!r}\n    {f.metadata.get('help', '')}")
    return "\n".join(lines).lstrip()


def resolve_auto(config: Config, *, fsdp_launch: bool = False) -> Config:
    """The config as it runs, every `auto` replaced by its value (the one place they are
    resolved; the trainer runs and saves the result):

    * candidate_compression: 'teacher' when the teacher is a model (local or server), else
      'truncate'; and 'truncate' when the method needs no teacher at all;
    * teacher_kind: 'none' when the method never calls the teacher (GRPO, GRPO with buffer,
      NCQ-only runs that truncate), so none is loaded;
    * old_logprobs: 'sampler' with the transformers backend at top-p 1 in `fp32` (it records log p
      under exactly the distribution the loss scores, equal to a re-scoring to ~1e-6), else
      'recompute' (in bfloat16 the sampler's incremental decoding and a full re-scoring differ by ~1e-2);
    * tis: 'on' with the vLLM backend (its bf16 log-probs differ from the trainer's by ~1e-2);
    * sharding: 'fsdp' when accelerate was launched with an FSDP config (`fsdp_launch`).
    """
    c = config
    compression = c.candidate_compression
    if compression == "auto":
        compression = "teacher" if c.teacher_kind in ("local", "server") else "truncate"
    c = dataclasses.replace(c, candidate_compression=compression)
    if not METHODS[c.method].needs_teacher(c):
        c = dataclasses.replace(c, teacher_kind="none", candidate_compression="truncate")
    old = c.old_logprobs
    if old == "auto":
        old = "sampler" if c.rollout_backend == "hf" and c.top_p == 1.0 and c.precision == "fp32" else "recompute"
    tis = c.tis if c.tis != "auto" else ("on" if c.rollout_backend == "vllm" else "off")
    sharding = c.sharding if c.sharding != "auto" else ("fsdp" if fsdp_launch else "none")
    return dataclasses.replace(c, old_logprobs=old, tis=tis, sharding=sharding)
