"""The net under every command: user errors become one line and exit status 2."""

import pytest
import typer
from rsdet.cli._common import user_errors


def test_an_os_error_on_a_named_file_is_one_line(capsys):
    with pytest.raises(typer.Exit) as stopped:
        with user_errors():
            raise PermissionError(13, "Permission denied", "/data/out/o.gpkg")
    assert stopped.value.exit_code == 2
    assert capsys.readouterr().err.strip() == "Error: /data/out/o.gpkg: Permission denied"


def test_an_os_error_without_a_file_is_a_bug_and_keeps_its_traceback():
    with pytest.raises(OSError, match="socket closed"):
        with user_errors():
            raise OSError("socket closed")
