"""nbgrader configuration of the course "Autoencoders & latent spaces".

Source notebooks (with solutions and hidden tests) live in solutions/, the student release in
exercises/. Grading runs every notebook in fast mode (nbgrader sets NBGRADER_EXECUTION, which
ae_helpers reads), so the per-cell timeout below is sized for fast mode on a laptop CPU.
"""
import os

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearHiddenTests, ClearMarkScheme,
                                    ClearOutput, ComputeChecksums, GetGrades, IgnorePattern,
                                    IncludeHeaderFooter, InstantiateTests, LimitOutput, LockCells,
                                    OverwriteKernelspec, SaveAutoGrades, SaveCells)

from ae_helpers.instructor.preprocessors import GuardedExecute, HideHiddenTests, NamedStubs
from ae_helpers.instructor.sanitize import DropDuplicateIds, RestoreCellRoles

c = get_config()  # noqa: F821 (provided by nbgrader)

c.CourseDirectory.course_id = "autoencoders-latent-spaces"
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"

# The stub a student sees in place of each solution.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
# ... and each stub's error names what to write ("pca_fit is not written yet: …"): nbgrader's
# generate_assignment pipeline with ClearSolutions replaced by NamedStubs (same order otherwise).
c.GenerateAssignment.preprocessors = [IncludeHeaderFooter, InstantiateTests, LockCells, NamedStubs, ClearOutput,
                                      CheckCellMetadata, ComputeChecksums, SaveCells, ClearHiddenTests,
                                      ClearMarkScheme, ComputeChecksums, CheckCellMetadata]

# Autograde: a slow cell is stopped after a minute (fast mode needs seconds); a kernel that
# dies is reported for that notebook only.
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True

# Autograde executes with GuardedExecute instead of nbgrader's Execute (same settings): no cell
# tag can skip a test cell, and before each test cell the kernel's IPython hooks and the
# numerical modules a submission may have patched are restored (ae_helpers/instructor/preprocessors.py).
c.Autograde.autograde_preprocessors = [GuardedExecute, IgnorePattern, ClearMetadataPreprocessor,
                                       LimitOutput, SaveAutoGrades, AssignLatePenalties,
                                       CheckCellMetadata]

# A correct answer that prints a warning must keep its points: nbgrader zeroes any graded cell
# with output on stderr, so stderr is dropped before grades are saved (errors are separate
# 'error' outputs and still count). IgnorePattern is in nbgrader's autograde pipeline, off by default.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"[\s\S]*"

# Before executing, a submission is sanitized: outputs cleared, duplicated cells reduced to one
# graded copy, and every cell with a grade id given back its released role, source and points
# from the gradebook (ae_helpers/instructor/sanitize.py: nbgrader's own steps fail on a copied test cell
# or a flipped role and leave the whole notebook ungraded). Grade cells a student deleted are
# added back so that their tests still run.
c.Autograde.sanitize_preprocessors = [ClearOutput, DropDuplicateIds, OverwriteKernelspec,
                                      RestoreCellRoles, CheckCellMetadata]
c.OverwriteCells.add_missing_cells = True

# Feedback never shows hidden tests or the reference code inside them.
c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]

# Opened on one's own machine (no JupyterHub, no exchange configured in /etc/jupyter or
# ~/.jupyter), the Assignments tab gets an empty exchange of the user's own instead of
# nbgrader's unwritable default, so it shows no error (ae_helpers.instructor.course.local_exchange). On a
# JupyterHub the exchange set there stays (INSTRUCTORS.md).
from ae_helpers.instructor.course import local_exchange  # noqa: E402

if (_exchange := local_exchange()) is not None:
    c.Exchange.root = _exchange
