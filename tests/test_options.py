"""The option schema: every packing option is declared once and read everywhere else."""

from __future__ import annotations

import attrs
import pytest

import condapack
from condapack.errors import CondaPackError
from condapack.options import PackOptions, schema
from condapack.project.config import _OPTIONS, _SETTINGS


def test_every_declared_option_is_a_flag_a_toml_key_or_both() -> None:
    for spec in schema():
        assert spec.flags or spec.toml, spec.name
        assert spec.kind in (bool, int, str), spec.name


def test_project_file_keys_come_from_the_schema() -> None:
    assert set(_OPTIONS) == {spec.toml for spec in schema() if spec.toml}
    assert {k for k in _OPTIONS if "." not in k} <= set(_SETTINGS)
    assert _SETTINGS["compress-level"] == 4 and _SETTINGS["zip-64"] is True and _SETTINGS["parcel"] == {}


def test_pack_keywords_are_the_options_fields() -> None:
    names = [f.name for f in attrs.fields(PackOptions)]
    assert names == [spec.name for spec in schema()]
    with pytest.raises(TypeError, match="compres_level"):
        condapack.pack(prefix="/nonexistent", compres_level=3)


def test_bad_option_values_are_one_line_errors() -> None:
    with pytest.raises(CondaPackError, match=r"^--n-threads must be a positive number or -1 \(all cpus\), got 0$"):
        PackOptions(n_threads=0)
