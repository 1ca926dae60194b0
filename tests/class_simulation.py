"""A simulated class for the instructor tests and benchmarks: submissions built from the
committed release of a chapter, the reference solutions and the mistake fixtures.

``simulated_class(slug, n)`` gives student id → notebook for ``n`` students: about 40 %
reference answers, 40 % partial (the reference with mistake fixtures in one or two parts, one
part missed by most of them, as a hard question would be) and 20 % blank releases.
"""
from __future__ import annotations

from pathlib import Path

import nbformat

from ae_helpers.instructor.course import ROOT
from kernel_grader import fixtures
from nbgrader_harness import fill, solution_sources


#: Where the release comes from; a test points it at its own course directory's fresh release.
RELEASE_ROOT = {"root": ROOT}


def release_nb(slug: str):
    return nbformat.read(RELEASE_ROOT["root"] / "exercises" / slug / f"{slug}.ipynb", as_version=4)


def reference_answers(slug: str) -> dict[str, str]:
    return solution_sources(nbformat.read(ROOT / "solutions" / slug / f"{slug}.ipynb", as_version=4))


def mistakes(slug: str) -> dict[str, tuple[str, str]]:
    return fixtures(slug, "mistakes")


def partial(slug: str, names: list[str]):
    """The reference with the named mistake fixtures in place of their solution cells."""
    answers = dict(reference_answers(slug))
    table = mistakes(slug)
    for name in names:
        grade_id, wrong = table[name]
        answers[grade_id] = wrong
    return fill(release_nb(slug), answers)


def simulated_class(slug: str, n: int = 20) -> dict[str, object]:
    """student id → notebook (reference, partial or blank), deterministic."""
    table = sorted(mistakes(slug))
    parts = sorted({table_gid for table_gid, _ in mistakes(slug).values()})
    hard = parts[len(parts) // 2]                      # the part most partial students miss
    hard_fixtures = [m for m in table if m.startswith(hard + "--")]
    other = [m for m in table if not m.startswith(hard + "--")]
    ref = fill(release_nb(slug), reference_answers(slug))
    out = {}
    for i in range(n):
        student = f"student{i + 1:02d}"
        kind = i % 5
        if kind in (0, 3):
            out[student] = ref
        elif kind in (1, 2):
            chosen = [hard_fixtures[i % len(hard_fixtures)]]
            if kind == 2:
                chosen.append(other[(7 * i) % len(other)])
            out[student] = partial(slug, chosen)
        else:
            out[student] = release_nb(slug)
    return out


def submit(course_dir: Path, slug: str, student: str, nb) -> Path:
    """Put ``nb`` (a notebook, or raw bytes/str) at ``submitted/<student>/<slug>/<slug>.ipynb``."""
    folder = Path(course_dir) / "submitted" / student / slug
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{slug}.ipynb"
    if isinstance(nb, (bytes, str)):
        path.write_bytes(nb if isinstance(nb, bytes) else nb.encode())
    else:
        nbformat.write(nb, path)
    return path
