"""Study files read safely: SafeLoader (no tag builds an object), no duplicated keys (the last one would win
silently), and no alias bomb — a document whose aliases expand past ``MAX_VALUES`` values (the "billion laughs":
371 bytes that expand to gigabytes) is refused from its parsed graph, before anything is built."""
from __future__ import annotations

from typing import Any

import yaml

MAX_BYTES = 2_000_000  # the largest built-in study is ~10 kB
MAX_VALUES = 200_000  # every scalar, list and mapping counted as expanded
MAX_DEPTH = 50  # lists and mappings inside each other; a study file nests about 5 (arms: name: key: [values])


class _Loader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, yaml.Node] = {}
        for key, _ in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":  # `<<:` may be overridden
                if key.value in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicated key '{key.value[:60]}' (the last one would win silently)",
                        key.start_mark)
                seen[key.value] = key
        return super().construct_mapping(node, deep)


def _expanded(node: yaml.Node, memo: dict[int, int]) -> int:
    """How many values ``node`` stands for once every alias is expanded (shared nodes counted each time)."""
    if id(node) in memo:
        return memo[id(node)]
    memo[id(node)] = 1  # a recursive alias counts once
    if isinstance(node, yaml.SequenceNode):
        n = 1 + sum(_expanded(child, memo) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        n = 1 + sum(_expanded(k, memo) + _expanded(v, memo) for k, v in node.value)
    else:
        n = 1
    memo[id(node)] = n
    return n


def _depth(node: yaml.Node) -> int:
    """How deeply lists and mappings nest in ``node`` (a scalar: 0), walked without recursion; an alias is the node
    it names, counted once."""
    deepest, seen, todo = 0, set(), [(node, 0)]
    while todo:
        node, depth = todo.pop()
        if id(node) in seen or isinstance(node, yaml.ScalarNode):
            continue
        seen.add(id(node))
        deepest = max(deepest, depth + 1)
        children = node.value if isinstance(node, yaml.SequenceNode) else [n for kv in node.value for n in kv]
        todo += [(child, depth + 1) for child in children]
    return deepest


def load(text: str) -> Any:
    """The YAML document in ``text``; yaml.YAMLError (with a mark where there is one) when it is refused."""
    if len(text) > MAX_BYTES:
        raise yaml.YAMLError(f"the file has {len(text):,} characters; a study file has at most {MAX_BYTES:,}")
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _depth(node) > MAX_DEPTH:  # deeper values overflow the recursion of whatever reads them next
            raise yaml.YAMLError(f"its lists or mappings nest more than {MAX_DEPTH} levels deep; a study file nests "
                                 "a few levels")
        size = _expanded(node, {})
        if size > MAX_VALUES:
            raise yaml.YAMLError(f"its aliases expand to {size:,} values (at most {MAX_VALUES:,}); "
                                 "write the values out instead of nesting aliases")
        return loader.construct_document(node)
    except RecursionError:  # PyYAML parses and builds nested values recursively: [[[[...]]]] 1,000 deep overflows
        raise yaml.YAMLError("its lists or mappings nest too deeply (hundreds of levels); a study file nests a few "
                             "levels") from None
    finally:
        loader.dispose()
