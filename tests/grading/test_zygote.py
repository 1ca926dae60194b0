"""The grading fork server (ae_helpers/instructor/zygote.py): every kernel it forks is a fresh process that
inherits nothing of the kernel before it, under the same limits and sandbox as a kernel started
from scratch, and the zygote itself is out of a kernel's reach."""
from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

import pytest

from ae_helpers.instructor import sandbox, zygote

pytestmark = [pytest.mark.grading,
              pytest.mark.skipif(sys.platform != "linux", reason="the fork server runs on Linux only")]
needs_sandbox = pytest.mark.skipif(sandbox.available() is not None, reason=f"no sandbox: {sandbox.available()}")
KINDS = [pytest.param(False, id="plain"), pytest.param(True, id="sandboxed", marks=needs_sandbox)]


async def _run_kernels(manager_class, folder, codes: list[list[str]]) -> list[list[str]]:
    """Start one kernel per entry of ``codes``, one after the other, evaluate each expression
    of the entry in it, and return the results as text (or 'ERROR <name>')."""
    results = []
    for expressions in codes:
        km = manager_class()
        await km.start_kernel(cwd=str(folder))
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=60)
            out = []
            for expr in expressions:
                reply = await kc.execute_interactive(expr, timeout=60, store_history=False)
                content = reply["content"]
                out.append(f"ERROR {content['ename']}" if content["status"] == "error" else "ok")
                got = await kc.execute_interactive("", timeout=60, user_expressions={"v": "_v"})
                value = got["content"]["user_expressions"]["v"]
                if content["status"] == "ok" and value.get("status") == "ok":
                    out[-1] = value["data"]["text/plain"]
            results.append(out)
        finally:
            kc.stop_channels()
            await km.shutdown_kernel(now=True)
    return results


def run(sandboxed: bool, folder, codes):
    cls = zygote.SandboxedForkedKernelManager if sandboxed else zygote.ForkedKernelManager
    return asyncio.run(_run_kernels(cls, folder, codes))


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "data.txt").write_text("the student's file")
    return tmp_path


@pytest.mark.parametrize("sandboxed", KINDS)
def test_each_kernel_is_a_fresh_process_with_its_own_seeds(sandboxed, folder):
    first, second = run(sandboxed, folder, [
        ["_v = os.getpid() if (os := __import__('os')) else 0", "secret = 42; _v = 'set'",
         "import torch, numpy, random; _v = (torch.initial_seed(), int(numpy.random.randint(2**31)), "
         "random.random())", "_v = open('data.txt').read()"],
        ["_v = os.getpid() if (os := __import__('os')) else 0", "_v = secret",
         "import torch, numpy, random; _v = (torch.initial_seed(), int(numpy.random.randint(2**31)), "
         "random.random())", "_v = open('data.txt').read()"],
    ])
    assert first[0] != second[0], "the same process served two kernels"
    assert first[1] == "'set'" and second[1] == "ERROR NameError", "a name outlived its kernel"
    seeds1, seeds2 = eval(first[2]), eval(second[2])
    assert all(a != b for a, b in zip(seeds1, seeds2)), f"random generators repeat across kernels: {seeds1}"
    assert first[3] == second[3] == "\"the student's file\"", "the kernel does not run in the notebook's folder"


@pytest.mark.parametrize("sandboxed", KINDS)
def test_nothing_a_kernel_leaves_reaches_the_next(sandboxed, folder):
    leave = ("import os, time\npid = os.fork()\nif pid == 0:\n    time.sleep(600)\n    os._exit(0)\n"
             "if %r:\n    os.makedirs('/tmp/ae_left_behind/deep')\n    open('/tmp/ae_left_behind/deep/x', 'w').write('x')\n"
             "    os.chmod('/tmp/ae_left_behind/deep', 0)\n    os.chmod('/tmp/ae_left_behind', 0)\n"
             "open('left.txt', 'w').write('x')\n_v = pid" % sandboxed)
    first, second = run(sandboxed, folder, [[leave], [
        "import os; _v = sorted(p for p in os.listdir('/proc') if p.isdigit())",
        "import os; _v = os.path.exists('/tmp/ae_left_behind')",
        "import os; _v = os.path.exists('left.txt')"]])
    child = int(first[0])
    if sandboxed:      # its own PID namespace: the zygote (1) and this kernel, nothing else
        assert len(eval(second[0])) == 2, f"processes left in the sandbox: {second[0]}"
        assert second[1] == "False", "a file in the sandbox's /tmp outlived its kernel"
        assert second[2] == "False", "a file written beside the notebook reached the next kernel"
    else:
        assert not _alive(child), "the child process of a kernel outlived it"
        (folder / "left.txt").unlink()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("sandboxed", KINDS)
def test_every_kernel_is_under_the_limits(sandboxed, folder):
    limits = sandbox.Limits()
    (got,) = run(sandboxed, folder, [[
        "import resource as r; _v = [r.getrlimit(x)[0] for x in (r.RLIMIT_AS, r.RLIMIT_CPU, r.RLIMIT_NOFILE, "
        "r.RLIMIT_FSIZE)]"]])
    assert eval(got[0]) == [int(limits.memory_gb * 2**30), limits.cpu_seconds, limits.open_files,
                            limits.file_mb << 20]


@needs_sandbox
def test_a_kernel_cannot_reach_the_zygote(folder):
    (got,) = run(True, folder, [[
        "import os, signal; os.kill(1, signal.SIGKILL); os.kill(1, signal.SIGTERM); os.kill(1, signal.SIGINT); "
        "_v = 'sent'",
        "_v = open('/proc/1/mem', 'rb').read(1)",
        "import os\nopened = []\nfor fd in os.listdir('/proc/1/fd'):\n    try:\n"
        "        open(f'/proc/1/fd/{fd}', 'rb').close(); opened.append(fd)\n    except OSError:\n        pass\n"
        "_v = opened",
    ]])
    assert got[0] == "'sent'"
    assert got[1].startswith("ERROR"), "a kernel read the zygote's memory"
    assert got[2] == "[]", f"a kernel opened the zygote's files (its control pipe?): {got[2]}"
    z = zygote.acquire(True)
    try:
        assert z.alive() and z.reset()
    finally:
        zygote.release(z)


def test_the_zygote_preloads_everything_and_stays_single_threaded():
    z = zygote.Zygote(sandboxed=False)
    try:
        assert z.alive()
    finally:
        z.close()
    ready = z.ready
    assert ready["not_preloaded"] == [] and ready["threads"] == 1, ready


def test_a_stopped_zygote_is_replaced(folder):
    z = zygote.acquire(False)
    os.killpg(z.proc.pid, signal.SIGKILL)
    z.proc.wait()
    zygote.release(z)                     # cannot reset a dead zygote: it is dropped
    (got,) = run(False, folder, [["_v = 1 + 1"]])
    assert got == ["2"]


def test_kernels_end_with_their_grader(folder):
    """A grader that dies mid-notebook (its pipe to the zygote closes) leaves no kernel behind."""
    z = zygote.Zygote(sandboxed=False)
    try:
        process = z.spawn({"transport": "ipc", "ip": str(z.ipc / "k"), "key": "", "signature_scheme":
                           "hmac-sha256", "shell_port": 1, "iopub_port": 2, "stdin_port": 3, "hb_port": 4,
                           "control_port": 5}, str(folder), dict(os.environ))
        assert process.poll() is None
        z.proc.stdin.close()                       # what the grader's death does to the pipe
        z.proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while _alive(process.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(process.pid), "the kernel outlived its grader"
    finally:
        z.close()
