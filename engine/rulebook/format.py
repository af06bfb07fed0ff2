"""The ruleset format: pydantic models for `rulesets/<city>/<version>.yaml`.

A ruleset is data. Every clause carries an id and a source: a seed document with a verbatim
quote, or a law / policy document cited by number, article and item. `zhunru ruleset schema`
exports these models as JSON Schema for editors.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Coverage = Literal["full", "partial"]
Status = Literal["in_force", "proposal", "draft"]
Outcome = Literal["admitted", "needs_approval", "rejected"]
Level = Literal["city", "district", "street"]
Role = Literal["department", "street_office", "coordination_body"]
FundingBasis = Literal["per_resident", "per_100_households", "per_community", "fixed"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Source(Strict):
    """Where a clause comes from: `{document, quote}` for a seed, `{law, article, item}` for a law."""

    document: str | None = Field(None, description="file name of a document under the ruleset's sources/")
    quote: str | None = Field(None, description="sentence that occurs verbatim in the document")
    law: str | None = Field(None, description="title and number of a law or national document")
    article: str | None = None
    item: str | None = None

    @model_validator(mode="after")
    def _one_form(self) -> "Source":
        has_doc = self.document is not None or self.quote is not None
        has_law = self.law is not None
        if has_doc and has_law:
            raise ValueError("a source is either {document, quote} or {law, article, item}, not both")
        if has_doc and not (self.document and self.quote):
            raise ValueError("a document source needs both document and quote")
        if not has_doc and not has_law:
            raise ValueError("a source needs {document, quote} or {law, article, item}")
        return self

    def cite(self) -> str:
        if self.law:
            return " ".join(p for p in (self.law, self.article, self.item) if p)
        return f"{self.document}: {self.quote}"


class Clause(Strict):
    """A rule of the ruleset that a decision can cite."""

    id: str = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    text: str = Field(..., description="what the clause says, in Chinese")
    text_en: str | None = Field(None, description="the same in English")
    source: Source


class FundingStandard(Strict):
    """An amount required per resident, per 100 households, per community or as a fixed sum."""

    basis: FundingBasis
    amount: Decimal = Field(..., ge=0)
    per: Literal["year", "once"] = "year"


class Item(Clause):
    """A catalogue entry (a matter, certificate, plate, posting…): a clause with a name."""

    name: str
    code: str | None = Field(None, description="catalogue code; defaults to the clause id")
    aliases: list[str] = Field(default_factory=list)
    colloquial: list[str] = Field(default_factory=list,
                                  description="spoken forms people use (无犯罪证明), not from the source: on a refusing "
                                              "list (must_not_issue, negative, forbidden) they resolve to this item; "
                                              "elsewhere they are only offered as suggestions")
    category: str | None = Field(None, description="grouping within a list, e.g. an assist category")
    redirect: str | None = Field(None, description="where to go instead (certificates), only if the source says")
    funding: FundingStandard | None = Field(None, description="funding standard for this matter, if the source sets one")
    assessor: list[Role] | None = Field(None, description="assessments: which roles may run it")
    assessor_level: list[Level] | None = Field(None, description="assessments: at which levels")

    @property
    def key(self) -> str:
        return self.code or self.id


class ItemList(Strict):
    coverage: Coverage = Field(..., description="full: the source gives the whole list; partial: only part of it")
    note: str | None = None
    items: list[Item] = Field(default_factory=list)


class Otherwise(Strict):
    """What happens to a matter of this kind that no list names."""

    outcome: Outcome
    clause: str = Field(..., description="id of the clause (in `clauses`) that decides it")


class TaskRules(Strict):
    duty: ItemList | None = None
    assist: ItemList | None = None
    negative: ItemList | None = None
    commissioned: str | None = Field(
        None, description="clause id: an off-list task needs approval by the district body and funding or staff")


class CertificateRules(Strict):
    must_issue: ItemList | None = None
    may_issue: ItemList | None = None
    must_not_issue: ItemList | None = None
    otherwise: Otherwise | None = None


class KindRules(Strict):
    """Nameplates, postings, meetings, ledgers, reports: allowed and forbidden lists and a cap."""

    allowed: ItemList | None = None
    forbidden: ItemList | None = None
    max_count: int | None = Field(None, ge=0, description="at most this many (e.g. outdoor plates)")
    max_count_clause: str | None = None
    otherwise: Otherwise | None = None


class AssessmentRules(Strict):
    """Who may assess communities: listed assessments name their assessor roles and levels."""

    allowed: ItemList | None = None
    forbidden: ItemList | None = None
    otherwise: Otherwise | None = None


class BaseFund(Clause):
    """Annual funds each community must receive (费随事转 baseline), optionally split between levels."""

    name: str
    standard: FundingStandard
    split: dict[str, int] | None = Field(None, description="shares by level, e.g. {city: 4, district: 6}")


class Caps(Strict):
    """Counts a ruleset promises not to exceed; `ruleset validate` enforces them."""

    assist_categories: int | None = Field(None, ge=0)
    assist_items: int | None = Field(None, ge=0)
    duty_items: int | None = Field(None, ge=0)
    clause: str | None = None


class Deadlines(Strict):
    """Working-day limits of the admission procedure."""

    apply_ahead_days: int | None = Field(None, ge=0)
    decide_within_days: int | None = Field(None, ge=0)
    review_after_days: int | None = Field(None, ge=0)
    clause: str | None = None


class SourcePart(Strict):
    """A part of a source document with a status of its own (an annex marked 征求意见稿 in a file
    whose other parts carry no mark). It runs from its `starts` line to the next part's."""

    title: str = Field(..., min_length=1, description="the part as the document heads it; a draft's reasons name it")
    starts: str = Field(..., min_length=1, description="a whole line of the document, verbatim, where the part "
                                                       "begins; it occurs once as a line, parts in document order")
    status: Status = Field("in_force", description="in_force; draft (征求意见稿) or proposal (建议案): a decision "
                                                   "resting on a clause quoting this part is advisory and names it")
    note: str | None = None


