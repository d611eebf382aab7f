"""One object-store layer for a local folder and for s3://, through pyarrow.fs.

Paths given to a LakeStore are relative to the lake root and always use "/".
"""

from __future__ import annotations

import contextlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.fs as pafs

from ingestion.settings import Settings


class LakeRootError(ValueError):
    """The lake root cannot be used (bad URI, not a folder, not writable)."""


@dataclass(frozen=True)
class LakeStore:
    filesystem: pafs.FileSystem
    base: str  # root path inside the filesystem, without a trailing "/"
    uri: str  # the lake root as the user gave it, for messages and for engines

    @classmethod
    def from_settings(cls, settings: Settings) -> LakeStore:
        root = settings.lake_root
        if root.startswith("s3://"):
            parsed = urlparse(root)
            if not parsed.netloc:
                raise LakeRootError(f"lake root {root!r} names no bucket")
            endpoint = settings.s3_endpoint_url
            filesystem = pafs.S3FileSystem(
                region=settings.aws_region,
                endpoint_override=urlparse(endpoint).netloc if endpoint else None,
                scheme=urlparse(endpoint).scheme if endpoint else "https",
            )
            base = f"{parsed.netloc}{parsed.path}".rstrip("/")
            return cls(filesystem, base, root)
        if "://" in root:
            raise LakeRootError(f"lake root {root!r}: only local folders and s3:// are supported")
        path = Path(root).expanduser().resolve()
        if path.exists() and not path.is_dir():
            raise LakeRootError(f"lake root {root!r} exists and is not a folder")
        return cls(pafs.LocalFileSystem(), path.as_posix(), root)

    @property
    def is_local(self) -> bool:
        return isinstance(self.filesystem, pafs.LocalFileSystem)

    def full_path(self, relative: str) -> str:
        return f"{self.base}/{relative.lstrip('/')}"

    def s3_object(self, relative: str) -> tuple[str, str]:
        """Bucket and key of a path under an s3:// lake root, for boto3 calls."""
        if self.is_local:
            raise LakeRootError(f"{self.uri} is not on S3")
        bucket, _, key = self.full_path(relative).partition("/")
        return bucket, key

    def local_path(self, relative: str = "") -> Path:
        if not self.is_local:
            raise LakeRootError(f"{self.uri} is not a local folder")
        return Path(self.full_path(relative)) if relative else Path(self.base)

    def check_writable(self) -> None:
        """Fail early, with one clear line, when nothing can be written to the lake root."""
        if self.is_local:
            path = Path(self.base)
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise LakeRootError(f"cannot create lake root {path}: {error.strerror}") from None
            if not os.access(path, os.W_OK | os.X_OK):
                raise LakeRootError(f"lake root {path} is not writable")

    def write_atomic(self, relative: str, data: bytes | pa.Buffer) -> None:
        """Write a whole object so that no reader ever sees part of it.

        On S3 an object appears only when its upload completes. Locally the bytes
        go to a hidden temporary file in the same folder, then os.replace moves
        it into place in one step; a retry simply replaces the file again.
        """
        target = self.full_path(relative)
        if self.is_local:
            folder, name = target.rsplit("/", 1)
            os.makedirs(folder, exist_ok=True)
            temporary = f"{folder}/.{name}.{uuid.uuid4().hex}.tmp"
            try:
                with open(temporary, "wb") as handle:
                    handle.write(memoryview(data))
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, target)
            finally:
                if os.path.exists(temporary):
                    os.unlink(temporary)
            return
        with self.filesystem.open_output_stream(target) as stream:
            stream.write(data)

    def exists(self, relative: str) -> bool:
        info = self.filesystem.get_file_info(self.full_path(relative))
        return info.type == pafs.FileType.File

    def read_bytes(self, relative: str) -> bytes:
        with self.filesystem.open_input_stream(self.full_path(relative)) as stream:
            return stream.read()

    def list_files(self, prefix: str, suffix: str = "") -> list[str]:
        """Relative paths of the files under prefix, sorted; [] when prefix does not exist."""
        selector = pafs.FileSelector(self.full_path(prefix), recursive=True, allow_not_found=True)
        skip = len(self.base) + 1
        return sorted(
            info.path[skip:]
            for info in self.filesystem.get_file_info(selector)
            if info.type == pafs.FileType.File
            and info.path.endswith(suffix)
            and not info.base_name.startswith(".")
        )

    def list_folders(self, prefix: str) -> list[str]:
        """Names of the folders right under prefix, sorted; [] when prefix does not exist."""
        selector = pafs.FileSelector(self.full_path(prefix), recursive=False, allow_not_found=True)
        return sorted(
            info.base_name
            for info in self.filesystem.get_file_info(selector)
            if info.type == pafs.FileType.Directory and not info.base_name.startswith((".", "_"))
        )

    def delete(self, relative: str) -> None:
        """Remove a file; one that is gone already is not an error (retries repeat deletes)."""
        with contextlib.suppress(FileNotFoundError):
            self.filesystem.delete_file(self.full_path(relative))

    def move(self, relative: str, target: str) -> None:
        """Move a file to another path of the lake, never losing it on the way.

        Locally one rename (atomic on one filesystem). On S3 pyarrow copies the
        object and then deletes the source, so a failure in between leaves two
        copies, never none.
        """
        destination = self.full_path(target)
        self.filesystem.create_dir(destination.rsplit("/", 1)[0], recursive=True)
        self.filesystem.move(self.full_path(relative), destination)
