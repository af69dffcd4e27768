"""Linear heads on the embedder, stored as .npz artifacts: written byte-for-byte reproducibly and
atomically, read without pickle with their format and text normalisation checked, and loaded once
per process and path. The sentiment head (listening) and the emotion head (crisis tone) share it."""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt

from listening.nlp.normalize import NORMALIZATION_VERSION

Model = TypeVar("Model")


@dataclass(frozen=True)
class NpzArtifact:
    arrays: dict[str, npt.NDArray[Any]]  # every array but the config
    config: dict[str, Any]
    sha256: str


def npz_bytes(arrays: dict[str, npt.NDArray[Any]]) -> bytes:
    """A compressed .npz that `np.load(allow_pickle=False)` reads, byte-for-byte the same for the
    same arrays: `np.savez_compressed` stamps each member with the current time, which would give
    every retraining of an identical model a new hash."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            member = io.BytesIO()
            # (np.ascontiguousarray would turn the 0-d config string into a 1-d array.)
            np.lib.format.write_array(member, np.require(array, requirements="C"), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, member.getvalue(), compresslevel=9)
    return buffer.getvalue()


def npz_write(path: Path, *, config: dict[str, Any], arrays: dict[str, npt.NDArray[Any]]) -> str:
    """Write config and arrays, return the file's SHA-256. Written beside, then renamed: a process
    loading the artifact meanwhile reads the old file or the new one, never half of one."""
    data = npz_bytes({"config": np.array(json.dumps(config, sort_keys=True)), **arrays})
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)
    return hashlib.sha256(data).hexdigest()


def npz_read(path: Path, *, artifact_format: str, what: str, retrain: str) -> NpzArtifact:
    """The artifact at `path`, refused when it is of another format or was trained on text
    normalised another way (its weights would silently misread what the embedder now reads)."""
    data = path.read_bytes()
    with np.load(io.BytesIO(data), allow_pickle=False) as stored:
        config = json.loads(str(stored["config"].item()))
        if config.get("format") != artifact_format:
            raise ValueError(f"{path}: not {what} of format {artifact_format}")
        if config["normalization"] != NORMALIZATION_VERSION:
            raise ValueError(
                f"{path} was trained with text normalisation v{config['normalization']}, this code "
                f"normalises with v{NORMALIZATION_VERSION}: retrain it (manage.py {retrain})"
            )
        arrays = {name: stored[name] for name in stored.files if name != "config"}
    return NpzArtifact(arrays=arrays, config=config, sha256=hashlib.sha256(data).hexdigest())


class ArtifactCache(Generic[Model]):
    """One loaded model per resolved path and process, shared by every caller (thread-safe)."""

    def __init__(self) -> None:
        self._models: dict[Path, Model] = {}
        self._lock = threading.Lock()

    def get(self, path: Path | str, read: Callable[[Path], Model]) -> Model:
        resolved = Path(path).resolve()
        with self._lock:
            model = self._models.get(resolved)
            if model is None:
                model = self._models[resolved] = read(resolved)
        return model
