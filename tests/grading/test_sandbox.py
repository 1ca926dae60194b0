"""The OS sandbox around every grading kernel (ae_helpers/instructor/sandbox.py), through nbgrader itself.

A one-part assignment is released and graded in a temporary course with the repository's
nbgrader configuration. Each attack is one student whose answer gets the points only if the
attack works; an honest student is graded after them in the same run. Attacks the audit-hook
fence cannot see (a file read by a native library, a network connection) are graded with the
sandbox off too, to show that the sandbox is what stops them; attacks that would harm the
machine (20 GB of memory, 10 GB of disk, a fork bomb) are graded only in the sandbox.
"""
from __future__ import annotations

import os
import socket
import threading

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from ae_helpers.instructor import sandbox
from ae_helpers.instructor.course import run_nbgrader
from nbgrader_harness import TempCourse, fill

needs_sandbox = pytest.mark.skipif(sandbox.available() is not None, reason=f"no sandbox: {sandbox.available()}")

SLUG = "mini"
SECRET = 4242


def _cell(source: str, **meta):
    maker = new_markdown_cell if meta.pop("markdown", False) else new_code_cell
    cell = maker(source)
    cell.metadata["nbgrader"] = {"schema_version": 3, **meta}
    return cell


def mini_assignment():
    """Task, answer cell (returns SECRET), test cell (1 point)."""
    nb = new_notebook(cells=[
        _cell("Return the secret number.", markdown=True, grade=False, solution=False, locked=True,
              grade_id="task"),
        _cell("def answer():\n    ### BEGIN SOLUTION\n    return %d\n    ### END SOLUTION" % SECRET,
              grade=False, solution=True, locked=False, grade_id="answer"),
        _cell(f"assert answer() == {SECRET}", grade=True, solution=False, locked=True, points=1,
              grade_id="test_answer"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


#: The answers of the attacking students. Each returns SECRET only if its attack worked.
NATIVE_READ = '''def answer():
    import pathlib, torch
    path = pathlib.Path.cwd().parents[2] / "solutions" / "mini" / "mini.ipynb"
    size = path.stat().st_size
    data = torch.from_file(str(path), shared=False, size=size, dtype=torch.uint8)  # C++ reads it, not Python
    text = bytes(data.tolist()).decode()
    return int(text.split("return ")[1].split("\\\\n")[0])
'''
NETWORK = '''def answer():
    import socket
    with socket.create_connection(("127.0.0.1", PORT), timeout=5) as s:
        return int(s.recv(16).decode())
'''
MEMORY = '''def answer():
    block = bytearray(20 * 2**30)       # 20 GB
    return 4242 if len(block) else 0
'''
DISK = '''def answer():
    chunk = b"x" * 2**24
    with open("filler.bin", "wb") as f:
        for _ in range(640):            # 640 × 16 MB = 10 GB
            f.write(chunk)
    return 4242
'''
FORK_BOMB = '''def answer():
    import ctypes, time
    libc = ctypes.CDLL(None)
    fork = libc._Fork                   # glibc's raw fork: no audit event, no name the fence knows
    made = 0
    for _ in range(1000):
        pid = fork()
        if pid == 0:                    # a child: named, it holds its process slot for 10 minutes
            libc.prctl(15, b"aebomb", 0, 0, 0)
            time.sleep(600)
            libc._exit(0)
        if pid < 0:
            break
        made += 1
    print(f"forked {made} processes")
    return 4242 if made >= 1000 else 0
'''


def serve_secret() -> int:
    """A TCP server on 127.0.0.1 that sends SECRET to whoever connects; returns its port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def loop():
        while True:
            conn, _ = server.accept()
            with conn:
                conn.sendall(str(SECRET).encode())

    threading.Thread(target=loop, daemon=True).start()
    return server.getsockname()[1]


def grade_mini(tmp_path, answers: dict[str, str], sandboxed: bool) -> dict[str, tuple[float, str]]:
    """Grade one student per answer (plus 'zz_honest', graded last); student → (score, what
    the test cell printed or raised)."""
    course = TempCourse(tmp_path / ("on" if sandboxed else "off"))
    if not sandboxed:
        with open(course.root / "nbgrader_config.py", "a") as f:
            f.write("\nc.GuardedExecute.sandbox = 'off'\n")
    source = course.root / "solutions" / SLUG
    source.mkdir(parents=True)
    nbformat.write(mini_assignment(), source / f"{SLUG}.ipynb")
    run_nbgrader(["generate_assignment", SLUG, "--force"], course.root)
    release = nbformat.read(course.root / "exercises" / SLUG / f"{SLUG}.ipynb", as_version=4)
    students = {**answers, "zz_honest": f"def answer():\n    return {SECRET}\n"}
    for student, code in students.items():
        course.submit(SLUG, student, {f"{SLUG}.ipynb": fill(release, {"answer": code})})
    log = course.autograde_popen(SLUG).communicate()[0]
    assert not sandboxed or "without the OS sandbox" not in log, log[-2000:]
    results = course.results(SLUG, log, feedback_for=())
    return {s: (results[s].total if s in results else float("nan"), _test_output(course.root, s))
            for s in students}


def _test_output(root, student: str) -> str:
    path = root / "autograded" / student / SLUG / f"{SLUG}.ipynb"
    if not path.exists():
        return "not graded"
    cell = nbformat.read(path, as_version=4).cells[-1]
    return " ".join(o.get("text") or f"{o.get('ename')}: {o.get('evalue')}" for o in cell.outputs)


@pytest.fixture(scope="module")
def port():
    return serve_secret()


@pytest.mark.grading
@needs_sandbox
def test_the_fence_alone_lets_a_native_read_and_a_connection_through(tmp_path, port):
    """Without the sandbox these two attacks score: the audit hook sees neither."""
    scores = grade_mini(tmp_path, {"native_read": NATIVE_READ, "network": NETWORK.replace("PORT", str(port))},
                        sandboxed=False)
    assert scores["native_read"][0] == 1 and scores["network"][0] == 1, scores
    assert scores["zz_honest"][0] == 1


#: What each attack meets in the sandbox: the start of the error its student reads (the disk
#: attack meets the file-size limit or, its folder holding the notebook too, the folder's size).
STOPPED_BY = {"native_read": ("FileNotFoundError",), "network": ("ConnectionRefusedError",),
              "memory_20gb": ("MemoryError",),
              "disk_10gb": ("OSError: [Errno 27] File too large", "OSError: [Errno 28] No space left on device"),
              "fork_bomb": ("forked",)}


@pytest.mark.grading
@needs_sandbox
def test_the_sandbox_stops_every_attack_and_costs_only_that_student(tmp_path, port):
    attacks = {"native_read": NATIVE_READ, "network": NETWORK.replace("PORT", str(port)),
               "memory_20gb": MEMORY, "disk_10gb": DISK, "fork_bomb": FORK_BOMB}
    graded = grade_mini(tmp_path, attacks, sandboxed=True)
    assert {s: v[0] for s, v in graded.items()} == {**{a: 0 for a in attacks}, "zz_honest": 1}, graded
    for attack, reason in STOPPED_BY.items():
        assert graded[attack][1].startswith(reason), (attack, graded[attack][1])
    forked = int(graded["fork_bomb"][1].split()[1])
    assert forked <= sandbox.Limits.processes, f"the fork bomb made {forked} processes"
    leftover = [p for p in os.listdir("/proc") if p.isdigit() and _name(p) == "aebomb"]
    assert not leftover, f"{len(leftover)} processes of the fork bomb outlived grading"


def _name(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


# --------------------------------------------------------------------------- without nbgrader

def test_the_command_mounts_nothing_of_the_course_but_its_own_folder(tmp_path):
    course = tmp_path / "course"
    own = course / "autograded" / "alice" / "ch01"
    own.mkdir(parents=True)
    (own / "ch01.ipynb").write_text("{}")
    (course / "solutions").mkdir()
    ipc = tmp_path / "ipc"
    cmd = sandbox.bwrap_command(["/usr/bin/python3", "-m", "ipykernel_launcher"], own, ipc, sandbox.Limits())
    bwrap = cmd[cmd.index("bwrap"):]
    mounted = [bwrap[i + 1] for i, a in enumerate(bwrap) if a in ("--ro-bind", "--bind", "--tmpfs")]
    assert not [m for m in mounted if m.startswith(str(course)) and not m.startswith(str(own))], mounted
    assert bwrap.index("/tmp") < min(i for i, a in enumerate(bwrap) if a == "--ro-bind"), "a bind under /tmp is hidden"
    assert ["--ro-bind", str(own / "ch01.ipynb"), str(own / "ch01.ipynb")] == bwrap[
        bwrap.index(str(own / "ch01.ipynb")) - 1: bwrap.index(str(own / "ch01.ipynb")) + 2]
    assert {"--unshare-all", "--die-with-parent", "--as-pid-1"} <= set(bwrap)
    assert "--share-net" not in bwrap
    assert cmd[-3:] == ["/usr/bin/python3", "-m", "ipykernel_launcher"]
    assert any(a.startswith("--as=") for a in cmd[:cmd.index("bwrap")])


def test_without_bubblewrap_it_says_why_and_how_to_install_it(monkeypatch):
    sandbox.available.cache_clear()
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    try:
        assert sandbox.available() == f"bwrap is not installed: {sandbox.INSTALL_HINT}"
    finally:
        sandbox.available.cache_clear()


def test_sandbox_on_refuses_to_grade_without_bubblewrap(monkeypatch):
    from ae_helpers.instructor.preprocessors import GuardedExecute
    monkeypatch.setattr(sandbox, "available", lambda: "bwrap is not installed")
    ex = GuardedExecute(sandbox="on")
    with pytest.raises(RuntimeError, match="sandbox = 'on', but bwrap is not installed"):
        ex.create_kernel_manager()
