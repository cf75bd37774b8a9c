"""Pin the project file: what loads, and the exact one-line error for each mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from condapack.errors import ConfigError
from condapack.project.config import find_project, load_project

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "condapack.toml"
    path.write_text(text)
    return path


def error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_project(write(tmp_path, text))
    return str(info.value)


MINIMAL = '[env.web]\nprefix = "envs/web"\n'


def test_the_documented_example_file_loads() -> None:
    project = load_project(ROOT / "condapack.toml.example")
    assert [t.name for t in project.targets] == ["api:tar.gz", "api:tar.zst", "web:tar.gz", "web:zip"]


@pytest.mark.parametrize("path", sorted(ROOT.glob("examples/*/condapack.toml")), ids=lambda p: p.parent.name)
def test_every_example_project_loads(path: Path) -> None:
    assert load_project(path).targets


def test_minimal_project_gets_the_defaults(tmp_path: Path) -> None:
    project = load_project(write(tmp_path, MINIMAL))
    (target,) = project.targets
    assert target.name == "web:tar.gz"
    assert target.output == tmp_path / "dist" / "web.tar.gz"
    assert project.env("web").prefix == tmp_path / "envs" / "web"
    assert (target.options.compress_level, target.options.n_threads, target.exclude) == (4, None, ())


def test_env_settings_override_defaults_and_excludes_accumulate(tmp_path: Path) -> None:
    project = load_project(write(tmp_path, """
