"""key=value command-line parsing for the tool commands (generate, check, bench), strict on typos."""
from __future__ import annotations

import sys
from dataclasses import fields, is_dataclass

from omegaconf import OmegaConf


def parse(defaults, argv: list[str] | None = None, positional: str | None = None):
    """Merge ``key=value`` arguments into the dataclass ``defaults``; unknown keys exit with a message.
    With ``positional``, a leading bare word is the value of that key (``eval verify ...``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if positional and argv and "=" not in argv[0]:
        argv[0] = f"{positional}={argv[0]}"
    assert is_dataclass(defaults)
    known = {f.name for f in fields(defaults)}
    bad = [a for a in argv if "=" not in a]
    if bad:
        raise SystemExit(f"arguments must be key=value, got {bad}; keys: {sorted(known)}")
    unknown = [a.split("=", 1)[0] for a in argv if a.split("=", 1)[0] not in known]
    if unknown:
        raise SystemExit(f"unknown key(s) {unknown}; valid keys: {sorted(known)}")
    # Values of string fields are taken verbatim (a title such as "a: b" must not become a YAML mapping);
    # the others are parsed as YAML scalars/lists by OmegaConf and validated against the field types.
    types = {f.name: f.type for f in fields(defaults)}
    text = {k: v for k, v in (a.split("=", 1) for a in argv) if types[k] in (str, "str")}
    parsed = OmegaConf.from_dotlist([a for a in argv if a.split("=", 1)[0] not in text])
    cfg = OmegaConf.merge(OmegaConf.structured(defaults), parsed, OmegaConf.create(text))
    return OmegaConf.to_object(cfg)
