"""Reason messages and labels in Chinese (default) and English."""
from __future__ import annotations

REASONS = {
    "TASK_NEGATIVE": ("「{matter}」属于不应由社区承担的事项(负面清单),不予准入。",
                      "'{matter}' is on the negative list: communities must not take it on."),
    "TASK_DUTY": ("「{matter}」属于社区依法履行职责事项,予以准入。",
                  "'{matter}' is one of the community's own statutory duties: admitted."),
    "TASK_ASSIST": ("「{matter}」属于社区依法协助政府工作事项,予以准入。",
                    "'{matter}' is work the community assists the government with: admitted."),
    "LIST_PARTIAL": ("「{matter}」不在已知清单中,但本规则集的清单不完整(coverage: partial),不能因此拒绝;须经区(县)社区工作领导协调机构审批。",
                     "'{matter}' is not on the known lists, but this ruleset's lists are incomplete "
                     "(coverage: partial), so it cannot be refused for that; the district body must decide."),
    "LIST_PARTIAL_UNFUNDED": ("未附经费或人员:清单外事项如获准入,须按“费随事转”拨付经费或下派人员。",
                              "No funding or staff attached: an off-list matter, if admitted, needs funds or staff (费随事转)."),
    "FUNDING_MISSING": ("「{matter}」不在社区工作事项清单内,属委托事项,未附经费或人员,按“权随责走、费随事转”不予准入。",
                        "'{matter}' is not on the community's lists: a commissioned matter with no funding "
                        "or staff attached is refused (power follows responsibility, funding follows the task)."),
    "FUNDING_SHORTFALL": ("所附经费 {attached} 元低于标准 {required} 元,差额 {shortfall} 元,不予准入。",
                          "Attached funding {attached} yuan is below the standard {required} yuan "
                          "(shortfall {shortfall} yuan): refused."),
    "APPROVAL_REQUIRED": ("「{matter}」属清单外委托事项,已附经费或人员,须报区(县)社区工作领导协调机构审批并予以公布。",
                          "'{matter}' is an off-list commissioned matter with funding or staff attached: "
                          "it needs approval by the district coordination body and publication."),
    "NO_FUNDING_STANDARD": ("规则集未规定该事项的经费标准;已附经费或人员即满足“费随事转”。",
                            "The ruleset sets no funding standard for this matter; attached funding or staff satisfies the rule."),
    "CERT_MUST_ISSUE": ("「{matter}」属于社区应当出具的证明。", "'{matter}' is a certificate the community must issue."),
    "CERT_MAY_ISSUE": ("「{matter}」属于社区可以出具的证明。", "'{matter}' is a certificate the community may issue."),
    "CERT_BASIS_STATED": ("「{matter}」不在证明清单中;申请写明了法律依据,须由工作人员核实该依据属于社区职责后决定是否出具。",
                          "'{matter}' is on no certificate list; the request states a legal basis, so a person checks "
                          "that it lies within the committee's duties and decides."),
    "CERT_MUST_NOT_ISSUE": ("「{matter}」属于社区不应出具的证明。", "'{matter}' is a certificate the community must not issue."),
    "ALLOWED": ("「{matter}」在允许范围内,予以准入。", "'{matter}' is allowed: admitted."),
    "FORBIDDEN": ("「{matter}」在禁止之列,不予准入。", "'{matter}' is forbidden: refused."),
    "OVER_CAP": ("「{matter}」超出上限({count}/{cap}),不予准入。", "'{matter}' exceeds the cap ({count}/{cap}): refused."),
    "ASSESSOR_NOT_ALLOWED": ("「{department}」无权组织「{matter}」,不予准入。",
                             "'{department}' may not run '{matter}': refused."),
    "NOT_LISTED": ("「{matter}」不在清单中,按规则集的兜底条款处理。",
                   "'{matter}' is on no list; the ruleset's catch-all clause decides."),
    "NOT_COVERED": ("规则集对「{matter}」没有规定,须经区(县)社区工作领导协调机构审批。",
                    "The ruleset says nothing about '{matter}': the district body must decide."),
    "PURCHASE_OVER_CAP": ("办事处为每个社区购买的服务项目每个不得超过 {cap} 元;本项目每个社区 {amount} 元,超过上限,不予准入。",
                          "A service project the street office buys for a community may cost at most {cap} yuan "
                          "per community; this one costs {amount} yuan per community: refused."),
    "VERSION_ENDED": ("本规则集版本 {version} 自 {end} 起已不在有效期内,尚无新版本;本决定仍按该版本作出,仅供参考。",
                      "Ruleset version {version} is no longer in force from {end} and no later version exists: "
                      "the decision still follows it and is advisory."),
    "SOURCE_DRAFT": ("所依据的《{document}》为征求意见稿,不是正式生效的文件:本决定仅供参考。",
                     "The decision rests on '{document}', a consultation draft (征求意见稿), not an adopted text: "
                     "it is advisory."),
    "SOURCE_SUPERSEDED": ("所依据的《{document}》已于 {on} 被修订({by}),本规则集尚未按修订后的条文更新:"
                          "所引条文为修订前的文本,不是现行法律的表述。",
                          "The decision cites '{document}', which a revision replaced on {on} ({by}); the ruleset "
                          "has not caught up: the text quoted is the old one, not the law in force."),
    "SOURCE_PROPOSAL": ("所依据的《{document}》为建议案,不是正式生效的文件:本决定仅供参考。",
                        "The decision rests on '{document}', a proposal (建议案), not an adopted text: it is advisory."),
    "PROPOSAL_ADVISORY": ("本规则集状态为「{status}」,不是正式生效的规定:本决定仅供参考。",
                          "This ruleset's status is '{status}', not in force: this decision is advisory."),
}

