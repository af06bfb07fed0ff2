"""Coverage honesty (issue 12): a list marked `full` rests on a closed enumeration of its source.

The issue found lists "that end in 等 or that point to documents outside the seed" marked `full`;
DESIGN.md says such a list is `partial` (an unlisted task is then not refused for its absence). The
audit of every list of every shipped version found, outside Bijie, no list marked `full` at all
(each is partial, its note saying why); Bijie's lists are being re-marked on the `bijie` branch.

What this module checks mechanically, from each city's concordance: for a `full` list, the stretch
of each item's source sentence that holds the item's quote, up to the next , ; 。 : ! ? — if it is an
enumeration (has 、) ending in 等 (等, 等等, or 等 and up to four more characters: 等工作, 等内容,
等项工作) or whose last member begins with 其他, the enumeration is open. A list is flagged when every
item that quotes a sentence ends on an open enumeration.

What it cannot check: a list that points to a document the seed lacks (Bijie's 《基层自治组织依法履行
职责主要事项》). A title in 《》 near a list is as often the law the list rests on as a list it defers
to; telling them apart is reading, recorded in each list's note. So this is a test, not a `ruleset
validate` problem: the rule is a heuristic about Chinese enumerations, reliable on these seeds (the
sentences below pin both sides), not a property every third-party source must meet.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from helpers import RULESETS, run_cli
from zhunru.rulebook.checks import quote_norm
from zhunru.rulebook.concordance import load as load_concordance
from zhunru.rulebook.format import ItemList
from zhunru.rulebook.loaded import load_file

SEEDS = Path("/work/shared/seeds")
KINDS = ("task", "certificate", "nameplate", "posting", "meeting", "ledger", "report", "assessment")
STOPS = ",;。:!?"  # after quote_norm (NFKC): full-width ，；：！？ are these
OPEN_END = re.compile(r"等{1,2}[\u4e00-\u9fff]{0,4}$")

# Lists left `full` on purpose although the check flags them, by name: none.
ELSEWHERE: set[str] = set()


def stretch(sentence: str, quote: str) -> str | None:
    """The part of `sentence` from the stop before the end of `quote` to the next stop after it."""
    sentence, quote = quote_norm(sentence), quote_norm(quote)
    at = sentence.find(quote)
    if at < 0:
        return None
    end = at + len(quote)
    start = max(sentence.rfind(stop, 0, end - 1) for stop in STOPS) + 1
    after = [i for i in (sentence.find(stop, end) for stop in STOPS) if i >= 0]
    return sentence[start:min(after) if after else len(sentence)].strip(STOPS)


def is_open(part: str) -> bool:
    """Whether an enumeration ends in 等 / 等等 / 等工作 … or in a member beginning 其他."""
    if "、" not in part:
        return False
    last = part.rsplit("、", 1)[1]
    return bool(OPEN_END.search(part)) or last.startswith(("其他", "其它"))


def sentences_by_clause(city_dir: Path) -> dict[str, list[str]]:
    file = city_dir / "concordance.yaml"
    if not file.is_file():
        return {}
    concordance, problems = load_concordance(file)
    assert concordance is not None, problems
    named: dict[str, list[str]] = {}
    for document in concordance.documents:
        for sentence in document.sentences:
            for clause in sentence.clauses:
                named.setdefault(clause, []).append(sentence.text)
    return named


def full_lists_on_open_enumerations(city_dir: Path) -> dict[str, list[str]]:
    """`city@version kind.list` → the open stretches, for each `full` list whose every sourced item is open."""
    named = sentences_by_clause(city_dir)
    found: dict[str, list[str]] = {}
    for path in sorted(city_dir.glob("[0-9]*.yaml")):
        ruleset = load_file(path).ruleset
        for kind in KINDS:
            rules = getattr(ruleset, kind, None)
            for name in type(rules).model_fields if rules is not None else ():
                listed = getattr(rules, name)
                if not isinstance(listed, ItemList) or listed.coverage != "full":
                    continue
                parts = [stretch(s, item.source.quote) for item in listed.items if item.source.quote
                         for s in named.get(item.id, [])]
                parts = [p for p in parts if p]
                if parts and all(is_open(p) for p in parts):
                    found[f"{ruleset.id}@{ruleset.version} {kind}.{name}"] = sorted(set(parts))
    return found


# Sentences of the seeds, verbatim, with the item quote the stretch is taken around.
REAL = [
    # Bijie 附件1 第七条(二)2: sixteen kinds of assisted work ending in 等工作 — open
    ("003_ea72715f31ed26c3.txt",
     ("协助基层政府及其派出机构做好与居民利益有关的社会治安、社区矫正、信访维稳、公共卫生、计划生育、优抚救济、养老服务、"
     "社区教育、劳动就业、社会保障、社会救助、住房保障、文体建设以及残疾人、未成年人、流动人口权益保障等工作,"
     "推动政府社会管理和公共服务覆盖到全社区"), "社区矫正", True),
    # Bijie 附件3 二2: exactly three outdoor plates — closed
    ("003_ea72715f31ed26c3.txt",
     "全面清理和整合在社区设立的组织机构、标牌标识,社区室外统一悬挂社区党组织、社区居委会、社区服务站三块牌子",
     "社区室外统一悬挂社区党组织、社区居委会、社区服务站三块牌子", False),
    # Bijie 附件3 二2: postings allowed 公示、公告、警示等内容 — open
    ("003_ea72715f31ed26c3.txt", "室内上墙制度原则上只能张贴具有告知性、约束性的公示、公告、警示等内容",
     "公告", True),
    # Guangzhou 第一章第一节: 牌子多、台账多等问题 — open
    ("001_65ad47739bccf312.txt",
     ("聚焦增强社区党组织服务功能,出台为基层减负10条改革措施,持续开展社区减负专项行动,集中整治牌子多、台账多等问题,"
     "将全市社区协助事项35类175项缩减至15类76项。"), "集中整治牌子多、台账多等问题", True),
    # Bijie 附件1 第七条(二)3: 等 inside the sentence qualifies a noun; the stretch ends elsewhere — closed
    ("003_ea72715f31ed26c3.txt",
     ("组织居民对基层政府及其派出机构的工作、驻社区单位参与社区建设的情况进行民主评议,对供水、供电、供气、环境卫生、"
     "园林绿化等市政服务单位在社区的服务情况进行监督"), "园林绿化", False),
]


@pytest.mark.parametrize("document,sentence,quote,expected", REAL, ids=[r[2][:8] for r in REAL])
def test_the_check_reads_real_enumerations(document, sentence, quote, expected):
    seed = quote_norm((SEEDS / document).read_text(encoding="utf-8")) if (SEEDS / document).is_file() else None
    if seed is not None:
        assert quote_norm(sentence) in seed, "the sentence is verbatim in the seed"
    part = stretch(sentence, quote)
    assert part is not None and is_open(part) is expected, part


SOURCE = "第三条 社区协助开展治安巡查、卫生检查、人口普查等工作。\n第四条 社区室外只挂党组织、居委会两块牌子。\n"


def _city(tmp_path: Path, assist: str, plates: str) -> Path:
    """A valid city made by `ruleset new`, with an assist list on an open and plates on a closed enumeration."""
    done = run_cli("ruleset", "new", "opencity", "--dir", str(tmp_path), "--effective-from", "2021-01-01")
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "opencity"
    policy = (folder / "sources" / "policy.txt").read_text(encoding="utf-8")
    (folder / "sources" / "policy.txt").write_text(policy + SOURCE, encoding="utf-8")
    path = folder / "2021.1.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))

    def item(code, name, quote):
        return {"id": code, "name": name, "text": quote + "。",
                "source": {"document": "policy.txt", "quote": quote}}
    data["task"]["duty"]["coverage"] = assist  # the city's own lists both say it (national's are partial)
    data["task"]["assist"] = {"coverage": assist, "items": [
        item("OC-AS-01", "治安巡查", "社区协助开展治安巡查"), item("OC-AS-02", "卫生检查", "卫生检查"),
        item("OC-AS-03", "人口普查", "人口普查等工作")]}
    data["nameplate"] = {"allowed": {"coverage": plates, "items": [
        item("OC-NP-01", "党组织牌子", "社区室外只挂党组织、居委会两块牌子"),
        item("OC-NP-02", "居委会牌子", "社区室外只挂党组织、居委会两块牌子")]}}
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    concordance = yaml.safe_load((folder / "concordance.yaml").read_text(encoding="utf-8"))
    concordance["documents"][0]["sentences"] += [
        {"text": "社区协助开展治安巡查、卫生检查、人口普查等工作。", "where": "第三条",
         "clauses": ["OC-AS-01", "OC-AS-02", "OC-AS-03"]},
        {"text": "社区室外只挂党组织、居委会两块牌子。", "where": "第四条", "clauses": ["OC-NP-01", "OC-NP-02"]}]
    (folder / "concordance.yaml").write_text(yaml.safe_dump(concordance, allow_unicode=True), encoding="utf-8")
    checked = run_cli("ruleset", "validate", str(folder))
    assert checked.returncode == 0, checked.stdout + checked.stderr  # the city itself is sound
    return folder


def test_a_full_list_on_an_open_enumeration_is_caught(tmp_path):
    found = full_lists_on_open_enumerations(_city(tmp_path, assist="full", plates="full"))
    assert list(found) == ["opencity@2021.1 task.assist"]  # the closed three-plate list is not flagged
    assert found["opencity@2021.1 task.assist"] == ["社区协助开展治安巡查、卫生检查、人口普查等工作"]


def test_the_same_list_marked_partial_passes(tmp_path):
    assert full_lists_on_open_enumerations(_city(tmp_path, assist="partial", plates="full")) == {}


def test_what_a_partial_list_means_for_the_off_list_task(tmp_path):
    """The reason coverage matters: under `full` an unfunded off-list task is refused, under `partial` it waits."""
    request = ('{"city": "opencity", "date": "2021-06-01", "department": {"name": "某局", "level": "district"},'
               ' "kind": "task", "matter": "入户走访登记", "communities": [{"name": "示例社区"}]}')
    outcomes = {}
    for coverage in ("full", "partial"):
        folder = _city(tmp_path / coverage, assist=coverage, plates="full")
        done = run_cli("evaluate", "-", "--format", "json", "--db", f"sqlite:///{tmp_path / coverage / 'log.db'}",
                       input=request, env={"ZHUNRU_RULESETS": str(folder.parent)})
        assert done.returncode == 0, done.stderr
        outcomes[coverage] = json.loads(done.stdout)["outcome"]
    assert outcomes == {"full": "rejected", "partial": "needs_approval"}


@pytest.mark.parametrize("city", sorted(p.name for p in RULESETS.iterdir() if (p / "concordance.yaml").is_file()))
def test_no_shipped_full_list_rests_on_open_enumerations(city):
    found = {k: v for k, v in full_lists_on_open_enumerations(RULESETS / city).items() if k not in ELSEWHERE}
    assert found == {}, "marked full, but every source sentence ends its enumeration open: " + repr(found)
