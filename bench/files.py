"""File helpers every stage shares: the one way bench opens an input file (`open_input`, `read_input`), the
one way it writes an output (`staged_writes`, and `write_atomic` for a single file), and content hashes.

An input is opened only when it is a regular file: a FIFO, a device, a socket or a directory is refused
without blocking (a FIFO named record.json would otherwise hang the reader forever, a link to /dev/zero fill
its memory), and, where the caller names the root the input must come from, a symbolic link that leaves it is
refused too. Reads of whole files are bounded.

An output is written beside its target under a temporary name and renamed over it only when every output of
the same command has been written: a crash, a full disk or a read-only directory leaves the old files as
they were, never half of the new ones. A target whose directory leaves the root the command writes into
(a `plots` that is a symbolic link out of `results/`) is refused before anything is written.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from bench.errors import BenchError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def confined(root: Path, path: Path, what: str) -> Path:
    """`path` with its symbolic links followed, or a BenchError when that leaves `root` (itself resolved)."""
    base = Path(root).resolve()
    target = Path(path).resolve()
    if target != base and base not in target.parents:
        raise BenchError(f"{what} {path}: leaves {base} (a symbolic link?); refused")
    return target


# -- reading ---------------------------------------------------------------------------------------------
def open_input(path: Path, what: str, root: Path | None = None,
               error: type[Exception] = BenchError) -> BinaryIO:
    """`path` opened for reading in binary, when it is a regular file (inside `root` once links are followed,
    when a root is given); otherwise one-line `error` naming the file. Never blocks on a FIFO."""
    path = Path(path)
    if root is not None:
        try:
            confined(root, path, what)
        except BenchError as exc:
            raise error(str(exc)) from None
    try:
        before = os.stat(path)  # follows links: the kind of the file that would be opened
        if not stat.S_ISREG(before.st_mode):
            raise IsADirectoryError if stat.S_ISDIR(before.st_mode) else _NotRegular
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise error(f"{path}: no such {what}") from None
    except IsADirectoryError:
        raise error(f"{path}: is a directory, not a {what}") from None
    except _NotRegular:
        raise error(f"{path}: not a regular file (a FIFO, a device or a socket); not a {what}") from None
    except OSError as exc:
        raise error(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced between the stat and the open
        os.close(fd)
        raise error(f"{path}: not a regular file (a FIFO, a device or a socket); not a {what}")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


class _NotRegular(OSError):
    pass


def read_input(path: Path, limit: int, what: str, error: type[Exception] = BenchError,
               root: Path | None = None) -> bytes:
    """A whole input file (see `open_input`), at most `limit` bytes (never read past them)."""
    with open_input(path, what, root, error) as handle:
        try:
            raw = handle.read(limit + 1)
        except OSError as exc:
            raise error(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    if len(raw) > limit:
        raise error(f"{path}: larger than {limit} bytes; not a {what}")
    return raw


def read_bounded_text(path: Path, limit: int, what: str, error: type[Exception],
                      root: Path | None = None) -> str:
    """A small text file (a recipe, a record) read whole, or one-line `error` naming the file: missing, a
    directory or anything but a regular file, larger than `limit` bytes, or not UTF-8 (with the line of the
    first bad byte)."""
    raw = read_input(path, limit, what, error, root)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise error(f"{path}: line {line}: not UTF-8 text (byte {raw[exc.start]:#04x})") from None


def file_sha256(path: Path, root: Path | None = None) -> str:
    """sha256 of a file's bytes, read in blocks (logs can be large); the file is opened as an input."""
    digest = hashlib.sha256()
    with open_input(Path(path), "file", root) as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- writing ---------------------------------------------------------------------------------------------
