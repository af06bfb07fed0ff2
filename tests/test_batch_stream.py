"""`zhunru evaluate --batch` streams its input (issue 9, part 5): lines are read one at a time in
bounded memory, split on \\n only, checked and logged chunk by chunk (500 requests a
transaction). A bad line names its line number; without --keep-going it stops the run and the
message says what was logged; with --keep-going it is reported, skipped, and summed up.

The real console script on real SQLite files; the rows are counted on the file itself."""
from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pytest

from helpers import bijie_request, run_cli
from zhunru.cli.common import MAX_LINE_BYTES, input_lines


def line(n: int, **overrides) -> str:
    """The request of line n (its id names the line)."""
    return json.dumps(bijie_request(id=f"s-{n}", **overrides), ensure_ascii=False)


def write_batch(path: Path, lines: list[str], *, newline: str = "\n") -> Path:
    path.write_text("".join(text + newline for text in lines), encoding="utf-8", newline="")
    return path


def logged_ids(db: Path) -> set[str]:
    """Request ids of the decisions in the SQLite log (none when the file was never created)."""
    if not db.exists():
        return set()
    with sqlite3.connect(db) as conn:
        return {rid for (rid,) in conn.execute("SELECT request_id FROM zhunru_log WHERE entry_type = 'decision'")}


def error_lines(stderr: str) -> list[str]:
    return [text for text in stderr.splitlines() if text.strip()]


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "log.sqlite"


def evaluate(batch: Path | str, db: Path, *args, input: str | None = None):
    return run_cli("evaluate", "--batch", str(batch), "--db", f"sqlite:///{db}", "--format", "json", *args,
                   input=input)


# -- a bad line in a long batch ----------------------------------------------------------------
def batch_1200(tmp_path, bad: dict[int, str]) -> Path:
    """1,200 requests, one a line; line n replaced by bad[n]."""
    return write_batch(tmp_path / "b.jsonl", [bad.get(n, line(n)) for n in range(1, 1201)])


def test_bad_line_stops_the_run_after_the_chunks_before_it(tmp_path, db):
    result = evaluate(batch_1200(tmp_path, {1100: '{"city": "bijie", oops'}), db)
    assert result.returncode == 2, result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("zhunru: error: line 1100: not valid JSON"), result.stderr
    assert lines[0].endswith("; stopped: the 1000 decisions before line 1001 were logged, "
                             "nothing from line 1001 on"), result.stderr
    # the first two chunks (lines 1-1000) are decided, printed and logged; nothing of the third
    printed = [json.loads(text)["request_id"] for text in result.stdout.splitlines()]
    assert printed == [f"s-{n}" for n in range(1, 1001)]
    assert logged_ids(db) == {f"s-{n}" for n in range(1, 1001)}
    # run again once the line is mended: the rest is logged, nothing twice
    again = evaluate(batch_1200(tmp_path, {}), db)
    assert again.returncode == 0, again.stderr
    assert logged_ids(db) == {f"s-{n}" for n in range(1, 1201)}
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM zhunru_log WHERE entry_type = 'decision'").fetchone()[0] == 1200


def test_bad_line_in_the_first_chunk_logs_nothing(tmp_path, db):
    result = evaluate(batch_1200(tmp_path, {7: line(7, city="atlantis")}), db)
    assert result.returncode == 2, result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("zhunru: error: line 7: city"), result.stderr
    assert lines[0].endswith("; stopped: nothing was logged"), result.stderr
    assert result.stdout == ""
    assert not db.exists(), "a run refused in its first chunk does not even create the log"


def test_first_bad_line_of_a_chunk_is_the_one_named(tmp_path, db):
    """A field error on line 3 comes before bad JSON on line 5 of the same chunk."""
    batch = write_batch(tmp_path / "b.jsonl", [line(1), line(2), line(3, personnel="two"), line(4), "{oops"])
    result = evaluate(batch, db)
    assert result.returncode == 2
    assert error_lines(result.stderr)[0].startswith("zhunru: error: line 3: personnel"), result.stderr


def test_bad_line_with_no_log_says_nothing_is_logged(tmp_path, db):
    result = evaluate(batch_1200(tmp_path, {600: "[1, 2"}), db, "--no-log")
    assert result.returncode == 2, result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("zhunru: error: line 600: not valid JSON"), result.stderr
    assert lines[0].endswith("; stopped: nothing is logged (--no-log); "
                             "the 500 decisions before line 501 were printed"), result.stderr
    assert len(result.stdout.splitlines()) == 500
    assert not db.exists()


