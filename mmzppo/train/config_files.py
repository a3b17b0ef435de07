"""Reading and writing run configs: YAML files, `key=value` overrides, `--help-config`.

`load_config("configs/run.yaml", ["tau=0.3", "vision.max_pixels=16384"])` reads a YAML file,
applies `key=value` overrides (values parsed as YAML), and validates into a
`mmzppo.train.config.Config`: unknown keys and invalid values raise `ConfigError` naming the
key (an unknown key with the closest known one).

A YAML file may start from another one: `base: ../zppo_qwen3.5-0.8b.yaml` (a path relative
to the file) loads that file first, and the keys written here replace its keys.
"""

from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path
from typing import Any

import yaml

from mmzppo.data.vision import VisionSettings
from mmzppo.train.config import Config, ConfigError


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
    if base is None:
        return values
    merged = read_yaml(path.parent / str(base), (*seen, path.resolve()))
    vision = {**merged.get("vision", {}), **values.pop("vision", {})}
    return {**merged, **values, **({"vision": vision} if vision else {})}


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """YAML file (optional, with its `base:` chain) + overrides -> validated Config."""
    values: dict[str, Any] = read_yaml(Path(path)) if path is not None else {}
    for key, value in parse_overrides(overrides or []).items():
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
