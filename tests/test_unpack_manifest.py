"""The one unpack manifest: what render writes, parse and the shell read back."""

from __future__ import annotations

import subprocess

import pytest

from condapack.unpack.manifest import Entry, Manifest, escape, parse, render

#: Names as bytes: blanks, quotes, %, backslashes, a line break, non-UTF-8.
NAMES = [b"bin/tool", b"share/a b/%s 100%", b"lib/it's \"x\"\\n", b"etc/line\nbreak", b"lib/\xff\xfe.so",
         b"share/\xc3\xa9t\xc3\xa9/$(echo x)"]


def _entries(manifest: Manifest) -> list[tuple[str, str, int, list[object], list[list[int]]]]:
    return [(e.path, e.mode, e.capacity, list(e.fields), e.spellings) for e in manifest.entries]


def test_a_manifest_reads_back_what_was_written_whatever_the_names() -> None:
    names = [name.decode("utf-8", "surrogateescape") for name in NAMES]
    fields = [(0, 40, [b"", b"/lib:%s\0x"]), (100, 9, [b"a ", b":", b"\\"])]
    written = Manifest([Entry(name, "text") for name in names] + [Entry("lib/x.so", "binary", 255, fields)])
    data = render(written)
    assert data.startswith(b"condapack-unpack 3\n") and data.isascii() and len(data.splitlines()) == 8
    assert _entries(parse(data)) == _entries(written)
    assert parse(data).windows is False


def test_a_windows_manifest_keeps_the_spelling_at_each_prefix() -> None:
    written = Manifest([Entry("Library/bin/x.dll", "binary", 200, [(8, 60, [b"", b"\\bin;", b"/lib"])], [[1, 2]])],
                       windows=True)
    data = render(written)
    assert data == b"condapack-unpack 3 windows\nb Library/bin/x.dll 200 8:60:9:2:%s\\134bin\\073%s/lib:12\n"
    assert _entries(parse(data)) == _entries(written) and parse(data).windows is True


@pytest.mark.parametrize("name", NAMES)
def test_the_shell_prints_each_escaped_name_as_its_bytes(name: bytes) -> None:
    printed = subprocess.run(["/bin/sh", "-c", 'printf "$1"', "sh", escape(name)], capture_output=True, check=True)
    assert printed.stdout == name


@pytest.mark.parametrize("data,problem", [
    (b"", "the first line is not 'condapack-unpack 3'"),
    (b"condapack-unpack 2\nt a\n", "the first line is not 'condapack-unpack 3'"),
    (b"condapack-unpack 3\nt a", "the last line is cut short"),
    (b"condapack-unpack 3\nt a b\n", "bad line 't a b'"),
    (b"condapack-unpack 3\nb lib/x.so 10 1:2:3\n", "bad field '1:2:3'"),
    (b"condapack-unpack 3\nb lib/x.so 10 0:9:1:2:a%sb\n", "bad field '0:9:1:2:a%sb'"),
    (b"condapack-unpack 3\nt a\\400\n", "bad escape in 'a\\\\400'"),
    (b"condapack-unpack 3\nt \xc3\xa9\n", "not ASCII"),
    (b"condapack-unpack 3\nt ../x\n", "file '../x' may not contain '..', got '../x'"),
    (b"condapack-unpack 3 windows\nb x.dll 10 0:9:1:1:a%sb\n", "bad field '0:9:1:1:a%sb'"),
])
def test_a_damaged_manifest_is_refused_saying_what_is_wrong(data: bytes, problem: str) -> None:
    with pytest.raises(ValueError) as err:
        parse(data)
    assert str(err.value) == problem