output-dir = "out"
[defaults]
formats = ["zip"]
exclude = ["*.a"]
compress-level = 6
[env.web]
prefix = "w"
formats = ["tgz", "tar.zst"]
exclude = ["!keep.a"]
output = "{env}-{format}{ext}"
compress-level = 9
"""))
    names = [(t.name, t.output.name, t.exclude, t.options.compress_level) for t in project.targets]
    assert names == [("web:tar.gz", "web-tar.gz.tar.gz", ("*.a", "!keep.a"), 9),
                     ("web:tar.zst", "web-tar.zst.tar.zst", ("*.a", "!keep.a"), 9)]


def test_project_is_found_by_walking_up(tmp_path: Path) -> None:
    write(tmp_path, MINIMAL)
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert find_project(deep) == tmp_path / "condapack.toml"


def test_no_project_anywhere(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        find_project(tmp_path)
    assert str(info.value) == (f"no condapack.toml in {tmp_path} or any parent directory; create one "
                               "(see condapack.toml.example) or pass -c/--config PATH")


@pytest.mark.parametrize("text, message", [
    ('[env.web]\nprefix = "w"\nformats = ["tar.gzz"]\n',
     "condapack.toml: env.web.formats[0]: unknown format 'tar.gzz' (did you mean 'tar.gz'?)"),
    ('[env.web]\nprefix = "w"\nformat = "zipp"\n',
     "condapack.toml: env.web.format: unknown format 'zipp' (did you mean 'zip'?)"),
    ('[env.web]\nprefix = "w"\nexlude = []\n',
     "condapack.toml: env.web.exlude: unknown key 'exlude' (did you mean 'exclude'?)"),
    ('outptu-dir = "d"\n' + MINIMAL,
     "condapack.toml: outptu-dir: unknown key 'outptu-dir' (did you mean 'output-dir'?)"),
    ('[defaults]\ncompress-level = "high"\n' + MINIMAL,
     "condapack.toml: defaults.compress-level: must be an integer, got 'high'"),
    ('[defaults]\nthreads = true\n' + MINIMAL,
     "condapack.toml: defaults.threads: must be an integer, got True"),
    ('[defaults]\nthreads = 0\n' + MINIMAL,
     "condapack.toml: defaults.threads: must be a positive number up to 1024 or -1 (all cpus), got 0"),
    ('[env.web]\nprefix = "w"\ncompress-level = 12\n',
     "condapack.toml: env.web.compress-level: must be between 0 and 9 for tar.gz, got 12"),
    ('[env.web]\nprefix = "w"\nname = "web"\n',
     "condapack.toml: env.web: set exactly one of prefix (a path) or name (a conda environment name)"),
    ('[env.web]\nformats = ["zip"]\n',
     "condapack.toml: env.web: set exactly one of prefix (a path) or name (a conda environment name)"),
    ('[env.web]\nprefix = "w"\nformat = "zip"\nformats = ["zip"]\n',
     "condapack.toml: env.web: set either format or formats, not both"),
    ('[env.web]\nprefix = "w"\noutput = "{name}{ext}"\n',
     "condapack.toml: env.web.output: unknown placeholder {name} 'name' (known: env, format, ext)"),
    ('[env.web]\nprefix = "w"\noutput = "sub/{env}{ext}"\n',
     "condapack.toml: env.web.output: must be a plain file name (outputs go to output-dir), got "
     "'sub/{env}{ext}'"),
    ('[defaults]\noutput = "release{ext}"\n[env.a]\nprefix = "a"\n[env.b]\nprefix = "b"\n',
     "condapack.toml: output: targets a:tar.gz and b:tar.gz both write release.tar.gz; put {env} and {ext} "
     "in the output template"),
    ('[env.web]\nprefix = "w"\nformats = ["parcel"]\n',
     "condapack.toml: env.web.parcel.version: required for parcel targets (the command line's date-based "
     "default would rebuild the parcel every day); set it"),
    ('[env.web]\nprefix = "w"\nparcel = { nmae = "x" }\n',
     "condapack.toml: env.web.parcel.nmae: unknown key 'nmae' (did you mean 'name'?)"),
    ('[env.web]\nprefix = "w"\nexclude = ["!"]\n',
     "condapack.toml: env.web.exclude[0]: invalid pattern '!' (Invalid git pattern: '!')"),
    ('[env.web]\nprefix = "w"\ndest-prefix = "relative"\n',
     "condapack.toml: env.web.dest-prefix: must be an absolute path, got 'relative'; set the final location "
     "of the environment"),
    ('output-dir = "d"\n',
     "condapack.toml: env: no environments declared; add an [env.NAME] table with prefix or name"),
    ('[env.web]\nprefix = "w"\nslim = ["tests", "doc"]\n',
     "condapack.toml: env.web.slim[1]: unknown preset 'doc' (did you mean 'docs'?)"),
    ('[env.web]\nprefix = "w"\nslim = ["tests,docs"]\n',
     "condapack.toml: env.web.slim[0]: unknown preset 'tests,docs' (did you mean 'tests'?)"),
    ('[defaults]\nslim = "tests"\n' + MINIMAL,
     "condapack.toml: defaults.slim: must be a list of slimming presets, got 'tests'"),
    ('[defaults]\nslim = [1]\n' + MINIMAL,
     "condapack.toml: defaults.slim[0]: must be a preset name, got 1"),
])
def test_mistakes_name_the_file_and_key_path(tmp_path: Path, text: str, message: str) -> None:
    assert error(tmp_path, text) == message


def test_invalid_toml_is_one_line(tmp_path: Path) -> None:
    message = error(tmp_path, "[env.web\n")
    assert message.startswith("condapack.toml: invalid TOML: ")
    assert message.endswith("; fix the syntax")
    assert "\n" not in message


def test_cache_table_loads(tmp_path: Path) -> None:
    project = load_project(write(tmp_path, MINIMAL + '[cache]\nurl = "s3://ci/cache"\nwrite = true\ntimeout = 5\n'))
    assert (project.cache.url, project.cache.write, project.cache.timeout) == ("s3://ci/cache", True, 5.0)
    assert load_project(write(tmp_path, MINIMAL)).cache.url is None


@pytest.mark.parametrize("table, message", [
    ("wirte = true", "cache.wirte: unknown key 'wirte' (did you mean 'write'?)"),
    ("url = 5", "cache.url: must be a url such as s3://bucket/prefix, got 5"),
    ("write = 'yes'", "cache.write: must be true or false, got 'yes'"),
    ("timeout = 0", "cache.timeout: must be a positive number of seconds, got 0"),
])
def test_cache_table_errors_name_the_key(tmp_path: Path, table: str, message: str) -> None:
    assert error(tmp_path, f"{MINIMAL}[cache]\n{table}\n") == f"condapack.toml: {message}"


def test_sbom_setting_must_be_a_boolean(tmp_path: Path) -> None:
    assert error(tmp_path, MINIMAL + 'sbom = "yes"\n') == \
        "condapack.toml: env.web.sbom: must be true or false, got 'yes'"
    assert load_project(write(tmp_path, "[defaults]\nsbom = true\n" + MINIMAL)).targets[0].sbom
