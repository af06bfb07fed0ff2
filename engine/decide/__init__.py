"""Deciding: the compiled procedure, the request path's steps, funding, certificates."""
