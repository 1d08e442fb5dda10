"""Writing the outputs of a run safely: each file appears whole or not at all, one run at a time.

Every output is written to a temporary file in the same folder (`.NAME.XXXX.part.SUFFIX`),
flushed to disk and renamed into place only after the whole run has succeeded; on any failure
(an error, Ctrl-C, TERM, a full disk) the temporary files are removed and an earlier output stays
as it was. While a run writes an output it holds an exclusive lock (`fcntl.flock`) on a lock file
beside it (`.NAME.lock`), so a second run to the same output is refused at once. Temporary files
of a run that was killed are removed by the next run to the same output.

The spill folder of a large register (see `batch`) is removed on every exit path; one left by a
killed run is removed when the next run starts.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

SPILL_PREFIX = "patientavgift-spill-"


class OutputError(ValueError):
    """An output cannot be written (another run writes it, the disk is full, …); the message says what to do."""


def _locked_file(lock: Path) -> int | None:
    """An open descriptor of `lock` holding an exclusive lock on it, or None when another process holds it.

    A lock file is removed by its holder when done; if it was removed between opening and locking,
    the new one is taken instead (so two runs never hold locks on two different files).
    """
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            now = os.stat(lock)
        except FileNotFoundError:
            now = None
        held = os.fstat(fd)
        if now is not None and (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino):
            return fd
        os.close(fd)


@contextmanager
def _lock(target: Path) -> Iterator[None]:
    lock = target.parent / f".{target.name}.lock"
    fd = _locked_file(lock)
    if fd is None:
        raise OutputError(
            f"{target}: filen skrivs redan av en annan körning (låsfil {lock}); vänta tills den är klar "
            "eller välj en annan utfil (the output is being written by another run)"
        )
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)
        os.close(fd)


def _parts(target: Path) -> str:
    return f".{target.name}.*.part{target.suffix}"


def _sync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


@contextmanager
def atomic(targets: Sequence[Path]) -> Iterator[list[Path]]:
    """Temporary files (one per target, beside it, with the target's suffix) to write the outputs
    into; when the block succeeds each is flushed to disk and renamed over its target, otherwise
    all are removed. The targets are locked throughout (see the module's text)."""
    with ExitStack() as stack:
        for target in targets:
            stack.enter_context(_lock(target))
        parts: list[Path] = []
        try:
            for target in targets:
                for stale in target.parent.glob(_parts(target)):  # (left by a killed run: we hold the lock)
                    stale.unlink(missing_ok=True)
                fd, name = tempfile.mkstemp(
                    dir=target.parent, prefix=f".{target.name}.", suffix=f".part{target.suffix}"
                )
                os.close(fd)
                parts.append(Path(name))
            yield parts
            for part in parts:
                _sync(part)
            for part, target in zip(parts, targets, strict=True):
                os.replace(part, target)
            for folder in {t.parent for t in targets}:
                _sync(folder)
        except OSError as exc:
            if exc.errno in FULL:
                names = ", ".join(str(t) for t in targets)
                raise OutputError(
                    f"{names}: disken är full; ingen utfil skrevs och tidigare utfiler är orörda. Frigör utrymme "
                    "eller välj en annan plats för --out och kör igen (no space left on device)"
                ) from None
            raise
        finally:
            for part in parts:
                part.unlink(missing_ok=True)


@contextmanager
def spill_folder() -> Iterator[Path]:
    """A new temporary folder for spilled buckets, removed on every exit path. Folders of runs that
    were killed are removed first: a live run holds a lock on `FOLDER.lock` beside its folder."""
    base = Path(tempfile.gettempdir())
    for lock in base.glob(f"{SPILL_PREFIX}*.lock"):
        fd = _locked_file(lock)
        if fd is not None:  # (nobody holds it: its run is gone)
            shutil.rmtree(lock.with_suffix(""), ignore_errors=True)
            lock.unlink(missing_ok=True)
            os.close(fd)
    fd_lock, name = tempfile.mkstemp(prefix=SPILL_PREFIX, suffix=".lock")
    os.close(fd_lock)
    lock = Path(name)
    fd = _locked_file(lock)
    assert fd is not None  # (just made, by this run)
    folder = lock.with_suffix("")
    try:
        folder.mkdir()
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        lock.unlink(missing_ok=True)
        os.close(fd)
