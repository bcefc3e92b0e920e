"""Declared parameters: one declaration drives validation, defaults and the page's widgets."""
from __future__ import annotations

import math
import reprlib
from dataclasses import dataclass, field
from typing import Any


class ConfigError(ValueError):
    """A bad config value. The message always names the field, the value and what is allowed.

    A value whose repr is long (a 75 MB list from an uploaded JSON) is kept as a Shortened
    stand-in: pages keep these errors in their session and show them on every rerun.
    """

    def __init__(self, field: str, value: Any, allowed: str):
        self.value, text = _brief(value)
        self.field, self.allowed = field, allowed
        super().__init__(f"{field}: got {text if len(text) <= 80 else text[:77] + '...'}; {allowed}")

    def __reduce__(self):
        # Pickled as what it is, a subclass whose own __init__ takes other arguments too: the
        # Ray executor's process sends its refusals to the server (lrviz.ray_proxy).
        return _rebuilt, (type(self), self.args, self.field, self.value, self.allowed)

    def detached(self) -> ConfigError:
        """This error without the frames it went through, whose locals may hold the input it
        refused: what a session or a cache may keep."""
        self.__traceback__ = self.__context__ = self.__cause__ = None
        return self


def _rebuilt(cls, args, field, value, allowed) -> ConfigError:
    exc = cls.__new__(cls)
    exc.args, exc.field, exc.value, exc.allowed = args, field, value, allowed
    return exc


class Shortened(str):
    """Stands in for a value too long to keep: its repr is the start of the value's repr."""

    def __repr__(self) -> str:
        return str(self)


_CUT = "\x00"  # reprlib's mark where it left something out; repr() never writes this character
_BRIEF = reprlib.Repr()
_BRIEF.fillvalue, _BRIEF.maxlevel = _CUT, 4
_BRIEF.maxstring = _BRIEF.maxlong = _BRIEF.maxother = 200
_BRIEF.maxlist = _BRIEF.maxtuple = _BRIEF.maxdict = _BRIEF.maxset = _BRIEF.maxfrozenset = 20


def _brief(value: Any) -> tuple[Any, str]:
    """(value, its repr), or a Shortened stand-in and its repr when the repr is long; the
    work is bounded whatever the value's size."""
    text = _BRIEF.repr(value)
    if _CUT not in text and len(text) <= 200:
        return value, repr(value)  # small: the exact repr (reprlib sorts a dict's keys)
    text = text.replace(_CUT, "...")
    return Shortened(text if len(text) <= 200 else text[:197] + "..."), text