# -- --keep-going ---------------------------------------------------------------------------
def test_keep_going_decides_and_logs_every_good_line(tmp_path, db):
    bad = {4: "{not json", 9: line(9, city="atlantis"), 1100: line(1100, personnel=-1)}
    result = evaluate(batch_1200(tmp_path, bad), db, "--keep-going")
    assert result.returncode == 2, result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 4, result.stderr
    assert lines[0].startswith("zhunru: line 4: not valid JSON"), result.stderr
    assert lines[1].startswith("zhunru: line 9: city"), result.stderr
    assert lines[2].startswith("zhunru: line 1100: personnel"), result.stderr
    assert lines[3] == ("zhunru: error: 3 bad lines skipped (lines 4, 9, 1100); "
                        "1197 requests decided and logged"), result.stderr
    good = {f"s-{n}" for n in range(1, 1201) if n not in bad}
    assert [json.loads(text)["request_id"] for text in result.stdout.splitlines()] == sorted(
        good, key=lambda rid: int(rid[2:]))
    assert logged_ids(db) == good


def test_keep_going_a_whole_bad_chunk_and_one_bad_line(tmp_path, db):
    """Every line of a chunk bad, and a lone bad line: the good ones still go through."""
    lines = ["{bad"] * 600 + [line(n) for n in range(601, 611)]
    result = evaluate(write_batch(tmp_path / "b.jsonl", lines), db, "--keep-going")
    assert result.returncode == 2
    summary = error_lines(result.stderr)[-1]
    assert summary == ("zhunru: error: 600 bad lines skipped (lines 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, ...); "
                       "10 requests decided and logged"), summary
    assert logged_ids(db) == {f"s-{n}" for n in range(601, 611)}

    one = evaluate(write_batch(tmp_path / "one.jsonl", [line(1), "{bad"]), tmp_path / "one.sqlite", "--keep-going")
    assert one.returncode == 2
    reported, summary = error_lines(one.stderr)
    assert reported.startswith("zhunru: line 2: not valid JSON (") and reported.endswith(", column 2)"), reported
    assert summary == "zhunru: error: 1 bad line skipped (line 2); 1 request decided and logged"


def test_keep_going_without_bad_lines_exits_as_usual(tmp_path, db):
    batch = write_batch(tmp_path / "b.jsonl", [line(1), line(2, matter="招商引资")])  # negative list: rejected
    result = evaluate(batch, db, "--keep-going")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    hit = evaluate(batch, db, "--keep-going", "--fail-on", "rejected")
    assert hit.returncode == 3, hit.stderr
    assert len(hit.stdout.splitlines()) == 2


def test_keep_going_needs_batch(tmp_path, db):
    request = tmp_path / "r.json"
    request.write_text(line(1), encoding="utf-8")
    result = run_cli("evaluate", str(request), "--keep-going", "--db", f"sqlite:///{db}")
    assert result.returncode == 2 and "--keep-going" in result.stderr


# -- what a line is ---------------------------------------------------------------------------
def test_line_separators_inside_a_json_string_do_not_split_the_line(tmp_path, db):
    """U+2028, U+2029 and U+0085 are line breaks to str.splitlines(), not to JSON Lines."""
    basis = "《条例》第十条\u2028第二款\u2029第三项\u0085附件"
    text = line(1, basis=basis)
    assert "\u2028" in text and "\u2029" in text  # raw, not escaped
    result = evaluate(write_batch(tmp_path / "b.jsonl", [text, line(2)]), db)
    assert result.returncode == 0, result.stderr
    assert [json.loads(t)["request_id"] for t in result.stdout.splitlines()] == ["s-1", "s-2"]
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT request_json FROM zhunru_log WHERE request_id = 's-1'").fetchone()[0]
    assert json.loads(stored)["basis"] == basis


def test_bom_at_the_start_crlf_and_blank_lines(tmp_path, db):
    batch = tmp_path / "b.jsonl"
    batch.write_bytes(b"\xef\xbb\xbf" + line(1).encode() + b"\r\n\r\n   \n\t\r\n" + line(5).encode() + b"\r\n\n"
                      + line(7).encode())  # the last line without a newline
    result = evaluate(batch, db)
    assert result.returncode == 0, result.stderr
    assert [json.loads(t)["request_id"] for t in result.stdout.splitlines()] == ["s-1", "s-5", "s-7"]
    assert logged_ids(db) == {"s-1", "s-5", "s-7"}
    # blank lines still count: an error names the line as an editor numbers it
    batch.write_bytes(b"\xef\xbb\xbf" + line(1).encode() + b"\n\n\n{oops\n")
    bad = evaluate(batch, tmp_path / "other.sqlite")
    assert bad.returncode == 2 and "error: line 4: not valid JSON" in bad.stderr, bad.stderr


def test_a_bom_after_the_start_is_not_skipped(tmp_path, db):
    batch = tmp_path / "b.jsonl"
    batch.write_bytes(line(1).encode() + b"\n\xef\xbb\xbf" + line(2).encode() + b"\n")
    result = evaluate(batch, db)
    assert result.returncode == 2 and "line 2: not valid JSON" in result.stderr, result.stderr