OUTCOMES = {
    "admitted": ("予以准入", "admitted"),
    "needs_approval": ("须经审批", "needs approval"),
    "rejected": ("不予准入", "rejected"),
}
CATEGORIES = {
    "duty": ("依法履行职责事项", "own statutory duty"),
    "assist": ("依法协助政府工作事项", "assisted work"),
    "commissioned": ("委托事项", "commissioned matter"),
    "negative": ("负面清单事项", "negative list"),
    "unlisted": ("清单外事项", "not listed"),
    "allowed": ("允许", "allowed"),
    "forbidden": ("禁止", "forbidden"),
}
VERDICTS = {
    "must_issue": ("应当出具", "must issue"),
    "may_issue": ("可以出具", "may issue"),
    "must_not_issue": ("不应出具", "must not issue"),
    "unknown": ("无明确规定", "not determined"),
}
LABELS = {
    "outcome": ("结论", "Outcome"), "category": ("类别", "Category"), "matter": ("事项", "Matter"),
    "ruleset": ("规则集", "Ruleset"), "reasons": ("理由", "Reasons"), "source": ("依据", "Source"),
    "funding": ("经费", "Funding"), "required": ("应附", "required"), "attached": ("已附", "attached"),
    "shortfall": ("差额", "shortfall"), "advisory": ("仅供参考(建议案、草案或已过有效期)", "advisory (a proposal, a draft, or past its end)"),
    "suggestions": ("您是否要找", "Did you mean"), "redirect": ("请前往", "Go instead to"),
    "verdict": ("证明", "Certificate"), "decision": ("决定编号", "Decision"), "request": ("申请编号", "Request"),
    "none": ("无标准", "no standard"), "logged": ("已记录", "logged"),
}


def pick(pair: tuple[str, str], lang: str) -> str:
    return pair[1] if lang == "en" else pair[0]


def reason_text(code: str, lang: str = "zh", **values) -> str:
    return pick(REASONS[code], lang).format(**values)


def label(key: str, lang: str = "zh") -> str:
    return pick(LABELS[key], lang)


# -- citing a source ---------------------------------------------------------------------------
def cite(source: dict, title: str | None = None) -> str:
    """A clause's source as a person reads it: 《title》(file)“quote”, 《file》“quote”, or law
    article item. The one citation format of every output (terminal, notice, publication)."""
    if source.get("law"):
        return " ".join(source[k] for k in ("law", "article", "item") if source.get(k))
    document = source.get("document") or ""
    name = f"《{title}》({document})" if title else f"《{document}》"
    return f"{name}“{source.get('quote', '')}”"


