"""`zhunru cert check`: may the community issue this certificate?"""
from __future__ import annotations

import datetime as dt

import click

from zhunru.errors import InputError

from .common import CONTEXT, dump_json, output_options, parse_date
from .render import certificate_text


@click.group(context_settings=CONTEXT)
def cert():
    """Certificates (证明): which a community must, may or must not issue."""


@cert.command("check", context_settings=CONTEXT)
@click.argument("text")
@click.option("--city", required=True, help="City: its id or its name, e.g. bijie, 毕节, 广州 (see `zhunru ruleset list`).")
@click.option("--as-of", "as_of", metavar="DATE", help="Check as of DATE (default: today).")
@click.option("--basis", metavar="TEXT", help="The legal basis the asker cites (law and article): an unlisted "
              "certificate with a stated basis goes to a person instead of being refused.")
@output_options
def check(text, city, as_of, basis, fmt, lang):
    """Check whether the community may issue the certificate TEXT.

    \b
    Examples:
      zhunru cert check 亲属关系证明 --city bijie --as-of 2019-06-01
      zhunru cert check 親屬關係證明 --city h_county --as-of 2019-06-01
    Names match after normalisation (full/half width, traditional/simplified, spaces,
    punctuation) or through a declared alias; nothing is matched by guess — close names are
    only offered as suggestions. Exit 0 whatever the verdict.
    """
    from zhunru.decide import catalogue

    if not text.strip() or len(text) > 200:
        raise InputError("TEXT: give the certificate's name (1–200 characters)")
    on = parse_date(as_of, "--as-of") or dt.date.today()
    if basis is not None and len(basis) > 2000:
        raise InputError("--basis: at most 2000 characters")
    result, key = (None, None) if basis else catalogue.fast_answer(text, city, on, lang)
    if result is None:  # first check of this city and date: the engine answers and a snapshot is kept
        from zhunru.decide.certificates import check_certificate
        from zhunru.decide.evaluate import Engine

        engine = Engine(lang=lang)
        result = check_certificate(engine, text, city, on, basis=basis)
        if key is not None:
            catalogue.remember(key, engine.book_for(city, on), on)
    click.echo(dump_json(result) if fmt == "json" else certificate_text(result, lang))


COMMANDS = [cert]
