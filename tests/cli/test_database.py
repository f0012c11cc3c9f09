"""Every command that needs the database says in one line which one it could not reach."""

from pathlib import Path

import pytest

from tests.cli.helpers import PASSWORD, environment, log_lines, run, unreachable_postgres


@pytest.mark.parametrize(
    ("args", "doing"),
    [
        (["migrate"], "migrate"),
        (["prune-logs", "--older-than-days", "3"], "prune the call log"),
        (["rebuild-rollups"], "rebuild the rollups"),
    ],
)
def test_an_unreachable_database_is_one_line_and_exit_1(
    tmp_path: Path, args: list[str], doing: str
) -> None:
    url, shown = unreachable_postgres()
    done = run(environment(tmp_path, DATABASE_URL=url), *args)
    assert done.returncode == 1
    output = done.stdout + done.stderr
    assert PASSWORD not in output
    assert "Traceback" not in output
    assert [line["msg"] for line in log_lines(done.stderr) if line["level"] == "ERROR"] == [
        f"cannot {doing}: the database at {shown} could not be reached (OperationalError); "
        "check that it is running and that DATABASE_URL points at it"
    ]


def test_an_sqlite_directory_that_cannot_be_made_says_what_to_check(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")  # a file where the database's directory should be
    url = f"sqlite:///{blocker / 'calls.db'}"
    done = run(environment(tmp_path, DATABASE_URL=url), "migrate")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    (error,) = [line for line in log_lines(done.stderr) if line["level"] == "ERROR"]
    assert "check that its directory exists and is writable" in error["msg"]
