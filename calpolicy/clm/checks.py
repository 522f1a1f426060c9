"""Placeholder, being written now (data gate)."""
from __future__ import annotations


def check_data(log, config, now=None):  # noqa: ANN001, ANN201
    raise NotImplementedError
