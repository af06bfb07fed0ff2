"""Text output for people: Chinese by default, short lines that wrap well in a narrow terminal."""
from __future__ import annotations

import re

import click

from zhunru.messages import CATEGORIES, OUTCOMES, VERDICTS, cite, label, pick, reason_message

# Characters a request may carry that a terminal would act on instead of showing: control
# characters (a clear-screen, a cursor move, a newline that forges a line) and bidirectional
# overrides. Shown escaped (\u001b), so an officer sees that they are there.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(value):
    """`value` (a string, or lists and dicts of them) with every unsafe character escaped."""
    if isinstance(value, str):
        return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", value)
    if isinstance(value, dict):
        return {k: printable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [printable(v) for v in value]
    return value


COLOURS = {"admitted": "green", "needs_approval": "yellow", "rejected": "red",
           "must_issue": "green", "may_issue": "green", "must_not_issue": "red", "unknown": "yellow"}


def reasons_text(reasons: list[dict], lang: str) -> list[str]:
    lines = [f"{label('reasons', lang)}:"]
    for i, reason in enumerate(reasons, 1):
        lines.append(f"  {i}. {reason_message(reason, lang)}")
        lines.append(f"     [{reason['clause']}]")
        lines.append(f"     {label('source', lang)}: {cite(reason['source'])}")
    return lines


def decision_text(decision: dict, lang: str) -> str:
    decision = printable(decision)
    outcome = decision["outcome"]
    head = click.style(pick(OUTCOMES[outcome], lang), fg=COLOURS[outcome], bold=True)
    lines = [f"{label('outcome', lang)}: {head}"
             + (f"  ({label('advisory', lang)})" if decision.get("advisory") else ""),
             f"{label('matter', lang)}: {decision['matter']['name']}"
             + (f" ({decision['matter']['code']})" if decision["matter"].get("code") else ""),
             f"{label('category', lang)}: {pick(CATEGORIES[decision['category']], lang)}",
             f"{label('ruleset', lang)}: {decision['ruleset']['id']}@{decision['ruleset']['version']}"]
    funding = decision.get("funding") or {}
    if funding.get("attached") or funding.get("required") is not None:
        req = funding.get("required")
        parts = [f"{label('attached', lang)} {funding.get('attached', 0):g}",
                 f"{label('required', lang)} " + (f"{req:g}" if req is not None else label("none", lang))]
        if funding.get("shortfall"):
            parts.append(f"{label('shortfall', lang)} {funding['shortfall']:g}")
        lines.append(f"{label('funding', lang)}: " + ", ".join(parts))
    lines += reasons_text(decision["reasons"], lang)
    if decision.get("suggestions"):
        lines.append(f"{label('suggestions', lang)}: " + "、".join(decision["suggestions"]))
    lines.append(f"{label('decision', lang)}: {decision['decision_id']}  {label('request', lang)}: {decision['request_id']}")
    return "\n".join(lines)


def decision_line(decision: dict, lang: str) -> str:
    """One line per decision, for batches."""
    decision = printable(decision)
    outcome = decision["outcome"]
    return (f"{decision['request_id']}\t"
            + click.style(pick(OUTCOMES[outcome], lang), fg=COLOURS[outcome])
            + f"\t{pick(CATEGORIES[decision['category']], lang)}\t{decision['matter']['name']}"
            + f"\t{decision['reasons'][0]['clause']}")


def certificate_text(result: dict, lang: str) -> str:
    result = printable(result)
    verdict = result["verdict"]
    cert = result.get("certificate") or {}
    lines = [f"{label('verdict', lang)}: {cert.get('name') or result['query']}",
             f"{label('outcome', lang)}: " + click.style(pick(VERDICTS[verdict], lang), fg=COLOURS[verdict], bold=True)]
    if result.get("redirect"):
        lines.append(f"{label('redirect', lang)}: {result['redirect']}")
    lines += reasons_text(result["reasons"], lang)
    if result.get("suggestions"):
        lines.append(f"{label('suggestions', lang)}: " + "、".join(result["suggestions"]))
    return "\n".join(lines)
