"""A source document's status: a decision resting on a clause that quotes a draft (征求意见稿) or
a proposal (建议案) is advisory and names the document (DESIGN.md, decision procedure step 1)."""
from __future__ import annotations

import pytest

from helpers import run_cli
from zhunru.decide.evaluate import Engine, parse_request
from zhunru.rulebook.loader import Registry
from zhunru.rulebook.roots import ruleset_roots

REQUEST = {"city": "mycity", "date": "2026-06-01", "kind": "task", "matter": "某项新增工作",
           "department": {"name": "某区某职能局", "level": "district", "role": "department"},
           "communities": [{"name": "示例社区", "population": 8000, "households": 2800}],
           "funding": {"amount": 1000, "source": "区财政"}}


def city(tmp_path, status: str):
    done = run_cli("ruleset", "new", "mycity", "--dir", str(tmp_path), "--effective-from", "2026-01-01")
    assert done.returncode == 0, done.stderr
    path = tmp_path / "mycity" / "2026.1.yaml"
    text = path.read_text(encoding="utf-8").replace("status: draft", "status: in_force")
    text = text.replace("    title: （政策文件标题）——占位文本，请换成真实文件",
                        f"    title: 某市社区工作准入办法\n    status: {status}")
    path.write_text(text, encoding="utf-8")
    return Engine(Registry([tmp_path, *ruleset_roots()]))


@pytest.mark.parametrize("status, code, words", [
    ("draft", "SOURCE_DRAFT", "所依据的《某市社区工作准入办法》为征求意见稿"),
    ("proposal", "SOURCE_PROPOSAL", "所依据的《某市社区工作准入办法》为建议案"),
])
def test_a_decision_resting_on_a_draft_is_advisory_and_names_it(tmp_path, status, code, words):
    decision = city(tmp_path, status).evaluate(parse_request(REQUEST))
    assert decision.advisory is True
    assert [r.code for r in decision.reasons][-1] == code
    assert decision.reasons[-1].values == {"document": "某市社区工作准入办法"}
    assert words in decision.reasons[-1].text("zh")
    assert "not an adopted text" in decision.reasons[-1].text("en")


def test_a_decision_resting_on_an_adopted_text_is_binding(tmp_path):
    decision = city(tmp_path, "in_force").evaluate(parse_request(REQUEST))
    assert decision.advisory is False
    assert not [r for r in decision.reasons if r.code.startswith("SOURCE_")]
