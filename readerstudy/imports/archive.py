"""Where the files come from: a zip archive (checked for traversal, links, bombs before and while
extracting) or a folder (walked without following links). See docs/import.md "What is checked"."""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterator

from django.conf import settings

from .errors import Problems, fail

RATIO_CHECK_MIN_BYTES = 1024**2
SKIPPED_SUFFIXES = {".csv", ".json", ".toml", ".txt", ".md"}
SKIPPED_NAMES = {"DICOMDIR", "Thumbs.db"}



@dataclass
class SourceFile:
    rel: str  # posix path relative to the source root, as shown in errors
    path: Path


def _skipped(rel: str) -> bool:
    parts = rel.split("/")
    if any(p.startswith(".") or p == "__MACOSX" for p in parts):
        return True
    return parts[-1] in SKIPPED_NAMES or PurePosixPath(parts[-1]).suffix.lower() in SKIPPED_SUFFIXES


def _zip_member_problem(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    if "\x00" in name:
        return "entry name contains a NUL byte"
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or re.match(r"^[A-Za-z]:", normalized):
        return "absolute path in the archive"
    if ".." in normalized.split("/"):
        return "path leaves the archive ('..')"
    # Unix mode bits, when the archiver stored a file type (many store permissions only).
    mode = info.external_attr >> 16
    if stat.S_IFMT(mode) and stat.S_ISLNK(mode):
        return "symbolic link in the archive"
    if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return "not a regular file"
    if info.flag_bits & 0x1:
        return "encrypted entry"
    return None


def _check_zip(archive: Path, zf: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    problems = Problems()
    infos = zf.infolist()
    if len(infos) > settings.IMPORT_MAX_MEMBERS:
        raise fail(archive.name, f"{len(infos)} entries; the limit is {settings.IMPORT_MAX_MEMBERS}")
    total = 0
    names: set[str] = set()
    ratio_limit = settings.IMPORT_MAX_COMPRESSION_RATIO
    for info in infos:
        problem = _zip_member_problem(info)
        if problem:
            problems.add(info.filename, problem)
            continue
        if info.is_dir():
            continue
        key = info.filename.replace("\\", "/")
        if key in names:
            problems.add(info.filename, "duplicate entry in the archive")
        names.add(key)
        total += info.file_size
        if info.file_size >= RATIO_CHECK_MIN_BYTES and info.file_size > ratio_limit * max(info.compress_size, 1):
            ratio = info.file_size / max(info.compress_size, 1)
            problems.add(
                info.filename,
                f"compression ratio {ratio:.0f}:1 exceeds the limit of {ratio_limit:.0f}:1 (zip bomb?)",
            )
    if total > settings.IMPORT_MAX_EXPANDED_BYTES:
        problems.add(
            archive.name,
            f"the archive expands to {total} bytes; the limit is {settings.IMPORT_MAX_EXPANDED_BYTES} (zip bomb?)",
        )
    problems.raise_if_any()
    return [i for i in infos if not i.is_dir()]


def _extract_zip(archive: Path, dest: Path) -> list[SourceFile]:
    if archive.stat().st_size > settings.IMPORT_MAX_ARCHIVE_BYTES:
        raise fail(archive.name, f"the archive is larger than {settings.IMPORT_MAX_ARCHIVE_BYTES} bytes")
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise fail(archive.name, f"not a readable zip archive: {exc}") from None
    files: list[SourceFile] = []
    written = 0
    with zf:
        members = _check_zip(archive, zf)
        dest_resolved = dest.resolve()
        for info in members:
            rel = "/".join(p for p in info.filename.replace("\\", "/").split("/") if p not in ("", "."))
            if _skipped(rel):
                continue
            target = dest / rel
            if dest_resolved not in target.resolve().parents:
                raise fail(info.filename, "path leaves the archive")
            target.parent.mkdir(parents=True, exist_ok=True)
            member_bytes = 0
            try:
                with zf.open(info) as src, target.open("xb") as out:
                    while chunk := src.read(1024 * 1024):
                        member_bytes += len(chunk)
                        written += len(chunk)
                        # The central directory can lie; what actually comes out is what counts.
                        if member_bytes > info.file_size or written > settings.IMPORT_MAX_EXPANDED_BYTES:
                            raise fail(info.filename, "expands beyond its declared size or the import limit (zip bomb?)")
                        out.write(chunk)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, OSError) as exc:
                raise fail(info.filename, f"cannot extract: {exc}") from None
            files.append(SourceFile(rel, target))
    return files


def _list_folder(root: Path) -> list[SourceFile]:
    problems = Problems()
    files: list[SourceFile] = []
    total = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath)
        for d in list(dirnames):
            if (base / d).is_symlink():
                problems.add((base / d).relative_to(root).as_posix(), "symbolic link (not followed)")
                dirnames.remove(d)
        for f in filenames:
            path = base / f
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                problems.add(rel, "symbolic link (not followed)")
                continue
            if _skipped(rel):
                continue
            st = path.lstat()
            if not stat.S_ISREG(st.st_mode):
                problems.add(rel, "not a regular file")
                continue
            total += st.st_size
            files.append(SourceFile(rel, path))
    if len(files) > settings.IMPORT_MAX_MEMBERS:
        problems.add(root.name, f"{len(files)} files; the limit is {settings.IMPORT_MAX_MEMBERS}")
    if total > settings.IMPORT_MAX_EXPANDED_BYTES:
        problems.add(root.name, f"{total} bytes; the limit is {settings.IMPORT_MAX_EXPANDED_BYTES}")
    problems.raise_if_any()
    return files


@contextlib.contextmanager
def source_files(source: Path) -> Iterator[list[SourceFile]]:
    if source.is_symlink():
        raise fail(source.name, "the source is a symbolic link")
    if source.is_dir():
        yield sorted(_list_folder(source), key=lambda f: f.rel)
        return
    if not source.is_file():
        raise fail(source.name, "no such file or folder")
    with tempfile.TemporaryDirectory(prefix="readerstudy-import-", dir=settings.FILE_UPLOAD_TEMP_DIR) as tmp:
        yield sorted(_extract_zip(source, Path(tmp)), key=lambda f: f.rel)

