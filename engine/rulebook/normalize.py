"""Matter names are compared after one normalisation: NFKC, traditional→simplified, no spaces
or punctuation. `normalize(normalize(x)) == normalize(x)` (a hypothesis property checks it)."""
from __future__ import annotations

import functools
import threading
import unicodedata

_converter = None
_converter_lock = threading.Lock()


def _t2s():
    """The traditional→simplified converter, made once (27 ms) even when a service's threads
    all ask for it at the same moment."""
    global _converter
    if _converter is None:
        with _converter_lock:
            if _converter is None:
                from opencc import OpenCC  # loaded on first use: converting is only needed for CJK text

                _converter = OpenCC("t2s")
    return _converter


def _keep(ch: str) -> bool:
    category = unicodedata.category(ch)
    return not (category.startswith("P") or category.startswith("Z") or category.startswith("C")
                or category.startswith("S"))


def _once(text: str) -> str:
    text = unicodedata.normalize("NFKC", text.lower())
    if any(ord(ch) > 0x2E7F for ch in text):
        text = unicodedata.normalize("NFKC", _t2s().convert(text))
    return "".join(ch for ch in text if _keep(ch))


def closest(text: str, keys, name_of, n: int = 3) -> list[str]:
    """Display names of the catalogue keys closest to `text`: offered as suggestions, never used
    to decide. `keys` are normalised names; `name_of(key)` is what a person reads."""
    import difflib

    out: list[str] = []
    for key in difflib.get_close_matches(normalize(text), list(keys), n=n, cutoff=0.5):
        name = name_of(key)
        if name not in out:
            out.append(name)
    return out


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


# What people type around a certificate's name: 「开具一份居住证明」, 「我要开个死亡证明吗」.
_ASKING = None


def certificate_name(key: str) -> str:
    """A normalised free-text ask reduced to the certificate's name (开具一份居住证明 → 居住证明):
    the verbs and measure words around it dropped, nothing guessed. '' when nothing is left."""
    global _ASKING
    if _ASKING is None:
        import re

        _ASKING = re.compile(r"^(?:请|麻烦)?(?:帮我|给我|帮忙|我)?(?:要|想要|需要|想|得)?"
                             r"(?:开具|开出|开|出具|办理|办|打印|出|盖|盖章)?(?:一份|一张|一个|份|张|个)?"
                             r"(.+?证明)(?:书|文件)?(?:吗|呢|啊|吧)?$")
    found = _ASKING.match(key)
    return found.group(1) if found else ""
