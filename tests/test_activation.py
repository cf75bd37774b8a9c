"""bin/activate and friends: real shells activate, deactivate and relocate an env."""

from __future__ import annotations

import json
import pathlib
import re
import shlex
import shutil
import subprocess
import sys
from typing import Mapping

import pytest

from condapack.activation import SCRIPT_MODE, activation_files, read_env_vars
from condapack.errors import EnvError
from systools import require

POSIX_SHELLS = ["bash", "dash", "zsh"]
ALL_SHELLS = [*POSIX_SHELLS, "fish"]
SHELL_ARGS = {"bash": ["--norc", "--noprofile"], "dash": [], "zsh": ["-f"], "fish": ["-N"]}
BASE_PATH = "/usr/bin:/bin"
TRICKY_VALUES = {
    "SPACES": "two  words ",
    "QUOTES": "it's \"quoted\" ''",
    "DOLLARS": "$HOME ${PATH} $(echo no) `echo no` %s %x",
    "BACKSLASHES": "back\\slash \\n \\' \\",
    "NEWLINES": "line1\nline2\n",
    "EMPTY": "",
}
CANNOT_LOCATE = (
    "condapack: cannot tell where this environment is from this shell; "
    "source it from bash, zsh or fish, or run conda-unpack first\n"
)
SNAPSHOT = f"{shlex.quote(sys.executable)} -c 'import json, os; print(json.dumps(dict(os.environ)))'"


# -- a hand-made environment and real shells ------------------------------------------


def make_env(location: pathlib.Path, recorded: str | None = None) -> pathlib.Path:
    """An env with a tool, logging activate.d/deactivate.d hooks and the scripts."""
    recorded = str(location) if recorded is None else recorded
    _write(location / "bin" / "tool", "#!/bin/sh\necho tool ran\n", 0o755)
    hooks = location / "etc" / "conda"
    for kind in ("activate.d", "deactivate.d"):
        for script in ("a.sh", "x.sh", "a.fish", "x.fish"):
            _write(hooks / kind / script, f"printf '%s ' {kind}/{script} >> \"$TEST_LOG\"\n")
    with open(hooks / "activate.d" / "x.sh", "a") as f:
        f.write("export XVAR='set by activate.d'\n")
    with open(hooks / "deactivate.d" / "x.sh", "a") as f:
        f.write("unset XVAR\n")
    with open(hooks / "activate.d" / "x.fish", "a") as f:
        f.write("set -gx XVAR 'set by activate.d'\n")
    with open(hooks / "deactivate.d" / "x.fish", "a") as f:
        f.write("set -e XVAR\n")
    env_vars = {**TRICKY_VALUES, "PRESET": "new value", "DATA_DIR": f"{recorded}/share/data"}
    for rel, (content, mode) in activation_files(recorded, env_vars).items():
        (location / rel).write_bytes(content)
        (location / rel).chmod(mode)
    return location


