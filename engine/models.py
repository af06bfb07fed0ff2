"""The black-box contract: Request in, Decision out (DESIGN.md, "The contract")."""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any, Literal

from pydantic import (BaseModel, ConfigDict, Field, PrivateAttr, StrictInt, field_serializer, field_validator,
                      model_validator)

from zhunru.kinds import KINDS
from zhunru.rulebook.format import Level, Outcome, Role

Kind = Literal[KINDS]  # type: ignore[valid-type]
Category = Literal["duty", "assist", "commissioned", "negative", "unlisted", "allowed", "forbidden"]
Verdict = Literal["must_issue", "may_issue", "must_not_issue", "unknown"]

# Strict types, yet a date may arrive as an ISO string (JSON has no date type): strict mode is
# relaxed per field where JSON cannot carry the type.
MAX_COUNT = 2_000_000_000  # people, households: what every backend stores as an integer (PostgreSQL INTEGER)
_input = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)
Name = Field(..., min_length=1, max_length=200)


class Department(BaseModel):
    model_config = _input
    name: str = Name
    level: Level = "district"
    role: Role = "department"


class Community(BaseModel):
    model_config = _input
    name: str = Name
    code: str | None = Field(None, max_length=64)
    district: str | None = Field(None, max_length=200)
    street: str | None = Field(None, max_length=200)
    population: StrictInt | None = Field(None, ge=0, le=MAX_COUNT)
    households: StrictInt | None = Field(None, ge=0, le=MAX_COUNT)

    @model_validator(mode="before")
    @classmethod
    def _code_names(cls, data: Any) -> Any:
        # A community may be named by its registry code alone: {"code": "QX-003"}.
        if isinstance(data, dict) and "name" not in data and isinstance(data.get("code"), str):
            return {**data, "name": data["code"]}
        return data


class Reporter(BaseModel):
    """A demand that reached a community without admission, reported by that community: the
    request is filed on the department's behalf and decided like any other."""
    model_config = _input
    community: str = Field(..., min_length=1, max_length=64, description="the reporting community's registry code")
    account: str | None = Field(None, max_length=64)
    note: str | None = Field(None, max_length=2000, description="how the demand reached the community")


def _amount(value: Any) -> Any:
    # JSON numbers arrive as int/float; Decimal(str(x)) keeps 0.1 as 0.1. Booleans are not amounts.
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ValueError("must be a number")
    try:
        return Decimal(str(value))
    except Exception:
        raise ValueError("must be a number") from None


