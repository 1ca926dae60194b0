"""The instructor's command line ``ae-course`` (ae_helpers.instructor.cli and the modules it uses).

Unit tests build gradebooks through nbgrader's API and stub the network; one end-to-end test
(marked ``grading``) grades a small simulated class of chapter 01 through nbgrader itself, with
two workers, broken submissions and a resume.
"""
from __future__ import annotations

import csv
import tarfile
import time
import warnings

import numpy as np
import pytest

from ae_helpers import data as ae_data
from ae_helpers.instructor import doctor as doc
from ae_helpers.instructor import cli, parallel, report

SLUG = "01_linear_ae_pca"


# ----------------------------------------------------------------------------- arguments

def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for command in ("init", "release", "autograde", "feedback", "export", "report", "doctor", "data"):
        assert command in out


@pytest.mark.parametrize("argv", [[], ["grade"], ["autograde"], ["data", "sync"], ["autograde", SLUG, "--workers", "x"]])
def test_bad_arguments_exit_with_usage(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    assert "usage: ae-course" in capsys.readouterr().err


def test_workers_must_be_positive(tmp_path):
    with pytest.raises(SystemExit, match="at least 1"):
        cli.main(["--course", str(tmp_path), "autograde", SLUG, "--workers", "0"])


def test_commands_outside_a_course_directory_say_what_to_do(tmp_path, monkeypatch):
    monkeypatch.delenv("AE_COURSE_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    for argv in (["report", SLUG], ["export"], ["release"], ["autograde", SLUG]):
        with pytest.raises(SystemExit, match="not a course directory.*ae-course init"):
            cli.main(argv)


def test_init_refuses_a_folder_with_other_files(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit, match="not empty and not an ae-course directory"):
        cli.init(tmp_path, say=lambda s: None)
    (tmp_path / "file").write_text("x")
    with pytest.raises(SystemExit, match="is a file"):
        cli.init(tmp_path / "file", say=lambda s: None)


def test_init_is_idempotent(tmp_path):
    said = []
    course = cli.init(tmp_path / "term", course_id="ae-2026", exchange="/srv/exchange", say=said.append)
    config = (course / "nbgrader_config.py").read_text()
    assert "c.CourseDirectory.course_id = 'ae-2026'" in config and "c.Exchange.root = '/srv/exchange'" in config
    assert (course / "solutions" / SLUG / f"{SLUG}.ipynb").exists()
    assert (course / "exercises" / SLUG / f"{SLUG}.ipynb").exists()
    assert (course / "gradebook.db").exists() and (course / "submitted").is_dir()
    assert report.course_id(course) == "ae-2026"
    mine = course / "solutions" / SLUG / "instructor_note.md"
    mine.write_text("kept")
    said.clear()
    cli.init(course, course_id="other", say=said.append)
    assert "already a course directory" in said[0]
    assert mine.read_text() == "kept" and (course / "nbgrader_config.py").read_text() == config


# ----------------------------------------------------------------------------- gradebook fixtures

PARTS = {"pca_fit": [("test_pca_fit_a", 1.0), ("test_pca_fit_b", 2.0)], "project": [("test_project", 1.0)]}


def make_fake_course(tmp_path, scores: dict[str, dict[str, float] | None]):
    """A course directory whose gradebook holds chapter SLUG with two code parts and a manual
    question, and one submission per student with the given cell scores (None: not submitted)."""
    from nbgrader.api import Gradebook
    course = tmp_path / "course"
    course.mkdir()
    (course / "nbgrader_config.py").write_text("c = get_config()\nc.CourseDirectory.course_id = 'test-course'\n")
    with Gradebook(report.db_url(course), "test-course") as gb:
        gb.add_assignment(SLUG)
        gb.add_notebook(SLUG, SLUG)
        for part, cells in PARTS.items():
            gb.add_solution_cell(part, SLUG, SLUG)
            for name, points in cells:
                gb.add_grade_cell(name, SLUG, SLUG, max_score=points, cell_type="code")
        gb.add_solution_cell("interpret", SLUG, SLUG)
        gb.add_grade_cell("interpret", SLUG, SLUG, max_score=2.0, cell_type="markdown")
        for student, cells in scores.items():
            gb.add_student(student)
            if cells is None:
                continue
            with warnings.catch_warnings():      # nbgrader's own autoflush warnings
                warnings.simplefilter("ignore")
                gb.add_submission(SLUG, student)
            for g in gb.find_submission(SLUG, student).notebooks[0].grades:
                if g.name in cells:             # as nbgrader's autograde (and a human) leave them
                    g.auto_score = cells[g.name]
                g.needs_manual_grade = g.name not in cells
            gb.db.commit()
    return course


CLASS = {"ann": {"test_pca_fit_a": 1, "test_pca_fit_b": 2, "test_project": 1, "interpret": 2},
         "bob": {"test_pca_fit_a": 1, "test_pca_fit_b": 0, "test_project": 0},
         "cat": {"test_pca_fit_a": 0, "test_pca_fit_b": 0, "test_project": 0},
         "dan": None}


@pytest.fixture(scope="module")
def fake_course(tmp_path_factory):
    """The gradebook of CLASS, built once (creating a gradebook runs alembic); tests only read it."""
    return make_fake_course(tmp_path_factory.mktemp("fake"), CLASS)


def test_part_of_maps_test_cells_to_their_part():
    parts = ["ae_model", "ae", "pca_fit"]
    assert report.part_of("test_ae_model_trained", parts) == "ae_model"
    assert report.part_of("test_ae_step", parts) == "ae"
    assert report.part_of("pca_fit", parts) == "pca_fit"
    assert report.part_of("test_unknown", parts) == "unknown"


def test_export_writes_a_row_per_student_chapter_and_part(tmp_path, fake_course):
    course = fake_course
    out = tmp_path / "out" / "grades.csv"
    assert cli.main(["--course", str(course), "export", "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    table = {(r["student_id"], r["part"]): r for r in rows}
    assert {r["student_id"] for r in rows} == {"ann", "bob", "cat", "dan"}
    assert {r["chapter"] for r in rows} == {SLUG}
    assert len(rows) == 4 * 4                      # 3 parts + TOTAL per student
    assert (table["ann", "pca_fit"]["score"], table["ann", "pca_fit"]["max_score"]) == ("3", "3")
    assert table["bob", "pca_fit"]["score"] == "1" and table["bob", "project"]["score"] == "0"
    assert table["bob", "interpret"]["status"] == "needs manual grading"
    assert table["ann", "interpret"]["score"] == "2"
    assert table["ann", "TOTAL"]["score"] == "6" and table["ann", "TOTAL"]["max_score"] == "6"
    assert table["dan", "TOTAL"]["status"] == "not submitted" and table["dan", "pca_fit"]["score"] == ""


def test_report_writes_figure_and_table_per_part(tmp_path, fake_course):
    course = fake_course
    assert cli.main(["--course", str(course), "report", SLUG, "--out", str(tmp_path / "rep")]) == 0
    png, md = tmp_path / "rep" / f"{SLUG}_report.png", tmp_path / "rep" / f"{SLUG}_report.md"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size < 200_000
    text = md.read_text()
    assert "3 submissions of 4 students" in text
    assert "| pca_fit | 3 | 1.33 | 1.00 | 1 | 1 | 1 | 0 |" in text
    assert "| project | 1 | 0.33 | 0.00 | 1 | 0 | 2 | 0 |" in text
    assert "| interpret (manual) | 2 | 2.00 | 2.00 | 1 | 0 | 0 | 2 |" in text
    rows = {r["part"]: r for r in report.part_summary(report.all_grades(course, [SLUG]))}
    assert list(rows) == ["pca_fit", "project", "interpret"]
    fig = report.figure(SLUG, report.all_grades(course, [SLUG]))
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["pca_fit (3 pts)", "project (1 pt)", "interpret (2 pts, manual)"]   # top to bottom
    assert "3 submissions" in fig.axes[0].get_title()


# ----------------------------------------------------------------------------- autograde helpers

def test_notebook_problem_names_invalid_json_and_non_notebooks(tmp_path):
    bad = tmp_path / "a.ipynb"
    bad.write_text('{"cells": [ ,')
    assert "not valid notebook JSON" in parallel.notebook_problem(bad)
    other = tmp_path / "b.ipynb"
    other.write_text('{"hello": 1}')
    assert "JSON but not a notebook" in parallel.notebook_problem(other)
    good = tmp_path / "c.ipynb"
    import nbformat
    nbformat.write(nbformat.v4.new_notebook(), good)
    assert parallel.notebook_problem(good) is None


def test_error_of_one_student_is_found_in_a_worker_log():
    log = "\n".join([
        "[AutogradeApp | INFO] Autograding /c/submitted/ann/ch/ch.ipynb",
        "[AutogradeApp | ERROR] There was an error processing assignment: /c/submitted/bob/ch",
        "[AutogradeApp | ERROR] Traceback (most recent call last):",
        '  File "x.py", line 1, in f',
        "nbformat.reader.NotJSONError: Notebook does not appear to be JSON",
        "",
        "[AutogradeApp | INFO] Autograding /c/submitted/cat/ch/ch.ipynb"])
    assert parallel._error_from_log(log, "bob", "ch").startswith("nbformat.reader.NotJSONError")
    assert parallel._error_from_log(log, "ann", "ch") is None


def test_outcome_lines_are_clear():
    ok = parallel.Outcome("ann", "graded", 14, 16, "2 pts to grade by hand (formgrader)")
    bad = parallel.Outcome("bob", "failed", message="x.ipynb is not valid notebook JSON")
    assert ok.line(6).split() [:3] == ["ann", "14/16", "ok:"]
    assert "FAILED: x.ipynb is not valid notebook JSON" in bad.line()


def test_a_worker_past_its_wall_clock_limit_is_stopped(tmp_path, monkeypatch):
    """A share whose nbgrader process hangs beyond student_timeout × share size is killed and
    reported as unfinished (its students are then graded again one by one)."""
    import subprocess
    import sys

    def fake_launch(course_dir, chapter, share, everyone, log_path, timeout, threads):
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text("[AutogradeApp | INFO] started\n")
        code = "import time; time.sleep(60)" if "slow" in share else "pass"
        return subprocess.Popen([sys.executable, "-c", code], start_new_session=True)

    monkeypatch.setattr(parallel, "_launch", fake_launch)
    t0 = time.monotonic()
    results = parallel._run_round(tmp_path, SLUG, [["ok"], ["slow"]], ["ok", "slow"], tmp_path / "logs",
                                          None, 1.0, "w")
    assert time.monotonic() - t0 < 30
    assert [(share, finished) for share, _, finished in results] == [(["ok"], True), (["slow"], False)]


# ----------------------------------------------------------------------------- doctor

def test_doctor_passes_here_and_reports_each_item(capsys, data_folder):
    assert doc.doctor() == 0
    out = capsys.readouterr().out
    for item in ("python", "torch", "nbgrader", "server extension formgrader", "JupyterLab extension",
                 "kernel python3", "grading fork server", "data mnist", "fast mode"):
        assert item in out
    assert "data mnist: not cached" in out and "ae-course data fetch" in out


def test_doctor_reports_the_grading_sandbox_and_how_to_install_it(monkeypatch, capsys, data_folder):
    from ae_helpers.instructor import sandbox
    monkeypatch.setattr(sandbox, "available", lambda: f"bwrap is not installed: {sandbox.INSTALL_HINT}")
    assert doc.doctor() == 0                       # a warning: grading works without it
    out = capsys.readouterr().out
    assert "warn  grading sandbox off: bwrap is not installed" in out and "apt-get install bubblewrap" in out
    monkeypatch.setattr(sandbox, "available", lambda: None)
    doc.doctor()
    assert "ok    grading sandbox: bubblewrap works" in capsys.readouterr().out


def test_doctor_fails_when_something_required_is_missing(monkeypatch, capsys, data_folder):
    real = doc._version
    monkeypatch.setattr(doc, "_version", lambda m: None if m == "nbgrader" else real(m))
    ae_data.write_cache(ae_data.cache_path("mnist"), np.zeros((3, 28, 28), np.uint8), np.arange(3))
    ae_data.cache_path("faces").write_bytes(b"not an npz")
    assert cli.main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  nbgrader is not installed  → pip install" in out
    assert "ok    data mnist: 3 images 28×28" in out
    assert "FAIL  data faces:" in out and "delete" in out
    assert "2 required item(s) missing" in out


# ----------------------------------------------------------------------------- data

def _stub_fetchers(monkeypatch):
    for k, name in enumerate(ae_data.FETCHERS):
        size = 28 if name != "faces" else 64
        monkeypatch.setitem(ae_data.FETCHERS, name, lambda home, k=k, size=size: (
            np.full((5, size, size), 10 * (k + 1), np.uint8), np.arange(5)))


def test_data_fetch_pack_unpack_round_trip(monkeypatch, tmp_path, data_folder, capsys):
    _stub_fetchers(monkeypatch)
    assert cli.main(["data", "fetch"]) == 0
    archive = tmp_path / "ship" / "data.tar"
    assert cli.main(["data", "pack", str(archive)]) == 0
    assert sorted(tarfile.open(archive).getnames()) == ["faces.npz", "fashion_mnist.npz", "mnist.npz"]
    offline = tmp_path / "offline"
    monkeypatch.setenv("AE_DATA_DIR", str(offline))
    assert cli.main(["data", "unpack", str(archive)]) == 0
    for name in ae_data.FETCHERS:
        x, y = ae_data.read_cache(offline / f"{name}.npz")
        assert x.shape[0] == 5 and x[0, 0, 0] == 10 * (list(ae_data.FETCHERS).index(name) + 1)
    assert "unpacked" in capsys.readouterr().out


def test_data_fetch_offline_fails_with_names(capsys, data_folder):
    assert cli.main(["data", "fetch"]) == 1          # conftest: the fetchers are offline stubs
    out = capsys.readouterr().out
    assert "mnist: NOT cached (URLError" in out


def test_data_fetch_of_named_sets_caches_them_and_lists_the_cache(monkeypatch, data_folder, capsys, fast):
    """`ae-course data fetch NAME` downloads even in fast mode, says where it cached, lists the cache."""
    x = (np.arange(30 * 28 * 28) % 256).astype(np.uint8).reshape(30, 28, 28)
    monkeypatch.setitem(ae_data.FETCHERS, "mnist", lambda home: (x, np.arange(30) % 10))
    assert cli.main(["data", "fetch", "mnist"]) == 0
    out = capsys.readouterr().out
    assert "mnist: cached at" in out and f"data directory: {data_folder}" in out and "  mnist.npz" in out
    cached_x, cached_y = ae_data.read_cache(data_folder / "mnist.npz")
    assert np.array_equal(cached_x, x) and cached_y.dtype == np.int64
    assert cli.main(["data", "where"]) == 0
    assert "  mnist.npz" in capsys.readouterr().out


def test_data_fetch_offline_names_each_set_it_could_not_cache(data_folder, capsys):
    assert cli.main(["data", "fetch", "mnist", "faces"]) == 1
    out = capsys.readouterr().out
    assert "mnist: NOT cached" in out and "faces: NOT cached" in out
    assert not list(data_folder.glob("*.npz"))


def test_data_pack_with_empty_cache_says_fetch_first(tmp_path, data_folder):
    with pytest.raises(SystemExit, match="nothing cached.*data fetch"):
        cli.main(["data", "pack", str(tmp_path / "x.tar")])


def test_data_unpack_keeps_only_valid_data_set_files(tmp_path, data_folder, capsys):
    good = tmp_path / "mnist.npz"
    ae_data.write_cache(good, np.ones((2, 28, 28), np.uint8), np.arange(2))
    bad = tmp_path / "faces.npz"
    bad.write_bytes(b"garbage")
    evil = tmp_path / "evil.npz"
    evil.write_bytes(b"x")
    archive = tmp_path / "a.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(good, arcname="mnist.npz")
        tar.add(bad, arcname="faces.npz")
        tar.add(evil, arcname="../evil.npz")
    assert cli.main(["data", "unpack", str(archive)]) == 0
    assert sorted(p.name for p in data_folder.iterdir()) == ["mnist.npz"]
    out = capsys.readouterr().out
    assert "skipped '../evil.npz'" in out and "faces.npz: NOT unpacked" in out
    (tmp_path / "junk.tar").write_text("not a tar")
    with pytest.raises(SystemExit, match="not a data archive"):
        cli.main(["data", "unpack", str(tmp_path / "junk.tar")])


# ----------------------------------------------------------------------------- end to end

@pytest.mark.grading
def test_parallel_autograde_of_a_small_class_with_broken_submissions(tmp_path, monkeypatch, capsys):
    """reference, partial, blank, invalid JSON, a hanging cell, a correct answer that floods its
    output and one whose kernel crashes in a late cell; two workers, then a resume."""
    import class_simulation as sim
    course = cli.init(tmp_path / "term", say=lambda s: None)
    cli.release(course, [SLUG], say=lambda s: None)
    monkeypatch.setitem(sim.RELEASE_ROOT, "root", course)
    answers = sim.reference_answers(SLUG)
    sim.submit(course, SLUG, "ref", sim.fill(sim.release_nb(SLUG), answers))
    sim.submit(course, SLUG, "partial", sim.partial(SLUG, ["recon_error--mean_over_pixels"]))
    sim.submit(course, SLUG, "blank", sim.release_nb(SLUG))
    sim.submit(course, SLUG, "broken", '{"cells": [ ,')
    sim.submit(course, SLUG, "hang", sim.fill(sim.release_nb(SLUG), {**answers, "project": "import time\ntime.sleep(600)"}))
    flood = "for _ in range(100_000):\n    print('x' * 40)\n" + answers["recon_error"]      # 4 MB of output
    sim.submit(course, SLUG, "flood", sim.fill(sim.release_nb(SLUG), {**answers, "recon_error": flood}))
    segfault = "import ctypes\nctypes.string_at(0)\n"                                   # dies in native code
    sim.submit(course, SLUG, "crash", sim.fill(sim.release_nb(SLUG), {**answers, "recognise": segfault + answers["recognise"]}))

    assert cli.main(["--course", str(course), "autograde", SLUG, "--workers", "2", "--timeout", "20"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.split() and line.split()[0] in
             ("ref", "partial", "blank", "broken", "hang", "flood", "crash")}
    assert "with 2 worker(s)" in out
    assert "FAILED: 01_linear_ae_pca.ipynb is not valid notebook JSON" in lines["broken"]
    assert "project stopped after 20 s (Execute.timeout)" in lines["hang"]
    assert "recognise: the kernel died" in lines["crash"]
    assert "6 of 7 submissions graded; needing attention: broken" in out

    grades = {g.student: g for g in report.all_grades(course, [SLUG])}
    assert sorted(grades) == ["blank", "broken", "crash", "flood", "hang", "partial", "ref"]
    assert all(g.submitted for g in grades.values())
    auto = {s: sum(p.score or 0 for p in g.parts.values() if not p.manual) for s, g in grades.items()}
    auto_max = sum(p.max_score for p in grades["ref"].parts.values() if not p.manual)
    assert auto["ref"] == auto_max > 0
    assert 0 < auto["partial"] < auto_max and grades["partial"].parts["recon_error"].score == 0
    assert auto["blank"] == 0 and auto["broken"] == 0
    assert grades["hang"].parts["project"].score == 0 and grades["hang"].parts["pca_fit"].score > 0
    # the crash costs the cells from the crash on, not the tests that ran before it
    crash = grades["crash"].parts
    assert crash["recognise"].score == 0 and crash["pca_fit"].score == crash["pca_fit"].max_score > 0
    # the flood costs nothing and is cut to nbgrader's output limit in the graded notebook
    assert auto["flood"] == auto_max
    assert (course / "autograded" / "flood" / SLUG / f"{SLUG}.ipynb").stat().st_size < 1_000_000
    assert len(list((course / "logs" / "autograde" / SLUG).glob("worker*.log"))) == 2

    # resume after an interruption that cut off blank's grading: only blank (and the broken
    # file, which is never marked graded) is graded again
    (course / "autograded" / "blank" / SLUG / f"{SLUG}.ipynb").unlink()
    before = {s: (course / "autograded" / s / SLUG / f"{SLUG}.ipynb").stat().st_mtime
              for s in ("ref", "partial", "hang", "flood", "crash")}
    time.sleep(0.01)
    outcomes = {o.student: o for o in parallel.autograde(course, SLUG, workers=2, say=lambda s: None)}
    assert {s: o.status for s, o in outcomes.items()} == {
        "blank": "graded", "broken": "failed", "crash": "skipped", "flood": "skipped", "hang": "skipped",
        "partial": "skipped", "ref": "skipped"}
    assert outcomes["ref"].score == auto_max
    after = {s: (course / "autograded" / s / SLUG / f"{SLUG}.ipynb").stat().st_mtime for s in before}
    assert after == before
    assert (course / "autograded" / "blank" / SLUG / f"{SLUG}.ipynb").exists()
