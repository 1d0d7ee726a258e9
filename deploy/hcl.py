"""Terraform's HCL files as Python data (python-hcl2), with HCL's quoting taken off names and strings.

python-hcl2 keeps the quotes of `resource "aws_x" "name"` labels and string values, and marks each block
`__is_block__`: the checks read names unquoted, and the schema check also needs to tell `x {}` from `x = {}`.
"""

from __future__ import annotations

from pathlib import Path

import hcl2

BLOCK_MARKER = "__is_block__"


def _unquote(value):
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def normalise(node, keep_block_markers: bool = False):
    if isinstance(node, dict):
        return {_unquote(key): normalise(value, keep_block_markers) for key, value in node.items()
                if keep_block_markers or key != BLOCK_MARKER}
    if isinstance(node, list):
        return [normalise(value, keep_block_markers) for value in node]
    return _unquote(node)


def load_hcl(path: Path, keep_block_markers: bool = False, comments: bool = True) -> dict:
    """The file as python-hcl2 reads it; comments come as `__comments__` keys unless comments=False."""
    options = hcl2.SerializationOptions(with_comments=comments)
    with open(path) as handle:
        return normalise(hcl2.load(handle, serialization_options=options), keep_block_markers)


def is_block(value) -> bool:
    """Whether a value loaded with keep_block_markers is written as blocks (`x {}`), not `x = ...`."""
    return isinstance(value, list) and bool(value) and all(
        isinstance(item, dict) and item.get(BLOCK_MARKER) for item in value)