def test_not_utf8_line(tmp_path, db):
    batch = tmp_path / "b.jsonl"
    batch.write_bytes(line(1).encode() + b"\n" + line(2, matter="社区矫正").encode("gbk", "replace") + b"\n")
    result = evaluate(batch, db, "--keep-going")
    assert result.returncode == 2
    assert error_lines(result.stderr)[0].startswith("zhunru: line 2: not UTF-8 text"), result.stderr
    assert logged_ids(db) == {"s-1"}


def test_nested_too_deeply(tmp_path, db):
    batch = write_batch(tmp_path / "b.jsonl", [line(1), "[" * 100_000 + "]" * 100_000])
    result = evaluate(batch, db)
    assert result.returncode == 2
    assert error_lines(result.stderr) == ["zhunru: error: line 2: nested too deeply; stopped: nothing was logged"]


@pytest.mark.parametrize("keep_going", [False, True])
def test_over_long_line_is_refused_by_number(tmp_path, db, keep_going):
    long = json.dumps(bijie_request(id="long", basis="x" * (5 * 1024 * 1024)))
    batch = write_batch(tmp_path / "b.jsonl", [line(1), long, line(3)])
    result = evaluate(batch, db, *(["--keep-going"] if keep_going else []))
    assert result.returncode == 2, result.stderr
    first = error_lines(result.stderr)[0]
    assert "line 2: longer than 4 MiB" in first, result.stderr
    if keep_going:
        assert logged_ids(db) == {"s-1", "s-3"}
    else:
        assert first.endswith("; stopped: nothing was logged") and logged_ids(db) == set()


def test_a_line_of_exactly_the_limit_is_read_whole():
    """The boundary, and memory: an over-long line is never read in one piece larger than the limit."""

    class Recording(io.BytesIO):
        largest = 0

        def readline(self, size=-1):
            assert 0 < size <= MAX_LINE_BYTES + 8, "every read is bounded"
            piece = super().readline(size)
            Recording.largest = max(Recording.largest, len(piece))
            return piece

    limit = 16
    data = b"\xef\xbb\xbf" + b"a" * limit + b"\r\n" + b"b" * (limit + 1) + b"\n" + b"c" * 1000 + b"\n" + b"d\r"
    got = list(input_lines(Recording(data), limit=limit))
    assert got == [(1, b"a" * limit), (2, None), (3, None), (4, b"d")]
    # a 64 MiB line (no newline at all) is skipped in bounded pieces
    Recording.largest = 0
    big = Recording(b"x" * (64 * 1024 * 1024) + b"\n" + b"{}\n")
    assert list(input_lines(big)) == [(1, None), (2, b"{}")]
    assert Recording.largest <= MAX_LINE_BYTES + 5


# -- empty batches, stdin ---------------------------------------------------------------------
@pytest.mark.parametrize("data", [b"", b"\n\n  \n\r\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\n\n"],
                         ids=["zero bytes", "blank lines", "bom only", "bom and blank lines"])
def test_empty_batch(tmp_path, db, data):
    batch = tmp_path / "b.jsonl"
    batch.write_bytes(data)
    result = evaluate(batch, db)
    assert result.returncode == 2
    assert error_lines(result.stderr) == ["zhunru: error: FILE: no requests in the batch (empty input)"]
    assert not db.exists()


def test_stdin(tmp_path, db):
    text = "\n".join([line(1), "", line(2), line(3, basis="甲\u2028乙")]) + "\n"
    result = evaluate("-", db, input=text)
    assert result.returncode == 0, result.stderr
    assert [json.loads(t)["request_id"] for t in result.stdout.splitlines()] == ["s-1", "s-2", "s-3"]
    assert logged_ids(db) == {"s-1", "s-2", "s-3"}
    bad = evaluate("-", tmp_path / "bad.sqlite", input=line(1) + "\n{oops\n")
    assert bad.returncode == 2 and "error: line 2: not valid JSON" in bad.stderr
    empty = evaluate("-", tmp_path / "empty.sqlite", input="")
    assert empty.returncode == 2 and "no requests in the batch" in empty.stderr


def test_text_output_and_help(tmp_path, db):
    batch = write_batch(tmp_path / "b.jsonl", [line(1), line(2)])
    result = run_cli("evaluate", "--batch", str(batch), "--db", f"sqlite:///{db}")
    assert result.returncode == 0 and len(result.stdout.splitlines()) == 2, result.stderr
    shown = run_cli("evaluate", "--help")
    assert shown.returncode == 0
    help_text = " ".join(shown.stdout.split())
    assert "--keep-going" in help_text and "500 requests at a time" in help_text and "4 MiB" in help_text