def _write(path: pathlib.Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def need(shell: str) -> str:
    """The shell's path; the test fails, naming the package, when it is not installed."""
    return require(shell)


@pytest.fixture(params=ALL_SHELLS)
def shell(request: pytest.FixtureRequest) -> str:
    need(request.param)
    return str(request.param)


@pytest.fixture(params=["bash", "zsh", "fish"])
def locating_shell(request: pytest.FixtureRequest) -> str:
    """The shells that tell a sourced script its own path."""
    need(request.param)
    return str(request.param)


@pytest.fixture(params=POSIX_SHELLS)
def posix_shell(request: pytest.FixtureRequest) -> str:
    need(request.param)
    return str(request.param)


@pytest.fixture
def root(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path.resolve()


class Run:
    """What a shell printed: environment snapshots, other lines, stderr, status."""

    def __init__(self, proc: subprocess.CompletedProcess[str], log: pathlib.Path) -> None:
        lines = proc.stdout.splitlines()
        self.snapshots: list[dict[str, str]] = [json.loads(x) for x in lines if x[:1] == "{"]
        self.lines = [x for x in lines if x[:1] != "{"]
        self.stderr = proc.stderr
        self.returncode = proc.returncode
        self.log = log.read_text().split() if log.exists() else []


def run(
    shell: str,
    root: pathlib.Path,
    *commands: str,
    env: Mapping[str, str] = {},
    program: str | None = None,
) -> Run:
    """Run `commands` (`snap` takes an environment snapshot) in `shell`, in `root`."""
    log = root / "hooks.log"
    log.unlink(missing_ok=True)
    # The final `true` keeps bash from exec-ing the last snapshot (which changes SHLVL).
    script = "\n".join([*(SNAPSHOT if c == "snap" else c for c in commands), "true"])
    environ = {"PATH": BASE_PATH, "HOME": str(root), "LC_ALL": "C", "TEST_LOG": str(log)}
    proc = subprocess.run(
        [program, "-c", script] if program else [need(shell), *SHELL_ARGS[shell], "-c", script],
        cwd=root,
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return Run(proc, log)


def source(shell: str, script: str, env: str = "ENV_DIR") -> str:
    """The command that sources bin/`script` of the env at $`env` in `shell`."""
    if shell == "fish":
        return f'source "${env}/bin/{script}.fish"; echo "status={script}:$status"'
    dot = "." if shell == "dash" else "source"
    return f'{dot} "${env}/bin/{script}"; echo "status={script}:$?"'


def set_prompt(shell: str) -> str:
    if shell == "fish":
        return "function fish_prompt; printf '$ '; end"
    return "PS1='$ '; export PS1"


def show_prompt(shell: str) -> str:
    if shell == "fish":
        return 'echo "prompt=["(fish_prompt)"]"'
    return 'echo "prompt=[$PS1]"'


def export(shell: str, name: str, value: str) -> str:
    if shell == "fish":
        return f"set -gx {name} {shlex.quote(value)}"
    return f"{name}={shlex.quote(value)}; export {name}"


# -- activation -----------------------------------------------------------------------


def test_activate_sets_prefix_path_and_prompt_and_runs_activate_d(
    shell: str, root: pathlib.Path
) -> None:
    env = make_env(root / "packed env")
    result = run(
        shell, root, set_prompt(shell), "snap", source(shell, "activate"), "snap",
        show_prompt(shell), "tool",
        env={"ENV_DIR": "packed env"},
    )
    assert result.stderr == ""
    before, after = result.snapshots
    ext = "fish" if shell == "fish" else "sh"
    assert after["CONDA_PREFIX"] == str(env)
    assert after["CONDA_DEFAULT_ENV"] == str(env)
    assert after["PATH"] == f"{env}/bin:{before['PATH']}"
    assert after["XVAR"] == "set by activate.d"
    assert result.log == [f"activate.d/a.{ext}", f"activate.d/x.{ext}"]
    assert result.lines == ["status=activate:0", "prompt=[(packed env) $ ]", "tool ran"]


def test_activate_applies_env_vars_after_activate_d_with_any_value(
    shell: str, root: pathlib.Path
) -> None:
    env = make_env(root / "env")
    result = run(
        shell, root, export(shell, "PRESET", "old value"), source(shell, "activate"), "snap",
        env={"ENV_DIR": str(env)},
    )
    (after,) = result.snapshots
    assert {name: after[name] for name in TRICKY_VALUES} == TRICKY_VALUES
    assert after["PRESET"] == "new value"
    assert after["DATA_DIR"] == f"{env}/share/data"


def test_deactivate_restores_the_environment_exactly(shell: str, root: pathlib.Path) -> None:
    env = make_env(root / "env")
    result = run(
        shell, root, set_prompt(shell), export(shell, "PRESET", "old value"), "snap",
        source(shell, "activate"), source(shell, "deactivate"), "snap", show_prompt(shell),
        env={"ENV_DIR": str(env)},
    )
    before, after = result.snapshots
    ext = "fish" if shell == "fish" else "sh"
    assert after == before
    assert after["PRESET"] == "old value"
    assert "XVAR" not in after
    assert result.log == [
        f"activate.d/a.{ext}", f"activate.d/x.{ext}",
        f"deactivate.d/x.{ext}", f"deactivate.d/a.{ext}",
    ]
    assert result.lines == ["status=activate:0", "status=deactivate:0", "prompt=[$ ]"]


def test_deactivate_removes_only_the_env_bin_entry(posix_shell: str, root: pathlib.Path) -> None:
    env = make_env(root / "env")
    result = run(
        posix_shell, root, source(posix_shell, "activate"),
        'PATH="/first:$PATH:/last"', source(posix_shell, "deactivate"), "snap",
        env={"ENV_DIR": str(env), "PATH": f"{BASE_PATH}::{env}/bin"},
    )
    assert result.snapshots[0]["PATH"] == f"/first:{BASE_PATH}::{env}/bin:/last"


def test_activating_twice_does_not_stack(shell: str, root: pathlib.Path) -> None:
    env = make_env(root / "env")
    result = run(
        shell, root, set_prompt(shell), "snap",
        source(shell, "activate"), "snap", source(shell, "activate"), "snap",
        show_prompt(shell), source(shell, "deactivate"), "snap",
        env={"ENV_DIR": str(env)},
    )
    initial, once, twice, deactivated = result.snapshots
    assert twice == once
    assert twice["PATH"] == f"{env}/bin:{initial['PATH']}"
    assert result.lines[2] == "prompt=[(env) $ ]"
    assert deactivated == initial


def test_activating_another_env_deactivates_the_first(shell: str, root: pathlib.Path) -> None:
    first, second = make_env(root / "first"), make_env(root / "second")
    result = run(
        shell, root, set_prompt(shell), "snap",
        source(shell, "activate"), source(shell, "activate", "SECOND"), "snap",
        show_prompt(shell), source(shell, "deactivate"), "snap",
        env={"ENV_DIR": str(first), "SECOND": str(second)},
    )
    initial, active, deactivated = result.snapshots
    ext = "fish" if shell == "fish" else "sh"
    assert active["CONDA_PREFIX"] == str(second)
    assert active["PATH"] == f"{second}/bin:{initial['PATH']}"
    assert result.lines[2] == "prompt=[(second) $ ]"
    assert result.log[2:6] == [
        f"deactivate.d/x.{ext}", f"deactivate.d/a.{ext}",
        f"activate.d/a.{ext}", f"activate.d/x.{ext}",
    ]
    assert deactivated == initial


def test_activate_on_top_of_a_conda_env_restores_it_on_deactivate(
    posix_shell: str, root: pathlib.Path
) -> None:
    env = make_env(root / "env")
    conda_env = {"CONDA_PREFIX": "/opt/conda", "CONDA_DEFAULT_ENV": "base"}
    result = run(
        posix_shell, root, "snap", source(posix_shell, "activate"), "snap",
        source(posix_shell, "deactivate"), "snap",
        env={"ENV_DIR": str(env), **conda_env},
    )
    initial, active, deactivated = result.snapshots
    assert active["CONDA_PREFIX"] == str(env)
    assert deactivated == initial


def test_deactivate_with_nothing_active_does_nothing(shell: str, root: pathlib.Path) -> None:
    env = make_env(root / "env")
    result = run(
        shell, root, set_prompt(shell), "snap", source(shell, "deactivate"), "snap",
        show_prompt(shell),
        env={"ENV_DIR": str(env)},
    )
    before, after = result.snapshots
    assert after == before
    assert result.lines == ["status=deactivate:0", "prompt=[$ ]"]
    assert result.log == []


def test_prompt_is_left_alone_when_disabled(shell: str, root: pathlib.Path) -> None:
    env = make_env(root / "env")
    for variable in ("CONDAPACK_NO_PROMPT", "VIRTUAL_ENV_DISABLE_PROMPT"):
        result = run(
            shell, root, set_prompt(shell), source(shell, "activate"), show_prompt(shell),
            source(shell, "deactivate"), show_prompt(shell),
            env={"ENV_DIR": str(env), variable: "1"},
        )
        assert result.lines[1::2] == ["prompt=[$ ]", "prompt=[$ ]"]


def test_unset_prompt_is_unset_again_after_deactivate(posix_shell: str, root: pathlib.Path) -> None:
    env = make_env(root / "env")
    result = run(
        posix_shell, root, "unset PS1", source(posix_shell, "activate"),
        'echo "active=[$PS1]"', source(posix_shell, "deactivate"), 'echo "${PS1-unset}"',
        env={"ENV_DIR": str(env)},
    )
    assert result.lines[1] == "active=[(env) ]"
    assert result.lines[3] == "unset"


def test_bookkeeping_variables_are_exported_and_cleared(shell: str, root: pathlib.Path) -> None:
    env = make_env(root / "env")
    result = run(
        shell, root, set_prompt(shell), export(shell, "PRESET", "old"),
        source(shell, "activate"), "snap", source(shell, "deactivate"), "snap",
        env={"ENV_DIR": str(env)},
    )
    active, deactivated = result.snapshots
    names = ["CONDA_PREFIX", "CONDA_DEFAULT_ENV", *(["PS1"] if shell != "fish" else [])]
    names += [*TRICKY_VALUES, "PRESET", "DATA_DIR"]
    bookkeeping = {k: v for k, v in active.items() if k.startswith("_CONDAPACK")}
    assert bookkeeping == {
        "_CONDAPACK_PREFIX": str(env),
        "_CONDAPACK_SAVED": " ".join(names),
        "_CONDAPACK_OLD_PRESET": "old",
        **({"_CONDAPACK_OLD_PS1": "$ "} if shell != "fish" else {}),
    }
    assert [k for k in deactivated if "CONDAPACK" in k.upper()] == []


def helper_names(*templates: str) -> list[str]:
    """Every lower-case _condapack_* name (function or variable) in the templates."""
    scripts = activation_files("/p", {"V": "x"})
    text = "".join(scripts[f"bin/{t}"][0].decode() for t in templates)
    return sorted(set(re.findall(r"_condapack_[a-z_]+", text)))


def test_no_helper_function_or_variable_is_left_in_posix_shells(
    posix_shell: str, root: pathlib.Path
) -> None:
    env = make_env(root / "env")
    names = helper_names("activate", "deactivate")
    check = " ".join(names)
    probe = (
        f"for n in {check}; do command -v $n >/dev/null && echo function:$n; "
        'eval "[ -n \\"\\${$n+x}\\" ]" && echo variable:$n; done; echo probed'
    )
    result = run(
        posix_shell, root, source(posix_shell, "activate"), probe,
        source(posix_shell, "deactivate"), probe,
        env={"ENV_DIR": str(env)},
    )
    assert len(names) > 20
    assert result.lines == ["status=activate:0", "probed", "status=deactivate:0", "probed"]


def test_no_helper_function_or_variable_is_left_in_fish(root: pathlib.Path) -> None:
    env = make_env(root / "env")
    names = [n for n in helper_names("activate.fish", "deactivate.fish")]
    probe = (
        f"for n in {' '.join(names)}; functions -q $n; and echo function:$n; "
        "set -q $n; and echo variable:$n; end; echo probed"
    )
    result = run(
        "fish", root, source("fish", "activate"), probe,
        source("fish", "deactivate"), probe, "functions -q deactivate; and echo deactivate",
        env={"ENV_DIR": str(env)},
    )
    assert result.lines == [
        "status=activate:0", "function:_condapack_old_fish_prompt", "probed",
        "status=deactivate:0", "probed",
    ]


def test_fish_deactivate_function_leaves_the_env(root: pathlib.Path) -> None:
    env = make_env(root / "env")
    result = run(
        "fish", root, set_prompt("fish"), "snap", source("fish", "activate"), "deactivate",
        "snap", show_prompt("fish"),
        env={"ENV_DIR": str(env)},
    )
    before, after = result.snapshots
    assert after == before
    assert result.lines == ["status=activate:0", "prompt=[$ ]"]


def test_location_is_the_logical_path_the_script_was_sourced_by(
    locating_shell: str, root: pathlib.Path
) -> None:
    shell = locating_shell
    make_env(root / "real")
    (root / "link").symlink_to(root / "real")
    result = run(shell, root, source(shell, "activate"), "snap", env={"ENV_DIR": "link/bin/../"})
    assert result.snapshots[0]["CONDA_PREFIX"] == str(root / "link")


def test_bash_strict_mode_and_failglob_without_hook_dirs(root: pathlib.Path) -> None:
    env = make_env(root / "env")
    shutil.rmtree(env / "etc")
    result = run(
        "bash", root, "set -euo pipefail", "shopt -s failglob", "snap",
        source("bash", "activate"), source("bash", "activate"), source("bash", "deactivate"),
        "snap", "echo finished",
        env={"ENV_DIR": str(env)},
    )
    assert result.stderr == ""
    assert result.lines[-1] == "finished"
    before, after = result.snapshots
    assert after == before


def test_errexit_and_nounset_do_not_break_activation(
    posix_shell: str, root: pathlib.Path
) -> None:
    env = make_env(root / "env")
    result = run(
        posix_shell, root, "set -eu", "snap", source(posix_shell, "activate"),
        source(posix_shell, "activate"), source(posix_shell, "deactivate"), "snap",
        "echo finished",
        env={"ENV_DIR": str(env)},
    )
    assert result.stderr == ""
    assert result.lines[-1] == "finished"
    before, after = result.snapshots
    assert after == before


def test_zsh_running_as_sh(root: pathlib.Path) -> None:
    env = make_env(root / "env")
    (root / "sh").symlink_to(need("zsh"))
    result = run(
        "zsh", root, "snap", source("zsh", "activate"), "snap", source("zsh", "deactivate"),
        "snap", env={"ENV_DIR": str(env)}, program=str(root / "sh"),
    )
    initial, active, deactivated = result.snapshots
    assert result.stderr == ""
    assert (active["CONDA_PREFIX"], active["XVAR"]) == (str(env), "set by activate.d")
    assert deactivated == initial


def test_running_activate_instead_of_sourcing_it_says_so(root: pathlib.Path) -> None:
    make_env(root / "env")
    result = run("bash", root, "bash env/bin/activate; echo status=$?")
    assert result.stderr == (
        "condapack: env/bin/activate must be sourced, not run: source env/bin/activate\n"
    )
    assert result.lines == ["status=1"]


# -- relocation -----------------------------------------------------------------------


def move_env(root: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """An env packed at one place and unpacked at another; returns (old, new)."""
    old = root / "packed" / "env"
    make_env(old)
    new = root / "new 'place' $x" / "env"
    new.parent.mkdir()
    old.rename(new)
    return old, new


def conda_unpack(old: pathlib.Path, new: pathlib.Path) -> None:
    """What conda-unpack does to these files: a plain bytes replace of the prefix."""
    for rel in activation_files(str(old), {}):
        path = new / rel
        path.write_bytes(path.read_bytes().replace(bytes(old), bytes(new)))


def test_dash_cannot_locate_a_moved_env_and_changes_nothing(root: pathlib.Path) -> None:
    _, new = move_env(root)
    result = run(
        "dash", root, "snap", source("dash", "activate"), "snap", "echo still here",
        env={"ENV_DIR": str(new)},
    )
    before, after = result.snapshots
    assert result.stderr == CANNOT_LOCATE
    assert result.lines == ["status=activate:1", "still here"]
    assert after == before


def test_dash_activates_a_moved_env_after_conda_unpack(root: pathlib.Path) -> None:
    old, new = move_env(root)
    conda_unpack(old, new)
    result = run(
        "dash", root, "snap", source("dash", "activate"), "snap", "tool",
        source("dash", "deactivate"), "snap",
        env={"ENV_DIR": str(new)},
    )
    initial, active, deactivated = result.snapshots
    assert result.stderr == ""
    assert active["CONDA_PREFIX"] == str(new)
    assert active["PATH"] == f"{new}/bin:{BASE_PATH}"
    assert active["DATA_DIR"] == f"{new}/share/data"
    assert result.lines == ["status=activate:0", "tool ran", "status=deactivate:0"]
    assert deactivated == initial


@pytest.mark.parametrize("unpacked", [False, True], ids=["before-unpack", "after-unpack"])
def test_other_shells_activate_a_moved_env(
    locating_shell: str, root: pathlib.Path, unpacked: bool
) -> None:
    shell = locating_shell
    old, new = move_env(root)
    if unpacked:
        conda_unpack(old, new)
    result = run(shell, root, source(shell, "activate"), "snap", env={"ENV_DIR": str(new)})
    (active,) = result.snapshots
    assert result.stderr == ""
    assert active["CONDA_PREFIX"] == str(new)
    assert active["PATH"] == f"{new}/bin:{BASE_PATH}"
    assert active["DATA_DIR"] == f"{new}/share/data"


# -- the Python API -------------------------------------------------------------------


def test_activation_files_are_the_four_scripts_sourced_not_run() -> None:
    files = activation_files("/opt/env", {})
    assert sorted(files) == [
        "bin/activate", "bin/activate.fish", "bin/deactivate", "bin/deactivate.fish"
    ]
    assert {mode for _, mode in files.values()} == {SCRIPT_MODE} == {0o644}


def test_recorded_prefix_is_plain_text_once_in_activate_only() -> None:
    prefix = "/opt/it's a \"long\" $path\\"
    files = activation_files(prefix, {"DATA": f"{prefix}/share", "OTHER": "x"})
    counts = {rel: content.count(prefix.encode()) for rel, (content, _) in files.items()}
    assert counts == {
        "bin/activate": 1, "bin/deactivate": 0, "bin/activate.fish": 0, "bin/deactivate.fish": 0
    }
    assert f"\n{prefix}\n".encode() in files["bin/activate"][0]


def test_activation_files_are_deterministic() -> None:
    args = ("/opt/env", {"B": "2", "A": "1"})
    assert activation_files(*args) == activation_files(*args)


@pytest.mark.parametrize("name", ["1ST", "A-B", "A B", "", "_CONDAPACK_SAVED", "_condapack_x"])
def test_activation_files_refuse_names_a_shell_cannot_set(name: str) -> None:
    with pytest.raises(EnvError) as info:
        activation_files("/opt/env", {name: "x"})
    assert str(info.value) == (
        f"environment variable {name!r} cannot be set by a shell; "
        f"remove it with `conda env config vars unset {name}` and pack again"
    )


def test_activation_files_refuse_a_nul_in_a_value() -> None:
    with pytest.raises(EnvError) as info:
        activation_files("/opt/env", {"V": "a\0b"})
    assert str(info.value) == (
        "environment variable 'V' contains a NUL byte; "
        "remove it with `conda env config vars unset V` and pack again"
    )


def test_activation_files_refuse_a_prefix_with_a_newline() -> None:
    with pytest.raises(EnvError) as info:
        activation_files("/opt/a\nb", {})
    assert str(info.value) == (
        "'/opt/a\\nb': a location with a line break cannot hold an environment; choose another"
    )


def test_read_env_vars_without_state_file_is_empty(tmp_path: pathlib.Path) -> None:
    assert read_env_vars(tmp_path) == {}


def test_read_env_vars_reads_conda_meta_state(tmp_path: pathlib.Path) -> None:
    state = {"env_vars": {"B": "2", "A": "it's"}, "other": 1}
    _write(tmp_path / "conda-meta" / "state", json.dumps(state))
    assert read_env_vars(tmp_path) == {"B": "2", "A": "it's"}


def test_read_env_vars_without_env_vars_key_is_empty(tmp_path: pathlib.Path) -> None:
    _write(tmp_path / "conda-meta" / "state", "{}")
    assert read_env_vars(tmp_path) == {}


def test_read_env_vars_rejects_invalid_json(tmp_path: pathlib.Path) -> None:
    _write(tmp_path / "conda-meta" / "state", "{not json")
    with pytest.raises(EnvError) as info:
        read_env_vars(tmp_path)
    assert str(info.value) == (
        f"{tmp_path}/conda-meta/state: not valid JSON (Expecting property name enclosed "
        "in double quotes: line 1 column 2 (char 1)); fix or delete the file"
    )


@pytest.mark.parametrize("text", ['[]', '{"env_vars": []}', '{"env_vars": {"A": 1}}'])
def test_read_env_vars_rejects_a_state_of_the_wrong_shape(
    tmp_path: pathlib.Path, text: str
) -> None:
    _write(tmp_path / "conda-meta" / "state", text)
    with pytest.raises(EnvError) as info:
        read_env_vars(tmp_path)
    assert str(info.value) == (
        f"{tmp_path}/conda-meta/state: env_vars must be an object of names to strings; "
        "fix or delete the file"
    )
