"""Parse a YAML config with bounds: size, NUL bytes and alias expansion are checked first.

`yaml.SafeLoader` builds only plain types, but it happily composes a 419-byte "billion
laughs" document whose aliases expand to 9^9 values: nothing breaks until something walks
the result (a hash, a deep copy, an error message) and the process runs out of memory.
The composed node graph is measured as if every alias were copied, and refused when it
would exceed MAX_YAML_VALUES, before any Python object is built.
"""

from __future__ import annotations

from typing import Any

import yaml

from hyperopt_cli.core.errors import ConfigError
from hyperopt_cli.core.quote import clipped

MAX_CONFIG_BYTES = 1 << 20  # a config is a few KiB; anything over 1 MiB is not one
MAX_YAML_VALUES = 10_000  # scalars + collections once aliases are expanded; the default config has ~150


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """Values `node` stands for with aliases copied out; linear in the graph thanks to `sizes`."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    sizes[id(node)] = MAX_YAML_VALUES + 1  # a recursive alias (&a [*a]) expands without end
    if isinstance(node, yaml.SequenceNode):
        total = 1 + sum(_expanded_size(child, sizes) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        total = 1 + sum(_expanded_size(k, sizes) + _expanded_size(v, sizes) for k, v in node.value)
    else:
        total = 1
    sizes[id(node)] = min(total, MAX_YAML_VALUES + 1)
    return sizes[id(node)]


def _one_line_error(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or str(exc)
    return f"is not valid YAML{where}: {clipped(str(problem))}"


def parse_yaml(text: str, origin: str) -> Any:
    """The document in `text` as plain Python values; every refusal is one ConfigError line naming `origin`."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{origin} is larger than {MAX_CONFIG_BYTES} bytes; a config file is a few KiB")
    nul = text.find("\x00")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise ConfigError(f"{origin} holds a NUL byte at line {line}; a config must be a YAML text file")
    try:
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as exc:  # the reader refuses control characters before parsing
        raise ConfigError(f"{origin} {_one_line_error(exc)}") from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, {}) > MAX_YAML_VALUES:
            raise ConfigError(
                f"{origin} expands to more than {MAX_YAML_VALUES} values through YAML aliases (&anchor/*alias); "
                "write the values out instead"
            )
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin} {_one_line_error(exc)}") from None
    except RecursionError:
        raise ConfigError(f"{origin} nests too deeply to be a config") from None
    finally:
        loader.dispose()
