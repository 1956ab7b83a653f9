"""Reading what a trainer prints about its own batch: the pieces of a config dump or an argument print that
say how many images one iteration trains, gathered line by line into a `BatchReport`.

A trainer prints these facts at different places (a config dump, a world-size line, printed arguments), in
any order, sometimes twice (a resumed run). `BatchFacts` keeps the latest value of each, with its strength
(`BatchStrength`) and the rule that makes it evidence (its source, file:line @ commit, and the versions it
holds for), and gives the report once the global images per iteration follow from them. A weaker fact never
replaces a stronger one: a device count printed in the arguments does not overrule the world size the
distributed initialisation printed. The trackers below follow the structure of a dump without parsing it
whole: each looks at one line at a time, in time linear in the line's length."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bench.logs.types import BatchReport
from bench.vocabulary import BatchStrength

KINDS = ("images", "per_device", "world", "nodes")
VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?")


@dataclass(frozen=True, slots=True)
class Fact:
    value: int
    strength: BatchStrength
    rule: str  # what the number is to the trainer, and where that is written (file:line @ commit, versions)
    line_no: int
    text: str


class BatchFacts:
    """The latest value of each batch fact a log has printed, its strength, and the line it came from."""

    def __init__(self) -> None:
        self.found: dict[str, Fact] = {}
        self.revision = 0  # counts the changes, so that the report is rebuilt only when a fact changed

    def note(self, line_no: int, text: str, *, rule: str,
             strength: BatchStrength = BatchStrength.DEFINITIVE, override: bool = False,
             **values: int | None) -> None:
        """Note each given fact (images, per_device, world, nodes); a weaker one does not replace a stronger
        one unless `override` (a parser that has weighed both itself)."""
        order = list(BatchStrength)
        for kind, value in values.items():
            if kind not in KINDS:
                raise TypeError(f"unknown batch fact {kind!r}")
            old = self.found.get(kind)
            if value is None or (old is not None and not override
                                 and order.index(strength) > order.index(old.strength)):
                continue
            self.found[kind] = Fact(value, strength, rule, line_no, text[:200])
            self.revision += 1

    def get(self, kind: str) -> Fact | None:
        return self.found.get(kind)

    def report(self) -> BatchReport | None:
        """The report once the images per iteration follow (printed, or per device x world size): the
        strongest of the two ways where both exist."""
        candidates = [c for c in (self._printed(), self._product()) if c is not None]
        if not candidates:
            return None
        order = list(BatchStrength)
        value, strength, rule, cite = min(candidates, key=lambda c: order.index(c[1]))
        world, nodes = self.found.get("world"), self.found.get("nodes")
        unknown = strength is BatchStrength.UNKNOWN
        return BatchReport(
            images_per_iter=None if unknown else value,
            world_size=world.value if world and world.strength is not BatchStrength.UNKNOWN else None,
            nodes=nodes.value if nodes else None, line_no=cite.line_no, text=cite.text, strength=strength,
            rule=rule, printed=value if unknown else None)

    def _printed(self) -> tuple[int, BatchStrength, str, Fact] | None:
        images = self.found.get("images")
        return None if images is None else (images.value, images.strength, images.rule, images)

    def _product(self) -> tuple[int, BatchStrength, str, Fact] | None:
        per, world = self.found.get("per_device"), self.found.get("world")
        if per is None or world is None:
            return None
        strength = per.strength.weaker(world.strength)
        if per.strength is world.strength:
            rule = f"{per.value} per device ({per.rule}) x {world.value} devices ({world.rule})"
        else:  # the weaker factor says why the product is weak
            weak = per if per.strength is strength else world
            rule = f"{per.value} per device x {world.value} devices; {weak.rule}"
        return per.value * world.value, strength, rule, max(per, world, key=lambda f: f.line_no)


def version_tuple(text: str | None) -> tuple[int, int, int] | None:
    """`2.5.0+c6b4a05` -> (2, 5, 0); None where no version was printed (or it is not one)."""
    match = VERSION.match(text or "")
    return (int(match[1]), int(match[2]), int(match[3] or 0)) if match else None


YAML_KEY = re.compile(r"^( *)([A-Za-z_]\w*):(?: (.*))?$")
YAML_ITEM = re.compile(r"^ *- ")


class YamlDump:
    """A YAML (or yacs `CfgNode.__str__`) dump that follows a header line: yields (section, key, value) for
    every `  KEY: value` directly under a top-level `SECTION:`. The dump ends at the first line that is not
    YAML (the next logger line)."""

    def __init__(self, header: str) -> None:
        self.header = header
        self.active = False
        self.section: str | None = None

    def feed(self, line: str) -> tuple[str, str, str] | None:
        if self.header in line:
            self.active, self.section = True, None
            return None
        if not self.active:
            return None
        key = YAML_KEY.match(line)
        if key is None:
            if not YAML_ITEM.match(line):
                self.active = False
            return None
        indent, name, value = len(key[1]), key[2], key[3]
        if indent == 0:
            self.section = name if value is None or value == "" else None
            return None
        if indent == 2 and self.section is not None and value is not None:
            return self.section, name, value.strip()
        return None


TOKEN = re.compile(r"[()\[\]{}]|(?<![\w.])(\w+)=(\d+)\b")
BLOCK = re.compile(r"^(\w+) = dict\(")


class PythonConfigDump:
    """An mmcv/mmengine `Config.pretty_text` dump (`name = dict(\\n    key=value, ...)`): yields (block, key,
    value) for every integer keyword directly inside a top-level `name = dict(...)`, however the dict is
    split across lines (nested dicts and lists are skipped by counting brackets)."""

    def __init__(self, blocks: frozenset[str]) -> None:
        self.blocks = blocks
        self.block: str | None = None
        self.depth = 0

    def feed(self, line: str) -> list[tuple[str, str, int]]:
        start = 0
        if self.block is None or self.depth <= 0:
            opened = BLOCK.match(line)
            if opened is None or opened[1] not in self.blocks:
                self.block = None
                return []
            self.block, self.depth, start = opened[1], 1, opened.end()
        found: list[tuple[str, str, int]] = []
        for token in TOKEN.finditer(line, start):
            if token[1] is not None:
                if self.depth == 1:
                    found.append((self.block, token[1], int(token[2])))
            elif token[0] in "([{":
                self.depth += 1
            else:
                self.depth -= 1
                if self.depth <= 0:
                    break
        return found


def namespace_int(text: str, name: str) -> int | None:
    """The integer `name=N` of a printed `argparse.Namespace(...)`, where it is printed."""
    match = re.search(r"[(,] ?" + name + r"=(\d+)[,)]", text)
    return int(match[1]) if match else None
