"""Jinja2 for the HTML zhunru writes (notice, publication, report): autoescaped, strict about
undefined names, templates shipped as package data in zhunru/templates/."""
from __future__ import annotations

import functools

import jinja2


@functools.cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("zhunru", "templates"), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render(name: str, **values) -> str:
    return environment().get_template(name).render(**values)
