"""Reading what a trainer prints about its own batch: the pieces of a config dump or an argument print that
say how many images one iteration trains, gathered line by line into a `BatchReport`.

A trainer prints these facts at different places (a config dump, a world-size line, printed arguments), in
any order, sometimes twice (a resumed run). `BatchFacts` keeps the latest value of each and gives the report
once the global images per iteration follow from them. The trackers below follow the structure of a dump
without parsing it whole: each looks at one line at a time, in time linear in the line's length."""

from __future__ import annotations

import re

from bench.logs.types import BatchReport


class BatchFacts:
    """The latest value of each batch fact a log has printed, and the line each came from."""

    def __init__(self) -> None:
        self.images: int | None = None  # global images per iteration, where printed as such
        self.per_device: int | None = None
        self.world: int | None = None
        self.nodes: int | None = None
        self.line_no = 0
        self.text = ""

    def note(self, line_no: int, text: str, *, images: int | None = None, per_device: int | None = None,
             world: int | None = None, nodes: int | None = None) -> None:
        for name, value in (("images", images), ("per_device", per_device), ("world", world),
                            ("nodes", nodes)):
            if value is not None:
                setattr(self, name, value)
        self.line_no, self.text = line_no, text[:200]

    def report(self) -> BatchReport | None:
        """The report once the images per iteration are known (printed, or per device x world size)."""
        images = self.images
        if images is None and self.per_device is not None and self.world is not None:
            images = self.per_device * self.world
        if images is None:
            return None
        return BatchReport(images_per_iter=images, world_size=self.world, nodes=self.nodes,
                           line_no=self.line_no, text=self.text)


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
