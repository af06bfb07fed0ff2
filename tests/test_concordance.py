"""A city's concordance: its sources' sentences beside the clauses (engine/rulebook/concordance.py),
checked on a real scaffolded city and shown by `zhunru ruleset show CITY --concordance`."""
from __future__ import annotations

import json

import pytest

from helpers import run_cli
from zhunru.rulebook.concordance import concordance_problems
from zhunru.rulebook.loaded import load_file

SENTENCE = "第一条 未列入社区工作事项清单的事项，须经准入审批，并做到费随事转。"


@pytest.fixture
def city(tmp_path):
    done = run_cli("ruleset", "new", "mycity", "--dir", str(tmp_path), "--effective-from", "2021-01-01")
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "mycity"
    (folder / "sources" / "policy.txt").write_text(
        SENTENCE + "\n第二条 社区居委会每年向居民会议报告工作。\n", encoding="utf-8")
    return folder


def write(folder, sentences, document="policy.txt", city="mycity"):
    data = {"city": city, "documents": [{"document": document, "sentences": sentences}]}
    (folder / "concordance.yaml").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def problems(folder):
    versions = [load_file(p) for p in sorted(folder.glob("*.yaml")) if p.name != "concordance.yaml"]
    return [str(p).split(": ", 2)[1:] for p in concordance_problems(folder, versions)]


def test_a_complete_concordance_has_no_problems_and_is_shown_side_by_side(city):
    write(city, [{"text": "未列入社区工作事项清单的事项，须经准入审批，并做到费随事转", "where": "第一条",
                  "clauses": ["MYCITY-ADM-01"]},
                 {"text": "社区居委会每年向居民会议报告工作", "not_modelled": "the committee's own reporting duty"}])
    assert problems(city) == []
    shown = run_cli("ruleset", "show", "mycity", "--concordance", env={"ZHUNRU_RULESETS": str(city.parent)})
    assert shown.returncode == 0, shown.stderr
    assert "“未列入社区工作事项清单的事项，须经准入审批，并做到费随事转”  (第一条)" in shown.stdout
    assert "→ MYCITY-ADM-01:" in shown.stdout
    assert "→ 未建模 not modelled: the committee's own reporting duty" in shown.stdout
    as_json = run_cli("ruleset", "show", "mycity", "--concordance", "--format", "json",
                      env={"ZHUNRU_RULESETS": str(city.parent)})
    assert json.loads(as_json.stdout)[0]["clauses"][0]["id"] == "MYCITY-ADM-01"


@pytest.mark.parametrize("sentences, expected", [
    # a sentence the document does not contain
    ([{"text": "未列入清单的事项一律不予准入", "clauses": ["MYCITY-ADM-01"]}],
     ["documents[0].sentences[0]", "sentence is not verbatim in policy.txt"]),
    # a clause no sentence carries
    ([{"text": "社区居委会每年向居民会议报告工作", "not_modelled": "own duty"}],
     ["MYCITY-ADM-01", "clause is beside no sentence of the concordance"]),
    # a clause whose quote says more than the sentence it is put beside
    ([{"text": "未列入社区工作事项清单的事项，须经准入审批", "clauses": ["MYCITY-ADM-01"]}],
     ["MYCITY-ADM-01", "clause's quote lies inside no sentence that names it"]),
    # an unknown clause id
    ([{"text": "未列入社区工作事项清单的事项，须经准入审批，并做到费随事转", "clauses": ["MYCITY-ADM-01", "NOPE"]}],
     ["documents[0].sentences[0]", "names clause 'NOPE', which no version of mycity has"]),
])
def test_each_defect_is_one_problem(city, sentences, expected):
    write(city, sentences)
    found = problems(city)
    assert [p for p in found if p[0] == expected[0] and p[1].startswith(expected[1])], found


def test_a_sentence_needs_clauses_or_a_reason(city):
    write(city, [{"text": "社区居委会每年向居民会议报告工作"}])
    found = problems(city)
    assert len(found) == 1 and "either clauses or not_modelled" in found[0][1]


def test_a_missing_document_and_a_wrong_city(city):
    write(city, [{"text": "x", "not_modelled": "y"}], document="nothere.txt", city="othercity")
    found = problems(city)
    assert ["city", "'othercity' does not match the folder 'mycity'"] in found
    assert any(p[0] == "documents[0].document" and "'nothere.txt' is not in" in p[1] for p in found)


def test_a_city_without_a_concordance_says_so(city):
    (city / "concordance.yaml").unlink()  # `ruleset new` writes one
    shown = run_cli("ruleset", "show", "mycity", "--concordance", env={"ZHUNRU_RULESETS": str(city.parent)})
    assert shown.returncode == 2 and "has no concordance.yaml" in shown.stderr


def test_validate_requires_a_concordance_of_a_city_that_quotes_documents(city):
    """A city whose clauses quote its sources must list their sentences; one that only cites laws
    by article quotes nothing and needs none."""
    write(city, [{"text": SENTENCE, "clauses": ["MYCITY-ADM-01"]},
                 {"text": "社区居委会每年向居民会议报告工作", "not_modelled": "the committee's own duty"}])
    assert run_cli("ruleset", "validate", str(city)).returncode == 0
    (city / "concordance.yaml").unlink()
    missing = run_cli("ruleset", "validate", str(city))
    assert missing.returncode == 1
    assert missing.stdout.strip() == (f"{city / '2021.1.yaml'}: concordance: no concordance.yaml in {city}: its clauses "
                                      "quote source documents (e.g. MYCITY-ADM-01), so every normative sentence of "
                                      "them must be listed beside its clauses or as not_modelled")
    # the same city citing its rule by law and article instead of quoting: nothing to concord
    path = city / "2021.1.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("      document: policy.txt\n      quote: 未列入社区工作事项清单的事项，须经准入审批，并做到费随事转",
                                 "      law: 某市社区工作准入办法\n      article: 第一条"), encoding="utf-8")
    assert "law: 某市" in path.read_text(encoding="utf-8")
    assert run_cli("ruleset", "validate", str(city)).returncode == 0


def test_every_shipped_city_has_a_concordance_and_it_is_complete():
    """national included: its two quoted documents (民发〔2020〕20号 as quoted, 民法典's guardianship articles)."""
    from helpers import RULESETS

    for folder in sorted(p for p in RULESETS.iterdir() if p.is_dir() and list(p.glob("*.yaml"))):
        assert (folder / "concordance.yaml").is_file(), folder.name
        versions = [load_file(p) for p in sorted(folder.glob("*.yaml")) if p.name != "concordance.yaml"]
        assert concordance_problems(folder, versions) == [], folder.name
    shown = run_cli("ruleset", "show", "national", "--concordance", "--format", "json")
    rows = json.loads(shown.stdout)
    assert {r["document"] for r in rows} == {"minfa-2020-20.txt", "minfadian-guardianship.txt"}
    listed = next(r for r in rows if r["sentence"].startswith("这20项证明事项为"))
    assert [c["id"] for c in listed["clauses"]] == [f"NAT-CERT-{i:02d}" for i in range(1, 21)]