class SourceDoc(Strict):
    """A document the ruleset's clauses quote (under sources/) or a law they cite."""

    document: str | None = None
    law: str | None = None
    title: str
    status: Status = Field("in_force", description="in_force; draft (征求意见稿) or proposal (建议案): a decision "
                                                   "resting on a clause quoting it is advisory and names it")
    parts: list[SourcePart] = Field(default_factory=list,
                                    description="parts with a status of their own; with parts, every quote of "
                                                "the document lies in exactly one part and takes its status "
                                                "(the document's own status then goes unused)")
    superseded_on: dt.date | None = Field(None, description="the day a revision replaced this text: a decision "
                                                            "dated on or after it that cites it says so")
    superseded_by: str | None = Field(None, description="the revision (title, date) that replaced it")
    note: str | None = None

    @model_validator(mode="after")
    def _parts(self) -> "SourceDoc":
        if self.parts and self.document is None:
            raise ValueError("parts are parts of a document under sources/: a source with parts needs `document`")
        titles = [p.title for p in self.parts]
        for title in titles:
            if titles.count(title) > 1:
                raise ValueError(f"part title {title!r} is used twice")
        return self


class Ruleset(Strict):
    id: str = Field(..., pattern=r"^[a-z][a-z0-9_]*$")
    version: str
    title: str
    names: list[str] = Field(default_factory=list,
                             description="the city's names as people type them (毕节市, 毕节): `--city 毕节` finds this city")
    issuer: str
    effective_from: dt.date
    effective_to: dt.date | None = Field(None, description="exclusive; null means open-ended")
    status: Status
    coverage: Coverage
    extends: str | None = None
    note: str | None = Field(None, description="why the dates, coverage and status are what they are")
    sources: list[SourceDoc] = Field(default_factory=list)
    caps: Caps | None = None
    deadlines: Deadlines | None = None
    clauses: list[Clause] = Field(default_factory=list, description="procedural clauses cited by id")
    task: TaskRules | None = None
    certificate: CertificateRules | None = None
    nameplate: KindRules | None = None
    posting: KindRules | None = None
    meeting: KindRules | None = None
    ledger: KindRules | None = None
    report: KindRules | None = None
    assessment: AssessmentRules | None = None
    base_funds: list[BaseFund] = Field(default_factory=list)

    @model_validator(mode="after")
    def _dates(self) -> "Ruleset":
        if self.effective_to is not None and self.effective_to <= self.effective_from:
            raise ValueError("effective_to must be after effective_from")
        return self

    def all_clauses(self) -> list[Clause]:
        """Every clause of this file (procedural clauses, list items, base funds)."""
        found: list[Clause] = list(self.clauses) + list(self.base_funds)
        for section in (self.task, self.certificate, self.nameplate, self.posting, self.meeting,
                        self.ledger, self.report, self.assessment):
            if section is None:
                continue
            for value in section.__dict__.values():
                if isinstance(value, ItemList):
                    found.extend(value.items)
        return found
