"""The fast certificate path (engine/catalogue.py) answers exactly as the engine does."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from zhunru.decide import catalogue
from zhunru.decide.certificates import check_certificate
from zhunru.decide.evaluate import Engine
from zhunru.rulebook.loader import default_registry
from zhunru.cli import cli

OFF_LIST = ["居住证明", "我的证明", "親屬關係證明", "  死亡 证明 ", "ABC", "证明", "无犯罪记录证明书"]


def versions():
    registry = default_registry()
    for city in registry.cities():
        for item in registry.versions(city):
            r = item.ruleset
            span = (r.effective_to - r.effective_from).days if r.effective_to else 800
            yield city, r.effective_from + dt.timedelta(days=span // 2)


def names(book) -> list[str]:
    found = list(book.names.get("certificate", {})) + list(book.codes.get("certificate", {}))
    found += [e.item.name for e in book.names.get("certificate", {}).values()]
    return sorted(set(found))


@pytest.mark.parametrize("city,on", list(versions()))
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_snapshot_answers_as_the_engine(city, on, lang):
    engine = Engine(lang=lang)
    book = engine.book_for(city, on)
    snap = catalogue.compile_snapshot(book, on)
    snap = json.loads(json.dumps(snap))  # plain data only: what the cache stores as JSON
    for text in names(book) + OFF_LIST:
        assert catalogue.answer(snap, text, lang) == check_certificate(engine, text, city, on), text


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=12) | st.sampled_from(['0\x1f', '\x1c证明', '\u3000死亡证明\u3000']))
def test_any_text_gets_the_same_answer(text):
    assume(text.strip())  # the CLI refuses blank names before either path runs
    engine = Engine()
    on = dt.date(2020, 6, 1)
    snap = catalogue.compile_snapshot(engine.book_for("bijie", on), on)
    assert catalogue.answer(snap, text, "zh") == check_certificate(engine, text, "bijie", on)


def test_cli_second_check_comes_from_the_snapshot_with_the_same_answer(tmp_path, monkeypatch):
    monkeypatch.setenv("ZHUNRU_CACHE_DIR", str(tmp_path / "cache"))
    args = ["cert", "check", "婚姻关系证明", "--city", "bijie", "--as-of", "2020-06-01", "--format", "json"]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert list((tmp_path / "cache").glob("catalogue-*.json")), "the first check keeps a snapshot"
    key = catalogue.snapshot_key("bijie", dt.date(2020, 6, 1))
    assert catalogue.fast_answer("婚姻关系证明", "bijie", dt.date(2020, 6, 1), "zh")[0] is not None
    second = CliRunner().invoke(cli, args)
    assert second.exit_code == 0
    assert json.loads(second.output) == json.loads(first.output)
    assert json.loads(first.output)["verdict"] == "must_not_issue"
    assert key is not None


def test_an_edited_ruleset_is_a_miss(tmp_path, monkeypatch):
    import shutil

    root = tmp_path / "rulesets"
    shutil.copytree(default_registry()._files["bijie"][0].parent, root / "zz_bijie_copy")
    monkeypatch.setenv("ZHUNRU_RULESETS", str(root))
    before = catalogue.snapshot_key("bijie", dt.date(2020, 6, 1))
    path = root / "zz_bijie_copy" / "2017.1.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert catalogue.snapshot_key("bijie", dt.date(2020, 6, 1)) != before