class Funding(BaseModel):
    model_config = _input
    amount: Decimal = Field(..., ge=0, max_digits=18, decimal_places=2)
    source: str = Field(..., min_length=1, max_length=200)
    document: str | None = Field(None, max_length=200)
    kind: Literal["funds", "special_funds", "purchase_of_services"] = "funds"

    @field_validator("amount", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        return _amount(value)


class ServicePurchase(BaseModel):
    """The task is a service project the street office (办事处) buys for each of the request's
    communities (政府购买服务项目): what it costs per community. A city may cap it (Chengyang:
    办事处为每个社区购买的服务项目每个最高不得超过20万元, a rule of its plugin)."""
    model_config = _input
    amount_per_community: Decimal = Field(..., ge=0, max_digits=18, decimal_places=2,
                                          description="yuan this project costs for each community it serves")

    @field_validator("amount_per_community", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        return _amount(value)


class Request(BaseModel):
    model_config = _input
    id: str | None = Field(None, min_length=1, max_length=128)
    city: str = Field(..., min_length=1, max_length=64)
    date: dt.date = Field(..., strict=False)
    department: Department
    kind: Kind
    matter: str = Name
    communities: list[Community] = Field(default_factory=list, max_length=10000)
    funding: Funding | None = None
    personnel: StrictInt = Field(0, ge=0, le=MAX_COUNT)
    basis: str | None = Field(None, max_length=2000)
    reported_by: Reporter | None = None
    service_purchase: ServicePurchase | None = None

    @field_validator("service_purchase")
    @classmethod
    def _only_tasks(cls, value: Any, info) -> Any:
        if value is not None and info.data.get("kind", "task") != "task":
            raise ValueError("only a task can be a purchased service project")
        return value

    @field_validator("date", mode="before")
    @classmethod
    def _iso_date(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError("must be an ISO date string, e.g. 2021-05-01")
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError("must be an ISO date, e.g. 2021-05-01") from None


class Reason(BaseModel):
    """Language-neutral: a code, the values its message needs, the clause it rests on and that
    clause's source. Words are rendered where the reason is shown (messages.reason_message).
    `message` is set only where there are no values: a plugin rule's own words, or a row
    written before reasons were stored without words."""

    code: str
    clause: str
    values: dict[str, str | int | None] | None = None
    message: str | None = None
    source: dict[str, str] = Field(default_factory=dict)  # empty only in a stored row (messages.by_reference)

    def text(self, lang: str = "zh", clause_text=None) -> str:
        """The reason's words in `lang` (see messages.reason_message)."""
        from zhunru.messages import reason_message

        return reason_message(self.model_dump(), lang, clause_text)


class MatterRef(BaseModel):
    code: str | None = None
    name: str


class FundingCheck(BaseModel):
    required: Decimal | None = None
    attached: Decimal = Decimal(0)
    shortfall: Decimal | None = None

    @field_serializer("required", "attached", "shortfall")
    def _as_number(self, value: Decimal | None) -> float | None:
        return None if value is None else float(value)


class RulesetRef(BaseModel):
    id: str
    version: str
    sha256: str


class Decision(BaseModel):
    decision_id: str
    request_id: str
    outcome: Outcome
    category: Category
    matter: MatterRef
    reasons: list[Reason]
    funding: FundingCheck = Field(default_factory=FundingCheck)
    ruleset: RulesetRef
    advisory: bool
    suggestions: list[str] = Field(default_factory=list)
    verdict: Verdict | None = None
    _json: str | None = PrivateAttr(None)
    _already_logged: bool = PrivateAttr(False)

    def to_json(self) -> str:
        """Compact language-neutral JSON, serialised once."""
        if self._json is None:
            self._json = self.model_dump_json()
        return self._json

    def stored_json(self) -> str:
        """What the log stores: the neutral decision by reference. Not what the row's own
        columns hold (ids, ruleset), no empty or default fields, and no source quote that the
        clause's installed ruleset version holds word for word (messages.by_reference);
        `stored` puts all of it back."""
        from zhunru.messages import by_reference

        data = self.model_dump(mode="json", exclude_defaults=True, exclude_none=True,
                               exclude={"decision_id", "request_id", "ruleset"})
        if not any(data.get("funding", {}).values()):
            data.pop("funding", None)
        by_reference(data.get("reasons", []))
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    @staticmethod
    def stored(row) -> dict:
        """The decision a log row stores (a row object or mapping with payload_json, entry_id,
        request_id, ruleset and ruleset_sha256), as the contract's dict without messages."""
        from zhunru.messages import restored

        get = row.get if isinstance(row, dict) else lambda k: getattr(row, k)
        data = json.loads(get("payload_json"))
        city, _, version = get("ruleset").partition("@")
        data.setdefault("decision_id", get("entry_id"))
        data.setdefault("request_id", get("request_id"))
        data.setdefault("ruleset", {"id": city, "version": version, "sha256": get("ruleset_sha256")})
        out = Decision.model_validate(data).model_dump(mode="json")
        restored(out["reasons"])
        return out

    @classmethod
    def from_log(cls, row) -> "Decision":
        """The decision a log row holds, marked as already logged."""
        decision = cls.model_validate(cls.stored(row))
        decision._already_logged = True
        return decision

    @property
    def already_logged(self) -> bool:
        """True when this request was in the log before this run: this is the logged decision."""
        return self._already_logged

    def shown(self, lang: str = "zh", clause_text=None) -> dict:
        """The contract's JSON: reasons with their messages in `lang`; `already_logged` when set."""
        from zhunru.messages import with_messages

        out = with_messages(self.model_dump(mode="json"), lang, clause_text)
        if self._already_logged:
            out["already_logged"] = True
        return out
