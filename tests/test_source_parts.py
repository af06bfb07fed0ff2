"""Status per part of a source document: a file whose annexes are marked 征求意见稿 while its main
text is not (Bijie's seed 003). A `sources:` entry declares `parts` (title, the line where each
starts, status); a clause's part is where its quote lies; a decision resting on a clause of a draft
part is advisory and its SOURCE_DRAFT reason names the part, one resting on an in-force part is not.
"""
from __future__ import annotations

import json

import pytest

from helpers import run_cli
from zhunru.decide.evaluate import Engine, parse_request
from zhunru.errors import RulesetError
from zhunru.rulebook.loader import Registry
from zhunru.rulebook.validate import validate_path

DOCUMENT = """某市文件汇编
某市关于社区工作的意见
一、社区居委会召集居民会议。
二、部门工作进社区须经审批。
附件1
某市社区工作规则
(征求意见稿)
第一条 社区居委会协助做好社区矫正工作。
第二条 部门工作进社区须经审批。
附件2
某市实施方案
第一条 社区居委会开展便民服务。
"""

PARTS = """  parts:
  - title: 某市关于社区工作的意见
    starts: 某市关于社区工作的意见
    status: in_force
  - title: 附件1 某市社区工作规则(征求意见稿)
    starts: 附件1
    status: draft
  - title: 附件2 某市实施方案
    starts: 附件2
"""


def ruleset(parts: str = PARTS, extra_quote: str | None = None) -> str:
    extra = "" if extra_quote is None else f"""    - id: PC-DU-09
      name: 另一项
      text: 另一项。
      source: {{document: doc.txt, quote: "{extra_quote}"}}
"""
    return f"""id: partcity
version: '2020.1'
title: 某市(测试用)
issuer: 某市
effective_from: 2020-01-01
status: in_force
coverage: full
sources:
- document: doc.txt
  title: 某市关于社区工作的意见及附件
{parts}clauses:
- id: PC-ADM-01
  text: 部门工作进社区须经审批。
  source: {{document: doc.txt, quote: 二、部门工作进社区须经审批}}
task:
  commissioned: PC-ADM-01
  duty:
    coverage: full
    items:
    - id: PC-DU-01
      name: 召集居民会议
      text: 召集居民会议。
      source: {{document: doc.txt, quote: 社区居委会召集居民会议}}
    - id: PC-DU-02
      name: 便民服务
      text: 开展便民服务。
      source: {{document: doc.txt, quote: 社区居委会开展便民服务}}
{extra}  assist:
    coverage: full
    items:
    - id: PC-AS-01
      name: 社区矫正
      text: 协助做好社区矫正工作。
      source: {{document: doc.txt, quote: 社区居委会协助做好社区矫正工作}}
"""


def make_city(tmp_path, text: str, document: str = DOCUMENT):
    folder = tmp_path / "partcity"
    (folder / "sources").mkdir(parents=True)
    (folder / "sources" / "doc.txt").write_text(document, encoding="utf-8")
    (folder / "2020.1.yaml").write_text(text, encoding="utf-8")
    return folder


def decide(tmp_path, matter: str, **extra):
    engine = Engine(Registry([tmp_path]))
    request = {"city": "partcity", "date": "2021-06-01", "kind": "task", "matter": matter,
               "department": {"name": "某区某局", "level": "district", "role": "department"},
               "communities": [{"name": "示例社区", "population": 8000, "households": 2800}], **extra}
    return engine.evaluate(parse_request(request))


def test_a_clause_in_a_draft_part_is_advisory_and_names_the_part(tmp_path):
    make_city(tmp_path, ruleset())
    decision = decide(tmp_path, "社区矫正")
    assert (decision.outcome, decision.advisory) == ("admitted", True)
    draft = [r for r in decision.reasons if r.code == "SOURCE_DRAFT"]
    assert [r.values for r in draft] == [{"document": "附件1 某市社区工作规则(征求意见稿)"}]
    assert "所依据的《附件1 某市社区工作规则(征求意见稿)》为征求意见稿" in draft[0].text("zh")


@pytest.mark.parametrize("matter", ["召集居民会议", "便民服务"])  # the main text, and an annex in force
def test_a_clause_in_an_in_force_part_of_the_same_file_is_binding(tmp_path, matter):
    make_city(tmp_path, ruleset())
    decision = decide(tmp_path, matter)
    assert (decision.outcome, decision.advisory) == ("admitted", False)
    assert not [r for r in decision.reasons if r.code.startswith("SOURCE_")]


