"""nbgrader preprocessors of the course (loaded by nbgrader_config.py; needs nbgrader).

``GuardedExecute`` replaces nbgrader's ``Execute`` in autograde. It executes every code cell,
whatever tags a submission gives it (nbclient skips cells tagged ``skip-execution``, which
would leave a test cell without an error and so with full marks), and before each graded test
cell it silently restores what a submission may have changed to switch tests off (see
``ae_helpers.instructor.kernel_guard``). If that restore fails, the test cell gets an error and no points.
The kernel is also fenced off the instructor's files (solutions, gradebook, other students'
work) and from starting processes, so an answer cannot run the reference solution.

If the kernel dies (``os._exit``, ``exit()``, a crash in native code, memory), the cell that
was running gets an error saying so and every code cell after it an error saying it could not
run: the notebook is still graded, the tests that ran before keep their points, the ones after
score 0, and the student's feedback says why, instead of nbgrader dropping the whole notebook.

``HideHiddenTests`` runs when feedback is generated: it removes the hidden-test regions from
test cells and drops the traceback frames of a test cell's own code, so that neither the
hidden tests nor the reference implementations inside them reach a student. The error name
and message stay, as do frames from the student's own cells and from libraries.
"""
from __future__ import annotations

import ast
import re
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from nbclient.exceptions import DeadKernelError
from nbclient.util import ensure_async, run_sync
from nbformat.notebooknode import NotebookNode
from traitlets import Bool, Enum
from nbgrader.preprocessors import ClearSolutions, Execute, NbGraderPreprocessor

if TYPE_CHECKING:                       # names for the hints only
    from jupyter_client.manager import KernelManager

BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
HIDDEN_NOTE = "# (hidden tests run here during grading)"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


_said: set[str] = set()


def _say_once(message: str) -> None:
    """A warning on stderr, once per grading process."""
    if message not in _said:
        _said.add(message)
        print(f"ae_helpers.instructor.preprocessors: {message}", file=sys.stderr)


def strip_hidden(source: str) -> str:
    """``source`` with every hidden-test region replaced by one comment line."""
    out, hidden = [], False
    for line in source.splitlines():
        if BEGIN_HIDDEN in line:
            hidden = True
            indent = line[: len(line) - len(line.lstrip())]
            out.append(indent + HIDDEN_NOTE)
        elif END_HIDDEN in line:
            hidden = False
        elif not hidden:
            out.append(line)
    return "\n".join(out)


def own_frame(frame: str, execution_count: int | None) -> bool:
    """True if a traceback entry shows code of the cell that ran as ``execution_count``.

    IPython writes such entries as ``Cell In[<count>], line <n>`` followed by source lines.
    """
    text = _ANSI.sub("", frame).lstrip()
    return execution_count is not None and text.startswith(f"Cell In[{execution_count}]")


class HideHiddenTests(NbGraderPreprocessor):
    """Remove hidden tests (sources and traceback frames) from graded cells before feedback."""

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int) -> tuple[NotebookNode, dict]:
        """A graded code cell loses its hidden-test regions and its own frames of tracebacks."""
        grade = cell.metadata.get("nbgrader", {}).get("grade", False)
        if cell.cell_type != "code" or not grade:
            return cell, resources
        cell.source = strip_hidden(cell.source)
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                frames = [f for f in output.get("traceback", [])
                          if not own_frame(f, cell.get("execution_count"))]
                if not frames or not _ANSI.sub("", frames[-1]).startswith(output.get("ename", "")):
                    frames.append(f"{output.get('ename', 'Error')}: {output.get('evalue', '')}")
                output["traceback"] = frames
        return cell, resources