@dataclass(frozen=True)
class Param:
    """One argument: its name is the Keras-style config key.

    kind: float, int, bool, choice, floats (list), ints (list), text.
    low/high bound the value; low_open/high_open make a bound exclusive.
    log: the page should use a log-scale control. optional: None is allowed.
    in_steps: a count of optimizer steps, which the page also lets users give in epochs or as
    a share of the run. is_rate: a learning rate (or a list of them): scaled with the others
    when a schedule is set to a new peak (schedules.scaled).
    """

    name: str
    default: Any
    kind: str = "float"
    help: str = ""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    log: bool = False
    optional: bool = False
    choices: tuple = ()
    max_len: int = 1000
    in_steps: bool = False
    is_rate: bool = False

    def allowed(self) -> str:
        if self.kind == "bool":
            return "allowed: true or false"
        if self.kind == "choice":
            return "allowed: one of " + ", ".join(repr(c) for c in self.choices)
        if self.kind == "text":
            return f"allowed: a string of at most {self.max_len} characters"
        what = {"float": "a number", "int": "an integer", "floats": "a list of numbers",
                "ints": "a list of integers"}[self.kind]
        lo = "" if self.low is None else f"{'>' if self.low_open else '>='} {self.low:g}"
        hi = "" if self.high is None else f"{'<' if self.high_open else '<='} {self.high:g}"
        bounds = " and ".join(b for b in (lo, hi) if b)
        each = " each" if self.kind in ("floats", "ints") else ""
        text = f"allowed: {what}" + (f"{each} {bounds}" if bounds else "")
        return text + (", or null" if self.optional else "")

    def check(self, value: Any, where: str) -> Any:
        """Return the value in canonical form, or raise ConfigError naming `where`."""
        if value is None and self.optional:
            return None
        k = self.kind
        if k == "bool":
            if not isinstance(value, bool):
                raise ConfigError(where, value, self.allowed())
            return value
        if k == "choice":
            if not isinstance(value, str) or value not in self.choices:
                raise ConfigError(where, value, self.allowed())
            return value
        if k == "text":
            if not isinstance(value, str) or len(value) > self.max_len:
                raise ConfigError(where, value, self.allowed())
            return value
        if k in ("floats", "ints"):
            if not isinstance(value, (list, tuple)) or not 1 <= len(value) <= self.max_len:
                raise ConfigError(where, value, self.allowed())
            return [self._number(v, f"{where}[{i}]", k == "ints") for i, v in enumerate(value)]
        return self._number(value, where, k == "int")

    def _number(self, value: Any, where: str, integer: bool) -> float | int:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(where, value, self.allowed())
        if not math.isfinite(value):
            raise ConfigError(where, value, self.allowed())
        if integer:
            if value != int(value):
                raise ConfigError(where, value, self.allowed())
            value = int(value)
        else:
            value = float(value)
        too_low = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        too_high = self.high is not None and (value >= self.high if self.high_open else value > self.high)
        if too_low or too_high:
            raise ConfigError(where, value, self.allowed())
        return value


@dataclass(frozen=True)
class Section:
    """A group of Params read from one JSON object (a config section or a schedule family)."""

    params: tuple[Param, ...] = field(default_factory=tuple)

    def defaults(self) -> dict:
        return {p.name: p.default for p in self.params}

    def check(self, raw: Any, where: str, extra_keys: tuple[str, ...] = ()) -> dict:
        """Validate a JSON object: unknown keys are errors, missing keys take defaults."""
        if not isinstance(raw, dict):
            raise ConfigError(where, raw, "allowed: a JSON object")
        names = {p.name for p in self.params}
        for key in raw:
            if key not in names and key not in extra_keys:
                allowed = ", ".join(sorted(names | set(extra_keys)))
                raise ConfigError(f"{where}.{key}", raw[key], f"unknown key; allowed keys: {allowed}")
        return {p.name: p.check(raw.get(p.name, p.default), f"{where}.{p.name}") for p in self.params}


def keras_form(raw: dict, where: str, classes, module: str) -> tuple[str, object]:
    """(class_name, config without its "name") of Keras's serialised form, {"class_name": ...,
    "config": {...}, "module": ..., "registered_name": ...}, for one of `classes`; the config's own
    arguments are the caller's to check."""
    for key in raw:
        if key not in ("class_name", "config", "module", "registered_name"):
            raise ConfigError(f"{where}.{key}", raw[key],
                              "unknown key; allowed keys: class_name, config, module, registered_name")
    name = raw["class_name"]
    if not isinstance(name, str) or name not in classes:
        raise ConfigError(f"{where}.class_name", name, "allowed: " + ", ".join(sorted(classes)))
    if raw.get("module", module) != module:
        raise ConfigError(f"{where}.module", raw["module"], f"allowed: {module!r}")
    if raw.get("registered_name") not in (None, name):
        raise ConfigError(f"{where}.registered_name", raw["registered_name"], f"allowed: null or {name!r}")
    config = raw.get("config", {})
    if isinstance(config, dict) and "name" in config:  # Keras's serialisation names the object
        if not isinstance(config["name"], str) or len(config["name"]) > 100:
            raise ConfigError(f"{where}.config.name", config["name"], "allowed: a short string")
        config = {k: v for k, v in config.items() if k != "name"}
    return name, config