# -- rendering a language-neutral reason --------------------------------------------------------
# A decision stores each reason as {code, clause, values, source}: no words. The words are put
# together where the reason is shown, in the language asked for: the message of its code with
# its values, followed by the clause's own text (except for these notes, which stand alone).
WITHOUT_CLAUSE_TEXT = frozenset({"LIST_PARTIAL_UNFUNDED", "NO_FUNDING_STANDARD", "PROPOSAL_ADVISORY", "VERSION_ENDED",
                                 "SOURCE_DRAFT", "SOURCE_PROPOSAL", "SOURCE_SUPERSEDED"})


def reason_message(reason: dict, lang: str = "zh", clause_text=None) -> str:
    """The words of a reason. `clause_text(clause_ref, lang)` gives a clause's text (default:
    from the installed rulesets). A reason without `values` carries its own words: a plugin
    rule's message, or a row written before decisions were stored without words."""
    values = reason.get("values")
    code = reason.get("code")
    if values is None or code not in REASONS:
        return reason.get("message") or code or ""
    try:
        message = reason_text(code, lang, **values)
    except (KeyError, IndexError, ValueError):  # values of another version: say what is known
        message = code
    if code in WITHOUT_CLAUSE_TEXT:
        return message
    text = (clause_text or installed_clause_text)(reason.get("clause", ""), lang)
    return f"{message} {text}".strip() if text else message


def with_messages(decision: dict, lang: str = "zh", clause_text=None) -> dict:
    """A decision dict as the contract shows it: every reason with its `message`."""
    reasons = []
    for reason in decision.get("reasons", []):
        shown = {"code": reason.get("code"), "clause": reason.get("clause"),
                 "message": reason_message(reason, lang, clause_text), "source": reason.get("source") or {}}
        if reason.get("values") is not None:
            shown["values"] = reason["values"]
        reasons.append(shown)
    return {**decision, "reasons": reasons}


_CLAUSES: dict[str, dict[str, tuple[str, str | None, dict]]] = {}


def _installed(ref: str) -> dict[str, tuple[str, str | None, dict]]:
    """clause id → (text, text_en, source) of ruleset `city@version` as installed ({} when gone)."""
    texts = _CLAUSES.get(ref)
    if texts is None:
        from zhunru.errors import InputError
        from zhunru.rulebook.loader import default_registry

        try:
            loaded = default_registry().by_ref(ref)
            texts = {c.id: (c.text, c.text_en, c.source.model_dump(exclude_none=True))
                     for c in loaded.ruleset.all_clauses()}
        except InputError:
            texts = {}
        _CLAUSES[ref] = texts
    return texts


def installed_clause_text(clause_ref: str, lang: str = "zh") -> str:
    """The text of `city@version#CLAUSE` from the installed rulesets ('' when that version is no
    longer installed: the reason's own message and source still say what it rests on)."""
    ref, _, clause_id = clause_ref.partition("#")
    zh, en, _source = _installed(ref).get(clause_id, ("", None, None))
    return (en or zh) if lang == "en" else zh


def installed_source(clause_ref: str) -> dict | None:
    """The source (document and quote, or law and article) of `city@version#CLAUSE` as installed."""
    ref, _, clause_id = clause_ref.partition("#")
    found = _installed(ref).get(clause_id)
    return None if found is None else found[2]


def by_reference(reasons: list[dict]) -> list[dict]:
    """Reasons as the log stores them: a source the installed clause carries word for word is
    left out (the row names the clause and its ruleset version; a reader puts it back)."""
    for reason in reasons:
        source = reason.get("source")
        if source is not None and source == installed_source(reason.get("clause") or ""):
            del reason["source"]
    return reasons


def restored(reasons: list[dict]) -> list[dict]:
    """Stored reasons with their sources put back from the installed clause (by_reference's
    inverse). A clause whose ruleset version is no longer installed says so instead."""
    for reason in reasons:
        if not reason.get("source"):
            clause = reason.get("clause") or ""
            reason["source"] = installed_source(clause) or {
                "note": f"规则集 {clause.partition('#')[0]} 未安装,无法显示原文 (ruleset not installed here)"}
    return reasons