class Staging:
    """Outputs written under temporary names beside their targets, then put in place together
    (`staged_writes`)."""

    def __init__(self, root: Path | None, also: tuple[Path, ...] = ()) -> None:
        self.root = root
        self.also = {Path(directory).resolve() for directory in also}
        self._files: list[tuple[Path, Path]] = []  # (temporary file, target)
        self._directories: list[tuple[Path, Path]] = []  # (temporary directory, target)
        self._removals: list[Path] = []

    def _check(self, path: Path) -> None:
        if self.root is not None and path.parent.resolve() not in self.also:
            confined(self.root, path.parent, "output")

    def _temporary(self, path: Path) -> tuple[int, Path]:
        """A new temporary file beside `path` (its descriptor), put in place at commit."""
        self._check(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:100]}.", suffix=".tmp")
        self._files.append((Path(tmp), path))
        return fd, Path(tmp)

    def file(self, path: Path, data: str | bytes, mode: int = 0o644) -> None:
        """`path` will hold `data` (mode `mode` less the umask; mkstemp alone would make it 0600)."""
        fd, tmp = self._temporary(Path(path))
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode & ~_umask())

    def copy(self, path: Path, source: Path, root: Path | None = None) -> None:
        """`path` will hold the bytes of `source` (opened as an input, streamed), with its mode and times."""
        fd, tmp = self._temporary(Path(path))
        with os.fdopen(fd, "wb") as handle, open_input(source, "file", root) as original:
            shutil.copyfileobj(original, handle, 1 << 20)
            handle.flush()
            os.fsync(handle.fileno())
        shutil.copystat(source, tmp)

    def directory(self, path: Path, files: dict[str, bytes]) -> None:
        """The directory `path` will hold exactly `files` (relative path -> bytes): built beside it, swapped
        in whole."""
        path = Path(path)
        self._check(path)
        if path.is_symlink():  # a link inside the root: the directory it names is replaced
            path = confined(self.root or path.parent, path, "output")
        path.parent.mkdir(parents=True, exist_ok=True)
        new = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name[:100]}.", suffix=".new"))
        self._directories.append((new, path))
        os.chmod(new, 0o777 & ~_umask())
        for name, data in files.items():
            target = new / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)

    def remove(self, path: Path) -> None:
        """`path` will be removed (a generated file whose source is gone)."""
        self._check(Path(path))
        self._removals.append(Path(path))

    def commit(self) -> None:
        for tmp, target in self._files:
            os.replace(tmp, target)
        for new, target in self._directories:
            old = None
            if target.exists() or target.is_symlink():
                old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name[:100]}.",
                                            suffix=".old"))
                os.replace(target, old / "previous")
            os.replace(new, target)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        for path in self._removals:
            path.unlink(missing_ok=True)

    def abort(self) -> None:
        for tmp, _ in self._files:
            tmp.unlink(missing_ok=True)
        for new, _ in self._directories:
            shutil.rmtree(new, ignore_errors=True)


@contextmanager
def staged_writes(root: Path | None = None, also: tuple[Path, ...] = ()) -> Iterator[Staging]:
    """Stage every output inside the block; they are put in place when the block ends, or none of them is
    when it raises (an OSError while staging, a read-only directory, becomes one BenchError line). With
    `root`, an output whose directory leaves it is refused before anything is written, unless its directory
    is one of `also` itself (not a directory below one)."""
    staging = Staging(root, also)
    try:
        yield staging
    except OSError as exc:
        staging.abort()
        raise BenchError(f"{_where(exc)}cannot write: {exc.strerror or exc}; nothing was changed") from None
    except BaseException:
        staging.abort()
        raise
    try:
        staging.commit()
    except OSError as exc:  # a rename in a directory bench just wrote into: not expected, said plainly
        staging.abort()
        raise BenchError(f"{_where(exc)}cannot put the new files in place: {exc.strerror or exc}") from None


def _where(exc: OSError) -> str:
    return f"{exc.filename}: " if exc.filename else ""


def write_atomic(path: Path, data: str | bytes, mode: int = 0o644, root: Path | None = None) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over the target: a reader (or a
    crash) never sees half a file. The file gets `mode` less the umask."""
    with staged_writes(root) as staging:
        staging.file(path, data, mode)


# -- JSON outputs ----------------------------------------------------------------------------------------
def finite(value: Any, notes: list[str] | None = None, where: str = "") -> Any:
    """`value` with every NaN or infinity (at any depth) replaced by None; each replacement is named in
    `notes` (its path, e.g. `rows.3.img_s`)."""
    if isinstance(value, float) and not math.isfinite(value):
        if notes is not None:
            notes.append(f"{where or 'value'}: {value!r} is not a JSON number; written as null")
        return None
    if isinstance(value, dict):
        return {k: finite(v, notes, f"{where}.{k}".lstrip(".")) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v, notes, f"{where}.{i}".lstrip(".")) for i, v in enumerate(value)]
    return value


def json_text(value: Any, **dumps: Any) -> str:
    """Strictly valid JSON (RFC 8259: no NaN, no Infinity) for every JSON output bench writes. A number that
    is not finite becomes null, and an object at the top gets a `notes` list naming each one."""
    notes: list[str] = []
    value = finite(value, notes)
    if notes and isinstance(value, dict):
        value = {**value, "notes": [*value.get("notes", []), *notes]}
    return json.dumps(value, allow_nan=False, **dumps)
