"""The settings in a shareable URL: one `cfg` query parameter.

`cfg` is URL-safe base64 (no padding) of compact JSON. Sections other than `schedule` keep
only the keys that differ from their defaults, so a typical link stays short. Whatever
comes back from a URL goes through config.validate like every other config.
"""
from __future__ import annotations

import base64
import binascii
import json

from . import config as cfgmod
from . import optimizers
from .params import ConfigError

PARAM = "cfg"
UNITS = "units"  # the unit the page shows step counts in (panels.UNITS), when not steps
OWNED = (PARAM, UNITS)  # the parameters this module writes (widgets bind their own)
MAX_CHARS = 8000  # far above any real config; refuses pasted junk before decoding it
UNIT_CODES = {"epochs": "epochs", "% of the run": "percent"}


def encode(config: dict) -> dict[str, str]:
    """Query parameters for a validated config."""
    compact = {"schedule": config["schedule"]}
    for name, section in cfgmod.SECTIONS.items():
        changed = _changed(config.get(name, {}), section)
        if changed:
            compact[name] = changed
    optimizer = config.get("optimizer", {})
    kind = optimizers.class_name(optimizer)
    changed = _changed(optimizers.settings(optimizer), optimizers.SECTIONS[kind])
    if kind != optimizers.ADAM:
        compact["optimizer"] = {"class_name": kind, "config": changed}
    elif changed:
        compact["optimizer"] = changed
    text = json.dumps(compact, separators=(",", ":"), sort_keys=True)
    return {PARAM: base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")}


def _changed(values: dict, section) -> dict:
    defaults = section.defaults()
    return {k: v for k, v in values.items() if defaults.get(k) != v}


def decode(params) -> tuple[dict | None, str | None]:
    """(config, problem) from query parameters (any mapping of str to str or list of str).

    No `cfg`: (None, None), the page keeps its defaults. A bad `cfg`: (None, a sentence
    naming what was wrong). Never raises.
    """
    try:
        value = params.get(PARAM) if hasattr(params, "get") else None
    except Exception:  # a mapping that fails on get is as good as absent
        return None, None
    if isinstance(value, (list, tuple)):
        value = value[-1] if value else None
    if value is None or value == "":
        return None, None
    if not isinstance(value, str) or len(value) > MAX_CHARS:
        return None, f"URL parameter '{PARAM}': too long or not text (at most {MAX_CHARS} characters)"
    try:
        text = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("utf-8")
        raw = json.loads(text, parse_constant=float)
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        return None, f"URL parameter '{PARAM}': not URL-safe base64 of JSON"
    try:
        return cfgmod.validate(raw), None
    except ConfigError as exc:
        return None, f"URL parameter '{PARAM}': {exc}"
    except (TypeError, ValueError, KeyError, OverflowError) as exc:  # a validator's blind spot
        return None, f"URL parameter '{PARAM}': invalid config ({exc.__class__.__name__})"


def _one(params, name: str):
    try:
        value = params.get(name) if hasattr(params, "get") else None
    except Exception:  # a mapping that fails on get is as good as absent
        return None
    if isinstance(value, (list, tuple)):
        value = value[-1] if value else None
    return value if isinstance(value, str) else None


def encode_units(unit: str | None) -> dict[str, str]:
    return {UNITS: UNIT_CODES[unit]} if unit in UNIT_CODES else {}


def decode_units(params) -> str:
    """The unit a link's step counts are shown in; anything unknown is steps."""
    code = _one(params, UNITS)
    return next((unit for unit, c in UNIT_CODES.items() if c == code), "steps")
