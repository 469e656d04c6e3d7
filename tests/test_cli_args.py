from dataclasses import dataclass

import pytest

from facebench.cli_args import parse


@dataclass
class _Cfg:
    title: str = ""
    n: int = 1
    ratio: float = 0.5
    flag: bool = False


def test_strings_verbatim_and_types_checked():
    c = parse(_Cfg(), ["title=a: b, c", "n=3", "ratio=0.25", "flag=true"])
    assert c.title == "a: b, c" and c.n == 3 and c.ratio == 0.25 and c.flag is True
    assert parse(_Cfg(), ["go", "n=2"], positional="title").title == "go"


def test_unknown_key_and_bad_value_fail():
    with pytest.raises(SystemExit, match="unknown key"):
        parse(_Cfg(), ["nn=3"])
    with pytest.raises(Exception, match="n"):
        parse(_Cfg(), ["n=three"])