def imported_names(source: str) -> list[str]:
    """Names that the top-level import statements of ``source`` bind (``[]`` if it does not parse)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    names = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names += [(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"]
    return names


def _meta(cell: NotebookNode) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


GUARD_FAILED = ("GradingGuardError", "the notebook changed the Python or IPython environment in a way "
                "that stops this test from running fairly, so it scores 0. Remove code that patches "
                "IPython, numpy, torch, builtins or ae_helpers, then run the notebook again.")


KERNEL_DIED = ("DeadKernelError", "the kernel died during this cell or just before it (os._exit, exit(), a "
               "crash in native code or running out of memory); the cells below could not run and score 0.")
NOT_RUN_PREFIX = "not run:"      # how ae-course autograde tells these cells from the one that died
NOT_RUN = ("DeadKernelError", NOT_RUN_PREFIX + " the kernel died in an earlier cell ({}).")


def with_error(cell: NotebookNode, ename: str, evalue: str) -> NotebookNode:
    """``cell`` with an error output appended (nbgrader scores a graded cell with one 0)."""
    cell.setdefault("outputs", []).append(NotebookNode(output_type="error", ename=ename, evalue=evalue,
                                                       traceback=[f"{ename}: {evalue}"]))
    return cell


class GuardedExecute(Execute):
    """nbgrader's ``Execute`` that no cell tag can skip and that restores the kernel before tests;
    the kernel runs in the OS sandbox of ``sandbox.py`` where bubblewrap works (``sandbox``)."""

    _guard_name = None
    _died_in = None
    sandbox = Enum(["auto", "on", "off"], "auto", help="Run each kernel under bubblewrap: 'auto' where "
                   "it works (said once where it does not), 'on' always (grading fails without it), "
                   "'off' never.").tag(config=True)
    fork_server = Bool(True, help="On Linux, fork each kernel from a process that has imported torch, "
                       "matplotlib and IPython once (ae_helpers.instructor.zygote): a fresh process per notebook, "
                       "without 5 s of start-up each. False: start every kernel from scratch."
                       ).tag(config=True)

    def create_kernel_manager(self) -> KernelManager:
        """nbclient's kernel manager, of the class that ``sandbox`` and ``fork_server`` choose."""
        from . import sandbox
        reason = sandbox.available() if self.sandbox != "off" else None
        if self.sandbox == "on" and reason:
            raise RuntimeError(f"GuardedExecute.sandbox = 'on', but {reason}")
        sandboxed = self.sandbox != "off" and reason is None
        if self.sandbox == "auto" and reason:
            _say_once(f"grading runs without the OS sandbox: {reason}")
        if self.fork_server and sys.platform == "linux":
            from . import zygote
            self.kernel_manager_class = (zygote.SandboxedForkedKernelManager if sandboxed
                                         else zygote.ForkedKernelManager)
        elif sandboxed:
            self.kernel_manager_class = sandbox.SandboxedKernelManager
        return super().create_kernel_manager()

    def preprocess(self, nb: NotebookNode, resources: dict | None = None,
                   km: KernelManager | None = None) -> tuple[NotebookNode, dict]:
        """Execute ``nb`` in a fresh kernel with a fresh guard; no cell tag skips a cell."""
        # A fresh kernel per notebook, so a fresh guard; no tag a submission can know of
        # makes nbclient skip a cell.
        self._guard_name, self._died_in = None, None
        self.skip_cells_with_tag = "never-skip-" + secrets.token_hex(16)
        return super().preprocess(nb, resources, km)

    async def _silent(self, code: str) -> bool:
        msg_id = await ensure_async(self.kc.execute(code, silent=True, store_history=False,
                                                    stop_on_error=False))
        reply = await self.async_wait_for_reply(msg_id)
        return bool(reply) and reply["content"].get("status") == "ok"

    async def _call_guard(self, call: str) -> bool:
        """Evaluate ``<guard>.<call>`` as a user expression: IPython evaluates those with plain
        ``eval``, past any input or AST transformer a submission may have installed."""
        msg_id = await ensure_async(self.kc.execute(
            "", silent=True, store_history=False, stop_on_error=False,
            user_expressions={"guard": f"{self._guard_name}.{call}"}))
        reply = await self.async_wait_for_reply(msg_id)
        result = ((reply or {}).get("content", {}).get("user_expressions") or {}).get("guard", {})
        return result.get("status") == "ok" and result.get("data", {}).get("text/plain") == "'done'"

    def private_paths(self) -> list[str]:
        """What the kernel must not read: the course's solutions, submissions, autograded and
        feedback folders, logs, the gradebook (hidden tests) and nbgrader's exchange."""
        from nbgrader.coursedir import CourseDirectory
        course = CourseDirectory(config=self.config)
        root = Path(course.root)
        paths = [root / d for d in (course.source_directory, course.submitted_directory,
                                    course.autograded_directory, course.feedback_directory, "logs")]
        if course.db_url.startswith("sqlite:///"):
            paths.append(Path(course.db_url[len("sqlite:///"):].split("?")[0]))
        exchange = self.config.get("Exchange", {}).get("root", "/srv/nbgrader/exchange")
        return [str(p) for p in paths + [Path(exchange)]]

    async def _install_guard(self) -> None:
        name = "_ae_guard_" + secrets.token_hex(8)
        source = (Path(__file__).with_name("kernel_guard.py")).read_text()
        own = (getattr(self, "resources", None) or {}).get("metadata", {}).get("path") or "."
        code = (f"import builtins as _ae_b\n_ae_ns = {{'__name__': 'ae_guard'}}\n"
                f"exec({source!r}, _ae_ns)\n"
                f"setattr(_ae_b, {name!r}, _ae_ns['Guard'](get_ipython()))\n"
                f"_ae_ns['fence']({self.private_paths()!r}, {str(Path(own).resolve())!r})\n"
                f"del _ae_b, _ae_ns")
        if await self._silent(code):
            self._guard_name = name
        else:
            self.log.warning("grading guard could not be installed; tests run unguarded")

    async def async_execute_cell(self, cell: NotebookNode, cell_index: int, execution_count: int | None = None,
                                 store_history: bool = True) -> NotebookNode:
        """Execute one cell guarded (``_execute_guarded``); once the kernel has died, every code
        cell gets an error instead: the one that was running ``KERNEL_DIED``, those after ``NOT_RUN``."""
        if cell.cell_type != "code":
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        if self._died_in is not None:
            ename, evalue = NOT_RUN
            return with_error(cell, ename, evalue.format(self._died_in))
        try:
            return await self._execute_guarded(cell, cell_index, execution_count, store_history)
        except DeadKernelError:
            self._died_in = _meta(cell).get("grade_id") or f"cell {cell_index + 1}"
            self.log.warning("kernel died in %s; the cells below are marked as not run", self._died_in)
            return with_error(cell, *KERNEL_DIED)

    async def _execute_guarded(self, cell: NotebookNode, cell_index: int, execution_count: int | None,
                               store_history: bool) -> NotebookNode:
        if self._guard_name is None:
            await self._install_guard()
        meta, guard_ok = _meta(cell), True
        if meta.get("grade") and self._guard_name:
            guard_ok = await self._call_guard("restore()")
        cell = await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        if not guard_ok:
            return with_error(cell, *GUARD_FAILED)
        if meta.get("locked") and not meta.get("solution") and self._guard_name:
            names = imported_names(cell.source)
            if names:
                await self._call_guard(f"record({names!r})")
        return cell

    # nbclient binds the synchronous ``execute_cell`` to its own coroutine: rebind it to ours.
    execute_cell = run_sync(async_execute_cell)


