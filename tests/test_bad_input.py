"""Every bad input of issue 14 on the real models: one line ``klpmc: ...`` naming the problem, exit 2, no
traceback; and runs that cannot finish refused before they start."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from klpmc.cli import run

BASE = '[[patch]]\nname = "P1"\nstates = [{ id = 1 }]\n'


def bad(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run klpmc; it must refuse with one line on stderr and exit 2; the line, without the prefix."""
    code = run(list(argv))
    out, err = capsys.readouterr()
    assert code == 2, (argv, code, out[-500:], err)
    assert err.startswith("klpmc: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err[len("klpmc: "):].strip()


# -- configurations -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "message"), [
    ("x = " + "[" * 5000 + "]" * 5000 + "\n", "arrays or tables nested too deeply to read"),
    ('[[patch]]\nname = "P1"\nstates = [{ id = 1 }, { id = 1 }]\n', "[[patch]] #1 holds state 1 twice"),
    (BASE + '[[module]]\nname = "P1"\n', "module 'P1' has the name of a [[patch]]"),
    ('[[patch]]\nname = "P1"\nobjects = ["vmlinux", "mod_b"]\n', "[[patch]] #1 object 'mod_b' is no [[module]]"),
    (BASE + '[[module]]\nname = "m"\n[[module]]\nname = "m"\n', "module name 'm' is used twice"),
    (BASE + '[[module]]\nname = "m-a"\n[[module]]\nname = "m_a"\n', "module name 'm_a' is used twice"),
    ('[[patch]]\nname = "P1"\nobjects = ["vmlinux", "vmlinux"]\n', "[[patch]] #1 names object 'vmlinux' twice"),
    (BASE + '[[module]]\nname = "vmlinux"\n', "[[module]] #1 is named vmlinux"),
    ('[[patch]]\nname = ""\n', "[[patch]] #1 name '' is not a module name"),
    (BASE + '[[module]]\nname = ""\n', "[[module]] #1 name '' is not a module name"),
    ('[[patch]]\nname = "P1"\nobjects = [""]\n', "[[patch]] #1 object '' is not a module name"),
    ("name = 5\n" + BASE, "the configuration's name must be a string, not 5"),
    ('[[patch]]\nname = "P\\n1"\n', "[[patch]] #1 name 'P\\n1' is not a module name"),
    ('[[patch]]\nname = "P\\u001b[31m1"\n', "[[patch]] #1 name 'P\\x1b[31m1' is not a module name"),
    ('[[patch]]\nname = "-P1"\n', "[[patch]] #1 name '-P1' is not a module name"),
    (f'[[patch]]\nname = "{"P" * 56}"\n', "is not a module name: 1 to 55"),
], ids=lambda x: repr(x[:40]))
def test_a_configuration_that_cannot_mean_anything_is_refused(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text)
    assert bad(capsys, "check", "v1", "--config", str(path)) == f"{path}: {message}" or \
        message in bad(capsys, "check", "v1", "--config", str(path))


def test_a_byte_order_mark_is_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + BASE.encode())
    assert "starts with a byte-order mark" in bad(capsys, "check", "v1", "--config", str(path))


@pytest.mark.parametrize("kind", ["/dev/null", "fifo", "loop", "directory"])
def test_a_configuration_that_is_no_regular_file_is_named(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, kind: str) -> None:
    """Checked before anything opens it: a FIFO would block the open for ever."""
    if kind == "/dev/null":
        path, said = Path("/dev/null"), "/dev/null is a character device, not a configuration file"
    elif kind == "fifo":
        path = tmp_path / "f.toml"
        os.mkfifo(path)
        said = f"{path} is a FIFO, not a configuration file"
    elif kind == "loop":
        path = tmp_path / "a.toml"
        (tmp_path / "b.toml").symlink_to(path)
        path.symlink_to(tmp_path / "b.toml")
        said = f"{path}: symbolic links that loop"
    else:
        path = tmp_path
        said = "is a directory"
    assert said in bad(capsys, "check", "v1", "--config", str(path))


def test_a_missing_configuration_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert bad(capsys, "check", "v1", "--config", "no-such.toml") == "no such configuration file: no-such.toml"


# -- scopes ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "message"), [
    ("patches=²", "bad scope part 'patches=²'"),
    ("", "empty scope ''"),
    (",", "empty scope ','"),
    ("patches=2,patches=3", "gives patches twice"),
    ("patches=0", "a scope needs at least 1 patch"),
])
def test_a_bad_scope(capsys: pytest.CaptureFixture[str], spec: str, message: str) -> None:
    assert message in bad(capsys, "check", "refcount", "--scope", spec)


# -- options --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-1", "1e400", "x"])
def test_a_timeout_is_a_finite_number_of_seconds(capsys: pytest.CaptureFixture[str], value: str) -> None:
    assert "Invalid value for '--timeout'" in bad(capsys, "prove", "upstream", "--timeout", value)
    assert "Invalid value for '--timeout'" in bad(capsys, "check", "upstream", "--vacuity", "--timeout", value)


def test_check_timeout_is_for_vacuity(capsys: pytest.CaptureFixture[str]) -> None:
    assert "--timeout is the time of each z3 call of --vacuity" in bad(capsys, "check", "upstream", "--timeout", "3")


@contextlib.contextmanager
def read_only_dir(tmp_path: Path) -> Iterator[Path | None]:
    """A directory nobody may write in: chmod for a user, a read-only tmpfs for root (None if no mount)."""
    ro = tmp_path / "ro"
    ro.mkdir()
    if os.geteuid() != 0:
        ro.chmod(0o555)
        yield ro
        ro.chmod(0o755)
        return
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(ro)], capture_output=True,
                          check=False)
    if done.returncode != 0:
        yield None
        return
    try:
        yield ro
    finally:
        subprocess.run(["umount", str(ro)], check=False)


