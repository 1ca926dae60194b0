"""Every lecture runs top to bottom in fast mode, and every claim it makes holds.

One source of truth: the lecture computes each claim's number and checks it with
``ae_helpers.claims.claim`` beside the bound that makes it true; these tests only run the
lecture and read what it logged. For each lecture:

- on the embedded stand-ins (an empty data folder), every claim holds;
- on real data (Fashion-MNIST from ``../shared/data/`` and Olivetti-shaped faces), every
  claim holds — for lectures that load 28×28 images or faces (this run is computed once per
  session and shared with the website test, ``lecture_runner.RunCache``);
- with its deliberate breaks (``tests/lecture_breaks/lNN.py``) applied, every claim fails, and
  each break fails the claims it names: no claim is one that cannot fail.

A lecture's tests form one xdist group (``lecture-<stem>``): ``--dist loadgroup`` keeps its runs on
one worker and spreads lectures over workers.
"""
from __future__ import annotations

import os

import nbformat
import pytest

import lecture_runner as lr
from lecture_breaks import breaks_for

pytestmark = pytest.mark.notebooks


def _report(run: lr.Run) -> str:
    return "\n".join(f"  {'ok ' if c['holds'] else 'NOT'} {c['what']} = {c['value']} ({c['bound']})"
                     for c in run.claims)


def _needs_real_data():
    if not lr.FASHION.exists():
        if os.environ.get("CI"):
            pytest.fail(f"real Fashion-MNIST is missing at {lr.FASHION} (CI has ../shared beside the clone)")
        pytest.skip(f"real Fashion-MNIST not found at {lr.FASHION} (set AE_SHARED_DATA)")


#: Each lecture once, read at collection: path → notebook.
LECTURES = {path: nbformat.read(path, as_version=4) for path in lr.lectures()}


def in_group(path, *marks):
    """The lecture at ``path`` as a test parameter in the xdist group ``lecture-<stem>``: with
    ``--dist loadgroup`` a lecture's runs stay on one worker, and lectures spread over workers."""
    return pytest.param(path, marks=[pytest.mark.xdist_group(f"lecture-{path.stem}"), *marks], id=path.stem)


BY_LECTURE = [in_group(path) for path in LECTURES]


@pytest.mark.parametrize("path", BY_LECTURE)
def test_runs_and_claims_hold_on_the_stand_in(path, tmp_path):
    nb, slug = LECTURES[path], path.stem
    run = lr.run(path, "stand-in", tmp_path / "empty")
    assert run.error is None, f"{slug} failed on the stand-in:\n{run.error}\nclaims:\n{_report(run)}"
    assert len(run.claims) >= lr.claim_sites(nb), "some claim() calls were never reached"


@pytest.mark.parametrize("path", [
    in_group(path, pytest.mark.skipif(not lr.has_real_variant(nb),
                                      reason="uses no 28×28 data set, faces or generated signals"))
    for path, nb in LECTURES.items()])
def test_runs_and_claims_hold_on_real_data(path, tmp_path, tmp_path_factory):
    nb, slug = LECTURES[path], path.stem
    _needs_real_data()
    run = lr.session_cache(tmp_path_factory).get(path, "real", lambda: lr.real_data_folder(tmp_path / "real"))
    assert run.error is None, f"{slug} failed on real data:\n{run.error}\nclaims:\n{_report(run)}"
    assert len(run.claims) >= lr.claim_sites(nb), "some claim() calls were never reached"


@pytest.mark.parametrize("path", BY_LECTURE)
def test_every_claim_can_fail(path, tmp_path):
    nb, slug = LECTURES[path], path.stem
    breaks = breaks_for(slug)
    assert lr.claim_sites(nb) > 0, f"{slug} checks no claim: state its numbers with ae_helpers.claim"
    assert breaks, f"{slug} has claims but no deliberate break in tests/lecture_breaks/l{slug[:2]}.py"
    run = lr.run(path, "stand-in", tmp_path / "empty", breaks=tuple(breaks), strict=False)
    assert run.error is None, f"{slug} with its breaks did not run to the end:\n{run.error}"
    assert len(run.claims) >= lr.claim_sites(nb), "some claim() calls were never reached"
    failed = run.failed_claims()
    for brk in breaks:
        for name in brk.claims:
            assert any(w.startswith(name) for w in failed), (
                f"break {brk.old!r} → {brk.new!r} should make '{name}' fail:\n{_report(run)}")
    held = [c["what"] for c in run.claims if c["holds"]]
    assert not held, f"no break makes these claims fail: {held}\n{_report(run)}"