STUB = "raise NotImplementedError()"


def _enclosing_function(lines_before: list[str], indent: int) -> str | None:
    """Name of the nearest ``def`` above, indented less than ``indent``; None at module level."""
    for line in reversed(lines_before):
        match = re.match(r"(\s*)def (\w+)\(", line)
        if match and len(match.group(1)) < indent:
            return match.group(2)
    return None


def named_stub(source: str, grade_id: str) -> str:
    """``source`` with each bare ``raise NotImplementedError()`` given a message that says what
    to write: the function whose body it stands in, or else the part (``grade_id``)."""
    lines = source.split("\n")
    for i, line in enumerate(lines):
        if line.strip() != STUB:
            continue
        indent = len(line) - len(line.lstrip())
        owner = _enclosing_function(lines[:i], indent)
        what = (f"write {owner}: replace this line with its body" if owner
                else f"write part '{grade_id}': replace this line with your code")
        lines[i] = line[:indent] + f'raise NotImplementedError("{what}, as the task above describes.")'
    return "\n".join(lines)


class NamedStubs(ClearSolutions):
    """nbgrader's ClearSolutions, whose code stubs say what to write instead of a bare
    ``NotImplementedError`` (see ``named_stub``)."""

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int) -> tuple[NotebookNode, dict]:
        """ClearSolutions' stub, then each bare ``raise NotImplementedError()`` says what to write."""
        cell, resources = super().preprocess_cell(cell, resources, index)
        if cell.cell_type == "code" and _meta(cell).get("solution"):
            cell.source = named_stub(cell.source, _meta(cell).get("grade_id", "?"))
        return cell, resources
