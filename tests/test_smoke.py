from click.testing import CliRunner

from conftest import bijie_request, write_json
from zhunru.cli import cli


def test_assist_task_is_admitted_and_logged(tmp_path, sqlite_url):
    req = write_json(tmp_path / "r.json", bijie_request())
    result = CliRunner().invoke(cli, ["evaluate", str(req), "--format", "json", "--db", sqlite_url])
    assert result.exit_code == 0, result.output
    assert '"outcome": "admitted"' in result.output
    verify = CliRunner().invoke(cli, ["log", "verify", "--db", sqlite_url])
    assert verify.exit_code == 0 and "1 rows" in verify.output


def test_pg_log(tmp_path, pg_url):
    req = write_json(tmp_path / "r.json", bijie_request())
    result = CliRunner().invoke(cli, ["evaluate", str(req), "--db", pg_url])
    assert result.exit_code == 0, result.output
    verify = CliRunner().invoke(cli, ["log", "verify", "--db", pg_url])
    assert verify.exit_code == 0, verify.output
