"""nbgrader's gradebook on a real PostgreSQL server (tests/pg.py), and the one-line error the
command line prints when the database cannot be reached."""

import os
import sys
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from autograder import cluster
from tests import pg


def test_nbgrader_gradebook_creates_its_schema_and_round_trips_a_grade(postgres_url,
                                                                       monkeypatch):
    # nbgrader stamps a new database by running `alembic` from PATH: the venv's own
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    with Gradebook(postgres_url, course_id="course") as gb:
        gb.add_assignment("01_knn")
        gb.add_notebook("01_knn", "01_knn")
        gb.add_grade_cell("knn_distances", "01_knn", "01_knn", max_score=3.0,
                          cell_type="code")
        gb.add_student("alice", first_name="Alice", last_name="Ng")
        gb.add_submission("01_knn", "alice")
        grade = gb.find_grade("knn_distances", "01_knn", "01_knn", "alice")
        grade.auto_score = 2.5
        gb.db.commit()
    with Gradebook(postgres_url, course_id="course") as gb:  # a new connection reads it back
        grade = gb.find_grade("knn_distances", "01_knn", "01_knn", "alice")
        assert (grade.auto_score, grade.max_score, grade.score) == (2.5, 3.0, 2.5)
        assert [s.id for s in gb.students] == ["alice"]
        assert gb.find_submission("01_knn", "alice").score == 2.5
    cluster.check_database(postgres_url)  # reachable: no error


def test_a_refused_connection_is_one_readable_line_without_the_password():
    url = f"postgresql+psycopg2://grader:s3cret@127.0.0.1:{pg.free_port()}/gradebook"
    with pytest.raises(cluster.DatabaseError) as err:
        cluster.check_database(url, timeout=3)
    message = str(err.value)
    assert "\n" not in message and "s3cret" not in message
    assert message.startswith("cannot use the gradebook database postgresql+psycopg2://grader:"
                              "***@127.0.0.1:"), message
    assert "refused" in message, message


def test_a_wrong_password_is_one_readable_line(postgres_url):
    from sqlalchemy.engine import make_url

    wrong = make_url(postgres_url).set(password="not-the-password")
    with pytest.raises(cluster.DatabaseError) as err:
        cluster.check_database(wrong.render_as_string(hide_password=False))
    assert "\n" not in str(err.value) and "password authentication failed" in str(err.value)
