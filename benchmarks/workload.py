"""A deterministic workload of admission requests over the shipped rulesets.

The same seed gives the same requests, byte for byte: cities and versions (a date inside each
version's span), kinds, matters (catalogue names, aliases, codes and off-list names), funding,
personnel and communities are all drawn from one `random.Random(seed)`. Matters come from the
compiled catalogues, so the workload follows the rulesets as they change.

    python benchmarks/workload.py 100000 --seed 7 > requests.jsonl
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys

KIND_WEIGHTS = {"task": 50, "certificate": 20, "nameplate": 6, "posting": 6, "assessment": 6,
                "meeting": 4, "ledger": 4, "report": 4}
OFF_LIST = [f"临时工作事项{n}" for n in range(40)] + ["入户经济普查", "创建文明城市台账", "Ad hoc survey",
                                                   "招商引资任务", "出具无犯罪记录证明"]
DEPARTMENTS = [("区民政局", "district", "department"), ("市统计局", "city", "department"),
               ("街道办事处", "street", "street_office"), ("区社区办", "district", "coordination_body"),
               ("区司法局", "district", "department")]


def _targets():
    """(city, date, book) for every shipped city version, the date inside its span."""
    from zhunru.decide.evaluate import Engine

    engine = Engine()
    out = []
    for city in engine.registry.cities():
        for loaded in engine.registry.versions(city):
            rs = loaded.ruleset
            on = rs.effective_from + dt.timedelta(days=200)
            if rs.effective_to is not None and on >= rs.effective_to:
                on = rs.effective_from
            out.append((city, on, engine.book_for(city, on)))
    return out


def generate(n: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    targets = _targets()
    kinds, weights = zip(*KIND_WEIGHTS.items())
    # the catalogue of each target, as a sorted list so that the draw is reproducible
    catalogue = {}
    for city, on, book in targets:
        for kind in kinds:
            entries = sorted({(e.item.key, e.item.name, tuple(e.item.aliases))
                              for e in book.names.get(kind, {}).values()})
            catalogue[(city, on, kind)] = entries
    requests = []
    for i in range(n):
        city, on, _book = targets[rng.randrange(len(targets))]
        kind = rng.choices(kinds, weights)[0]
        entries = catalogue[(city, on, kind)]
        roll = rng.random()
        if entries and roll < 0.7:
            code, name, aliases = entries[rng.randrange(len(entries))]
            matter = rng.choice(aliases) if aliases and rng.random() < 0.3 else name
        elif entries and roll < 0.8:
            matter = entries[rng.randrange(len(entries))][0]
        else:
            matter = rng.choice(OFF_LIST)
        dept = rng.choice(DEPARTMENTS)
        communities = [{"name": f"第{rng.randrange(1, 500)}社区", "population": rng.randrange(800, 20000),
                        "households": rng.randrange(300, 7000)} for _ in range(rng.choice((1, 1, 1, 2, 3)))]
        request = {"id": f"w{seed}-{i:07d}", "city": city, "date": on.isoformat(),
                   "department": {"name": dept[0], "level": dept[1], "role": dept[2]},
                   "kind": kind, "matter": matter, "communities": communities}
        if rng.random() < 0.5:
            request["funding"] = {"amount": rng.randrange(0, 400) * 1000, "source": "区财政",
                                  "document": f"财发〔2021〕{rng.randrange(1, 300)}号"}
        if rng.random() < 0.2:
            request["personnel"] = rng.randrange(1, 3)
        requests.append(request)
    return requests


def write_jsonl(requests: list[dict], out) -> None:
    for request in requests:
        out.write(json.dumps(request, ensure_ascii=False, separators=(",", ":")) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    write_jsonl(generate(args.n, args.seed), sys.stdout)


if __name__ == "__main__":
    main()