@pytest.mark.parametrize("command", [["check", "upstream"], ["graph", "upstream"], ["check", "upstream",
                                                                                       "--emit-selftest"]])
def test_out_is_checked_before_the_run(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                       command: list[str]) -> None:
    """/dev/null, a path under a file, /proc, a read-only folder, '' and a file where a property's folder
    goes: refused when the command line is read, not after the run."""
    option = command[2] if len(command) > 2 else "--out"
    base = command[:2]
    file = tmp_path / "file"
    file.write_text("")
    for where in ("/dev/null", str(file / "sub"), "/proc/klpmc-test"):
        assert f"Invalid value for '{option}'" in bad(capsys, *base, option, where)
    assert "an empty name is no directory" in bad(capsys, *base, option, "")
    with read_only_dir(tmp_path) as ro:
        if ro is not None:
            assert "cannot write under" in bad(capsys, *base, option, str(ro / "out"))
    if base[0] == "check":
        out = tmp_path / "out"
        out.mkdir()
        (out / "objects-cleaned-before-free").write_text("in the way")
        assert "is in the way (not a directory)" in bad(capsys, *base, option, str(out))


def test_html_is_checked_before_the_run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert "is a directory" in bad(capsys, "check", "upstream", "--html", str(tmp_path))
    assert "cannot write under" in bad(capsys, "check", "upstream", "--html", "/proc/klpmc/x.html")


# -- scenarios ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("content", "message"), [
    (b'% insmod "x\n', "cannot parse '% insmod \"x': No closing quotation"),
    (b"% insmod test_modules/test_klp_callbacks_demo.ko pre_patch_ret=abc\n", "pre_patch_ret=abc: a callback"),
    (b"% insmod test_modules/test_klp_callbacks_demo.ko pre_patch_ret=\n", "pre_patch_ret=: a callback returns"),
    (b"% insmod test_modules/test_klp_callbacks_demo.ko pre_patch_ret\n", "pre_patch_ret=: a callback returns"),
    (b"% insmod test_modules/test_klp_callbacks_demo.ko pre_patch_ret=5\n", "pre_patch_ret=5: a callback returns"),
    (b"% insmod test_modules/test_klp_callbacks_busy.ko block_transition=maybe\n", "the parameter is a bool"),
    (b"\x7fELF\x02\x01\x01\x00\x00\x00\xd0\xff\n", "is not UTF-8 text"),
    (b"% insmod \xff\xfe\n", "is not UTF-8 text"),
    (b"", "no '% ' command line to replay"),
    (b"# a comment only\n", "no '% ' command line to replay"),
])
def test_a_bad_scenario(capsys: pytest.CaptureFixture[str], tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "s.txt"
    path.write_bytes(content)
    assert message in bad(capsys, "replay", "upstream", str(path))
    assert message in bad(capsys, "replay", "upstream", str(path), "--check")


def test_a_scenario_that_is_no_regular_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    fifo = tmp_path / "s.txt"
    os.mkfifo(fifo)
    assert "is a FIFO, not a scenario file" in bad(capsys, "replay", "upstream", str(fifo))


# -- runs that cannot finish ----------------------------------------------------------------------------


def _patches(n: int, states: str = "") -> str:
    return "".join(f'[[patch]]\nname = "P{i + 1}"\n{states}' for i in range(n))


@pytest.mark.parametrize("command", ["check", "prove", "coverage", "conform"])
def test_fifty_patches_are_refused_unless_bounded(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                  command: str) -> None:
    path = tmp_path / "p50.toml"
    path.write_text(_patches(50))
    message = bad(capsys, command, "v1" if command != "conform" else "upstream", "--config", str(path))
    assert "exhaustive search cannot finish: at least" in message and "50 patches that load in any order" in message
    assert "--max-states N" in message


def test_fifty_patches_run_with_a_bound(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "p50.toml"
    path.write_text(_patches(50))
    assert run(["check", "v1", "--config", str(path), "--max-states", "200", "-q"]) == 1
    assert "200 states" in capsys.readouterr().out


def test_a_thousand_modules_are_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "o1000.toml"
    names = [f"m{i}" for i in range(1000)]
    path.write_text('[[patch]]\nname = "P1"\nobjects = [' + ", ".join(f'"{n}"' for n in names) + "]\n"
                    + "".join(f'[[module]]\nname = "{n}"\n' for n in names))
    assert "1000 modules that load on their own" in bad(capsys, "check", "v1", "--config", str(path))


@pytest.mark.parametrize("model", ["v1", "replace-set"])
def test_twenty_thousand_patches_are_refused_in_setup(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                      model: str) -> None:
    """Patches that share a state (replace-set lets one of them load at a time): the steps each state has
    and the size of each state put it out of reach too (bench/setup.py times the setup)."""
    path = tmp_path / "p20k.toml"
    path.write_text(_patches(20_000, "states = [{ id = 1 }]\n"))
    assert "exhaustive search cannot finish" in bad(capsys, "check", model, "--config", str(path))


def test_graph_stops_at_its_limit_and_writes_nothing(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from klpmc import graphs

    monkeypatch.setattr(graphs, "GRAPH_LIMIT", 40)
    seen: list[int] = []
    real = graphs.GraphVisitor.on_state

    def count(self: graphs.GraphVisitor, j: int, state: object) -> bool:
        seen.append(j)
        return real(self, j, state)

    monkeypatch.setattr(graphs.GraphVisitor, "on_state", count)
    out = tmp_path / "g"
    assert "has more than 40 states; --max-states N" in bad(capsys, "graph", "upstream", "--out", str(out))
    assert len(seen) == 40 and list(out.iterdir()) == []
