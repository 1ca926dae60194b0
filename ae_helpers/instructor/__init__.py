"""The instructor's tooling: everything that grades, releases or checks the course.

Students never import it (``ae_helpers`` itself loads nothing from here, and nothing here is
needed by a notebook). It needs the ``[instructor]`` extra (nbgrader and its kernel tools):
``pip install -e ".[instructor]"``.

==================  ==============================================================================
module              what it holds
==================  ==============================================================================
``cli``             the ``ae-course`` command (init, release, autograde, feedback, export, report,
                    doctor, data, sync); ``python -m ae_helpers.instructor`` runs it too
``course``          the course's layout: the chapter list, the repository address, the notebook
                    template (Colab link, install block, metadata), nbgrader runs
``preprocessors``   the nbgrader steps of ``nbgrader_config.py``: guarded execution, hidden tests,
                    named stubs
``sanitize``        nbgrader steps that restore cell roles and drop duplicated ids in submissions
``kernel_guard``    the kernel-side half of the guard (restores patched numerical modules)
``sandbox``         the bubblewrap OS sandbox around every grading kernel
``zygote``          the fork server that starts grading kernels with the heavy imports done
``parallel``        autograde in parallel (and in shards) over a course directory
``report``          the gradebook: grades as CSV, score distributions per graded part
``doctor``          environment checks and the data cache commands (fetch, pack, unpack)
==================  ==============================================================================
"""
