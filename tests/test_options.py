"""The option schema: every packing option is declared once and read everywhere else."""

from __future__ import annotations

import inspect

import attrs
import pytest

import condapack
from condapack.environment import CondaEnv
from condapack.errors import CondaPackError
from condapack.options import PackOptions, env_threads, schema
from condapack.project.config import _OPTIONS, _SETTINGS


def test_every_declared_option_is_a_flag_a_toml_key_or_both() -> None:
    for spec in schema():
        assert spec.flags or spec.toml, spec.name
        assert spec.kind in (bool, int, str), spec.name


def test_project_file_keys_come_from_the_schema() -> None:
    assert set(_OPTIONS) == {spec.toml for spec in schema() if spec.toml}
    assert {k for k in _OPTIONS if "." not in k} <= set(_SETTINGS)
    assert _SETTINGS["compress-level"] == 4 and _SETTINGS["zip-64"] is True and _SETTINGS["parcel"] == {}


def test_pack_keywords_are_the_options_fields_with_the_options_defaults() -> None:
    names = [f.name for f in attrs.fields(PackOptions)]
    assert names == [spec.name for spec in schema()]
    defaults = {f.name: f.default for f in attrs.fields(PackOptions)}
    # n_threads: conda-pack's API default (1) where the command line's is every cpu (None)
    for func, own in ((condapack.pack, {"name", "prefix", "filters"}), (CondaEnv.pack, {"self"})):
        params = inspect.signature(func).parameters
        options = {n: p.default for n, p in params.items() if n not in own | {"verbose", "progress"}}
        assert options == {n: 1 if n == "n_threads" else d for n, d in defaults.items() if n in options}
        # conda-pack's signatures stay as they are: condapack's own options are the command line's and the toml's
        # (the image options, format oci only, are reached through pack_with)
        image_options = {spec.name for spec in schema() if spec.formats}
        assert set(defaults) - set(options) <= {"ignore_editable_packages", "ignore_missing_files", "slim",
                                                *image_options}
    with pytest.raises(TypeError, match="compres_level"):
        condapack.pack(prefix="/nonexistent", compres_level=3)  # type: ignore[call-arg]


def test_bad_option_values_are_one_line_errors() -> None:
    with pytest.raises(CondaPackError,
                       match=r"^--n-threads must be a positive number up to 1024 or -1 \(all cpus\), got 0$"):
        PackOptions(n_threads=0)


def test_an_image_annotation_with_a_newline_or_nothing_in_it_is_refused_in_one_line() -> None:
    with pytest.raises(CondaPackError) as raised:
        PackOptions(image_revision="abc\ndef")
    assert str(raised.value) == ("--image-revision 'abc\\ndef': an image annotation is one line of printable text; "
                                 "pass it without control characters")
    with pytest.raises(CondaPackError, match=r"^--image-version ' ': "):
        PackOptions(image_version=" ")


@pytest.mark.parametrize("value", [1025, 100_000_000_000, 2**63])
def test_a_thread_count_past_the_most_is_a_one_line_error(value: int) -> None:
    with pytest.raises(CondaPackError) as info:
        PackOptions(n_threads=value)
    assert str(info.value) == f"--n-threads must be a positive number up to 1024 or -1 (all cpus), got {value}"


@pytest.mark.parametrize("value", ["100000000000", "1025", "1_0", "\u0663", "0", "-2", "x"])
def test_condapack_threads_is_a_plain_thread_count_or_a_one_line_error(value: str) -> None:
    with pytest.raises(CondaPackError) as info:
        env_threads({"CONDAPACK_THREADS": value})
    assert str(info.value) == (f"environment variable CONDAPACK_THREADS={value!r} is not a thread count; set it "
                               "to a positive number up to 1024 or -1 (all cpus), or unset it")


@pytest.mark.parametrize("value,threads", [("1", 1), (" 1024 ", 1024), ("-1", -1), ("", None)])
def test_condapack_threads_accepts_thread_counts(value: str, threads: int) -> None:
    assert env_threads({"CONDAPACK_THREADS": value}) == threads