def test_without_parts_the_document_status_decides_for_the_whole_file(tmp_path):
    make_city(tmp_path, ruleset(parts="  status: draft\n"))
    decision = decide(tmp_path, "召集居民会议")
    assert decision.advisory is True
    assert [r.values for r in decision.reasons if r.code == "SOURCE_DRAFT"] == [{"document": "某市关于社区工作的意见及附件"}]


def test_parts_survive_the_ruleset_cache(tmp_path, monkeypatch):
    """The part of each clause is found when the city is loaded and kept in the cache entry."""
    monkeypatch.setenv("ZHUNRU_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ZHUNRU_CACHE", raising=False)
    make_city(tmp_path, ruleset())
    fresh = Registry([tmp_path]).versions("partcity")[0]
    assert list((tmp_path / "cache").glob("rulesets-*.json")), "the city was not cached"
    cached = Registry([tmp_path]).versions("partcity")[0]
    assert cached.parts == fresh.parts == {"PC-AS-01": "附件1 某市社区工作规则(征求意见稿)",
                                           "PC-DU-01": "某市关于社区工作的意见", "PC-ADM-01": "某市关于社区工作的意见",
                                           "PC-DU-02": "附件2 某市实施方案"}
    assert decide(tmp_path, "社区矫正").advisory is True


def problems_of(tmp_path) -> list[tuple[str, str]]:
    problems, _ = validate_path(tmp_path / "partcity")
    # the test city has no cases and no concordance: those checks are tested elsewhere
    return [(p.clause, p.message) for p in problems if p.clause not in ("cases", "concordance")]


@pytest.mark.parametrize("quote, words", [
    ("部门工作进社区须经审批", "occurs in more than one part of doc.txt (某市关于社区工作的意见, 附件1 某市社区工作规则(征求意见稿))"),
    ("二、部门工作进社区须经审批。附件1", "quote crosses the start of a part of doc.txt"),
    ("某市文件汇编", "lies before its first part"),
])
def test_every_quote_lies_in_exactly_one_part(tmp_path, quote, words):
    make_city(tmp_path, ruleset(extra_quote=quote))
    found = problems_of(tmp_path)
    assert [c for c, m in found if words in m] == ["PC-DU-09"], found
    with pytest.raises(RulesetError, match="PC-DU-09"):  # the engine will not decide with it
        decide(tmp_path, "社区矫正")


def test_a_part_starts_at_a_line_that_occurs_once(tmp_path):
    make_city(tmp_path, ruleset(), document=DOCUMENT + "附件1\n")
    assert problems_of(tmp_path) == [("sources[0].parts[1].starts", "'附件1' occurs 2 times as a line of doc.txt: "
                                                                     "a part starts at a line that occurs once")]


def test_a_start_must_be_a_whole_line(tmp_path):
    make_city(tmp_path, ruleset(parts=PARTS.replace("starts: 附件2", "starts: 某市实施")))
    assert problems_of(tmp_path) == [("sources[0].parts[2].starts", "'某市实施' occurs 0 times as a line of doc.txt: "
                                                                     "a part starts at a line that occurs once")]


def test_parts_are_listed_in_document_order(tmp_path):
    swapped = PARTS.replace("starts: 附件1", "starts: TMP").replace("starts: 附件2", "starts: 附件1").replace(
        "starts: TMP", "starts: 附件2")
    make_city(tmp_path, ruleset(parts=swapped))
    assert problems_of(tmp_path) == [("sources[0].parts[2].starts", "part '附件2 某市实施方案' starts before the part "
                                                                     "listed above it: list parts in document order")]


def test_a_part_title_is_used_once(tmp_path):
    make_city(tmp_path, ruleset(parts=PARTS.replace("title: 附件2 某市实施方案", "title: 某市关于社区工作的意见")))
    found = problems_of(tmp_path)
    assert any("part title '某市关于社区工作的意见' is used twice" in m for _, m in found), found


def test_show_lists_each_part_with_its_status(tmp_path):
    make_city(tmp_path, ruleset())
    done = run_cli("ruleset", "show", "partcity", env={"ZHUNRU_RULESETS": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert "source 《某市关于社区工作的意见及附件》 (doc.txt): status per part" in done.stdout
    assert "    part 《附件1 某市社区工作规则(征求意见稿)》: draft" in done.stdout
    assert "    part 《附件2 某市实施方案》: in_force" in done.stdout
    shown = json.loads(run_cli("ruleset", "show", "partcity", "--format", "json",
                               env={"ZHUNRU_RULESETS": str(tmp_path)}).stdout)
    assert [p["status"] for p in shown["ruleset"]["sources"][0]["parts"]] == ["in_force", "draft", "in_force"]
