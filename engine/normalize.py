"""Matter names are compared after one normalisation: NFKC, traditional→simplified, no spaces
or punctuation. `normalize(normalize(x)) == normalize(x)` (a hypothesis property checks it)."""
from __future__ import annotations

import functools
import unicodedata


@functools.cache
def _t2s():
    from opencc import OpenCC  # loaded on first use: converting is only needed for CJK text

    return OpenCC("t2s")


def _keep(ch: str) -> bool:
    category = unicodedata.category(ch)
    return not (category.startswith("P") or category.startswith("Z") or category.startswith("C")
                or category.startswith("S"))


def _once(text: str) -> str:
    text = unicodedata.normalize("NFKC", text.lower())
    if any(ord(ch) > 0x2E7F for ch in text):
        text = unicodedata.normalize("NFKC", _t2s().convert(text))
    return "".join(ch for ch in text if _keep(ch))


@functools.lru_cache(maxsize=65536)
def normalize(text: str) -> str:
    # Case folding, NFKC and the script conversion can each expose work for the others on odd
    # input, so repeat to a fixed point (one pass for ordinary names).
    result = _once(text)
    for _ in range(4):
        again = _once(result)
        if again == result:
            break
        result = again
    return result
