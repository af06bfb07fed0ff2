"""A city's concordance: its sources' normative sentences beside the clauses that implement them
(Catala's law beside the code). `rulesets/<city>/concordance.yaml`:

    city: bijie
    documents:
    - document: 003_ea72715f31ed26c3.txt      # a file under the city's sources/
      part: (b) 毕节市关于全面推进城市社区建设的意见及附件   # optional: which part of the file
      sentences:
      - text: 社区室外统一悬挂社区党组织、社区居委会、社区服务站三块牌子   # verbatim from the document
        where: 附件3 二2                                      # optional locator
        clauses: [BJ-PLATE-00, BJ-PLATE-01]                # the clauses that implement it
      - text: 社区“两委”成员实行交叉任职
        not_modelled: an organisational rule, not a demand on the community   # or why it is not

Checks (`concordance_problems`, run by `zhunru ruleset validate`):
* a city whose clauses quote a document has a concordance (one that only cites laws by article
  quotes nothing, so it needs none) — shipped, third-party and scaffolded cities alike: the
  concordance is how a reader sees that the clauses say no more than their sources;
* every sentence occurs verbatim in its document (NFKC, whitespace ignored, as quotes are);
* every sentence has either clauses or a reason why it is not modelled, not both;
* every clause it names exists in some version of the city;
* every clause of the city that quotes a document appears beside a sentence, and its quote lies
  inside a sentence that names it — so a clause cannot say more than its sentence carries
  unnoticed, and no sentence of the source is silently left out. (A quote that is not in its
  document at all is the quote check's problem, reported once, there.)
"""
from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from zhunru.rulebook.checks import Problem, quote_norm
from zhunru.rulebook.loaded import LoadedRuleset, describe_validation, read_yaml

FILE = "concordance.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Sentence(_Strict):
    text: str = Field(..., min_length=1, description="a normative sentence of the document, verbatim")
    where: str | None = Field(None, description="where in the document (chapter, article, item)")
    clauses: list[str] = Field(default_factory=list, description="ids of the clauses that implement it")
    not_modelled: str | None = Field(None, description="why no clause implements it")

    @model_validator(mode="after")
    def _one_of(self) -> "Sentence":
        if bool(self.clauses) == bool(self.not_modelled and self.not_modelled.strip()):
            raise ValueError("a sentence has either clauses or not_modelled (with the reason), not both or neither")
        return self


class Document(_Strict):
    document: str = Field(..., description="file name under the city's sources/")
    part: str | None = None
    sentences: list[Sentence]


class Concordance(_Strict):
    city: str
    documents: list[Document]


def load(path: Path) -> tuple[Concordance | None, list[Problem]]:
    try:
        data, _raw = read_yaml(path)
    except Exception as exc:  # RulesetError with its line
        return None, [Problem(str(path), "-", str(exc).removeprefix(str(path)).lstrip(": "))]
    try:
        return Concordance.model_validate(data), []
    except ValidationError as exc:
        return None, [Problem(str(path), "-", f"schema: {line}") for line in describe_validation(exc)]


def concordance_problems(city_dir: Path, versions: list[LoadedRuleset]) -> list[Problem]:
    """Problems of `city_dir/concordance.yaml` against the city's versions; [] when it has none."""
    path = city_dir / FILE
    if not path.is_file():
        quoting = next((c.id for v in versions for c in v.ruleset.all_clauses() if c.source.document), None)
        if quoting is None or not versions:
            return []
        return [Problem(str(versions[0].path), "concordance",
                        f"no {FILE} in {city_dir}: its clauses quote source documents (e.g. {quoting}), so every "
                        "normative sentence of them must be listed beside its clauses or as not_modelled")]
    concordance, problems = load(path)
    if concordance is None:
        return problems
    where = str(path)
    if concordance.city != city_dir.name:
        problems.append(Problem(where, "city", f"{concordance.city!r} does not match the folder {city_dir.name!r}"))
    clauses = {c.id: c for v in versions for c in v.ruleset.all_clauses()}
    texts: dict[str, str | None] = {}
    named: dict[str, list[str]] = {}  # clause id → normalised sentences that name it
    for d, doc in enumerate(concordance.documents):
        if doc.document not in texts:
            file = city_dir / "sources" / Path(doc.document).name
            texts[doc.document] = quote_norm(file.read_text(encoding="utf-8")) if file.is_file() else None
            if texts[doc.document] is None:
                problems.append(Problem(where, f"documents[{d}].document",
                                        f"{doc.document!r} is not in {city_dir / 'sources'}"))
        body = texts[doc.document]
        for s, sentence in enumerate(doc.sentences):
            label = f"documents[{d}].sentences[{s}]"
            norm = quote_norm(sentence.text)
            if body is not None and norm not in body:
                problems.append(Problem(where, label, f"sentence is not verbatim in {doc.document}: "
                                                      f"{sentence.text[:40]!r}"))
            for clause_id in sentence.clauses:
                if clause_id not in clauses:
                    problems.append(Problem(where, label, f"names clause {clause_id!r}, which no version of "
                                                          f"{city_dir.name} has"))
                named.setdefault(clause_id, []).append(norm)
    for clause_id, clause in clauses.items():
        source = clause.source
        if source.document is None:  # a law cited by article: not a sentence of the sources
            continue
        if not _quoted(city_dir, source, texts):  # not verbatim or no such file: the quote check says so
            continue
        if clause_id not in named:
            problems.append(Problem(where, clause_id, "clause is beside no sentence of the concordance"))
        elif not any(quote_norm(source.quote) in sentence for sentence in named[clause_id]):
            problems.append(Problem(where, clause_id, "clause's quote lies inside no sentence that names it: "
                                                      f"{source.quote[:40]!r}"))
    return problems


def _quoted(city_dir: Path, source, texts: dict[str, str | None]) -> bool:
    """Whether a clause's quote occurs in its document (read once into `texts`)."""
    if source.document not in texts:
        file = city_dir / "sources" / Path(source.document).name
        texts[source.document] = quote_norm(file.read_text(encoding="utf-8")) if file.is_file() else None
    body = texts[source.document]
    return body is not None and quote_norm(source.quote) in body


def sentence_status(versions: list[LoadedRuleset], document: str, text: str) -> str | None:
    """The status of what a sentence lies in, as the newest version's `sources:` give it: the
    part of the document (when it declares parts), else the document; None when not listed."""
    from zhunru.rulebook.checks import part_of

    for version in sorted(versions, key=lambda v: v.ruleset.effective_from, reverse=True):
        for doc in version.ruleset.sources:
            if doc.document is not None and Path(doc.document).name == Path(document).name:
                if not doc.parts:
                    return doc.status
                part = part_of(version, document, text)
                return part.status if part is not None else None
    return None


def side_by_side(city_dir: Path, versions: list[LoadedRuleset]) -> list[dict]:
    """The concordance for reading: each sentence with the clauses (id, text) beside it and the
    status of the document or part it lies in (in_force, draft, proposal; None when unknown)."""
    concordance, problems = load(city_dir / FILE)
    if concordance is None:
        return []
    clauses = {c.id: c for v in versions for c in v.ruleset.all_clauses()}
    out = []
    for doc in concordance.documents:
        for sentence in doc.sentences:
            out.append({"document": doc.document, "part": doc.part, "where": sentence.where,
                        "sentence": sentence.text, "status": sentence_status(versions, doc.document, sentence.text),
                        "clauses": [{"id": c, "text": clauses[c].text if c in clauses else None}
                                    for c in sentence.clauses],
                        "not_modelled": sentence.not_modelled})
    return out
