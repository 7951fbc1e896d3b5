r"""``.rsdz``: a Deep-Compression model file that decodes to an ordinary fp32 checkpoint.

Written by ``rsdet compress`` (:mod:`rsdet.compress`), read wherever a checkpoint is read:
:func:`rsdet.models.checkpoint.read_checkpoint` recognises the magic bytes, so
``rsdet detect / eval / info --model small.rsdz`` and ``rsdet.load_model`` need nothing else.
The reader lives here, below the zoo, because every model loader sits on this layer; the
encoder side (pruning, k-means, fine-tuning) is in :mod:`rsdet.compress`, above the engine.

Layout (all integers little-endian)::

    magic   8 bytes  b"RSDZ\\r\\n\\x1a\\n"
    version uint32   2 (version 1 files, without fill / float16 entries, still read)
    n       uint64   length of the header
    header  n bytes  zlib-compressed UTF-8 JSON: format, spec (ModelSpec), arch_config,
                     provenance, compression (the per-stage report), tensors (table below)
    payload          the blobs the header points to, as (offset, length) into the payload
    sha256  32 bytes of everything before it

Each tensor of the state dict is either ``raw`` (its bytes, any dtype: biases, BatchNorm,
layers kept at full precision; a tensor of one repeated value stores just that ``fill``
value, and a float32 tensor whose values are all float16 values is ``stored`` as float16,
both decoded back exactly) or ``shared``: a float32 codebook, the cluster index of each
kept weight and the gaps between kept positions (flat, row-major), both Huffman-coded
(:mod:`rsdet.io.huffman`). A gap symbol ``g < 255`` skips ``g`` zeros and places the next
weight; ``255`` skips 255 zeros and places nothing (Deep Compression's filler, §2). A tensor
that keeps every weight stores no gaps. Decoding gives exactly the weights that were
compressed: ``codebook[index]`` at the kept positions and 0.0 elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rsdet.config import ConfigError, from_dict, to_dict
from rsdet.io.atomic import write_bytes_atomic
from rsdet.io.huffman import CHUNK, Encoded, decode, encode
from rsdet.models.checkpoint import Checkpoint, CheckpointError
from rsdet.models.spec import ModelSpec

__all__ = [
    "FORMAT",
    "MAGIC",
    "VERSION",
    "SharedTensor",
    "TensorSize",
    "is_rsdz",
    "read_rsdz",
    "write_rsdz",
]

MAGIC = b"RSDZ\r\n\x1a\n"
VERSION = 2  # 2 added ``fill`` and float16-``stored`` raw entries
_READS = (1, 2)
FORMAT = "rsdet-rsdz"
GAP_SKIP = 255  # the filler gap symbol: 255 zeros, no weight
_PREFIX = struct.Struct("<8sIQ")
_DTYPES = {
    "float32": torch.float32, "float16": torch.float16, "float64": torch.float64,
    "int64": torch.int64, "int32": torch.int32, "uint8": torch.uint8, "bool": torch.bool,
}  # fmt: skip


@dataclass(frozen=True)
class SharedTensor:
    """A pruned, weight-shared tensor as the encoder hands it over.

    Attributes:
        shape: the tensor's shape.
        codebook: (k,) float32 shared weights (k <= 256).
        positions: (n,) int64 increasing flat (row-major) positions of the kept weights.
        index: (n,) int64 codebook index of each kept weight.
    """

    shape: tuple[int, ...]
    codebook: np.ndarray
    positions: np.ndarray
    index: np.ndarray

    def dense(self) -> torch.Tensor:
        """The float32 tensor this stands for (what :func:`read_rsdz` gives back)."""
        flat = np.zeros(int(np.prod(self.shape)), dtype=np.float32)
        flat[self.positions] = self.codebook.astype(np.float32)[self.index]
        return torch.from_numpy(flat).reshape(self.shape)


@dataclass(frozen=True)
class TensorSize:
    """Bytes one tensor takes in the file (the header's JSON not counted)."""

    name: str
    kind: str  # "raw" | "shared"
    weights: int  # elements of the tensor
    kept: int  # non-pruned elements
    index_bytes: int  # Huffman-coded cluster indices (0 for raw)
    gap_bytes: int  # Huffman-coded gaps and chunk tables (0 for raw / unpruned)
    other_bytes: int  # codebook, or the raw bytes


def is_rsdz(path: str | Path) -> bool:
    """Whether ``path`` starts with the ``.rsdz`` magic bytes."""
    try:
        with open(path, "rb") as f:
            return f.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def write_rsdz(
    path: str | Path,
    ckpt: Checkpoint,
    shared: dict[str, SharedTensor],
    compression: dict[str, Any],
) -> list[TensorSize]:
    """Write ``ckpt`` atomically, the tensors named in ``shared`` in coded form.

    Args:
        path: the file to write.
        ckpt: spec, arch config, provenance and the state dict (``train_state`` is dropped).
        shared: the weight-shared tensors, by state-dict name (they replace those entries).
        compression: plain data stored as the header's ``compression`` (the stage report).

    Returns:
        What each tensor costs, in state-dict order.
    """
    payload = bytearray()

    def blob(data: bytes) -> list[int]:
        payload.extend(data)
        return [len(payload) - len(data), len(data)]

    table, sizes = [], []
    for name, tensor in ckpt.state_dict.items():
        if name in shared:
            entry, size = _shared_entry(name, shared[name], blob)
        else:
            entry, size = _raw_entry(name, tensor, blob)
        table.append(entry)
        sizes.append(size)
    header = {
        "format": FORMAT,
        "version": VERSION,
        "chunk": CHUNK,
        "spec": to_dict(ckpt.spec),
        "arch_config": ckpt.arch_config,
        "provenance": ckpt.provenance,
        "compression": compression,
        "tensors": table,
    }
    head = zlib.compress(json.dumps(header, separators=(",", ":")).encode(), 9)
    body = _PREFIX.pack(MAGIC, VERSION, len(head)) + head + bytes(payload)
    write_bytes_atomic(Path(path), body + hashlib.sha256(body).digest())
    return sizes


def _raw_entry(name: str, tensor: torch.Tensor, blob: Any) -> tuple[dict[str, Any], TensorSize]:
    """A tensor stored as its bytes."""
    dtype = str(tensor.dtype).removeprefix("torch.")
    if dtype not in _DTYPES:
        raise CheckpointError(f"{name}: dtype {dtype} cannot be stored in .rsdz")
    flat = tensor.detach().cpu().contiguous().reshape(-1)
    entry: dict[str, Any] = {"name": name, "kind": "raw", "shape": list(tensor.shape),
                             "dtype": dtype}  # fmt: skip
    n, data = tensor.numel(), flat.numpy().tobytes()
    if n and data == data[: flat.element_size()] * n:  # bitwise: -0.0 is not 0.0 here
        entry["fill"] = flat[0].item()  # a Python float holds any float32 exactly
        return entry, TensorSize(name, "raw", n, n, 0, 0, 0)
    if tensor.dtype == torch.float32 and torch.equal(flat.half().float(), flat):
        flat, entry["stored"] = flat.half(), "float16"  # lossless: values are float16 values
    data = flat.numpy().tobytes()
    entry["data"] = blob(data)
    return entry, TensorSize(name, "raw", n, n, 0, 0, len(data))


def _shared_entry(name: str, t: SharedTensor, blob: Any) -> tuple[dict[str, Any], TensorSize]:
    """A weight-shared tensor: codebook, coded indices, coded gaps (none when unpruned)."""
    numel, kept = int(np.prod(t.shape)), len(t.positions)
    codebook = t.codebook.astype("<f4")
    index = encode(t.index, len(codebook))
    entry: dict[str, Any] = {
        "name": name, "kind": "shared", "shape": list(t.shape), "dtype": "float32",
        "kept": kept, "codebook": blob(codebook.tobytes()), "index": _stream(index, blob),
        "gaps": None,
    }  # fmt: skip
    gap_bytes = 0
    if kept < numel:
        gaps = encode(_gap_symbols(t.positions), GAP_SKIP + 1)
        entry["gaps"] = _stream(gaps, blob)
        gap_bytes = _stream_bytes(gaps)
    size = TensorSize(name, "shared", numel, kept, _stream_bytes(index), gap_bytes, codebook.nbytes)
    return entry, size


def _stream(e: Encoded, blob: Any) -> dict[str, Any]:
    return {
        "count": e.count,
        "lengths": blob(e.lengths.astype(np.uint8).tobytes()),
        "chunk_bits": blob(e.chunk_bits.astype("<u2").tobytes()),
        "data": blob(e.data),
    }


def _stream_bytes(e: Encoded) -> int:
    return len(e.data) + 2 * len(e.chunk_bits) + len(e.lengths)


def _gap_symbols(positions: np.ndarray) -> np.ndarray:
    """Gap symbols of increasing flat positions (see the module docstring)."""
    gaps = np.diff(np.asarray(positions, dtype=np.int64), prepend=-1) - 1
    skips = gaps // GAP_SKIP  # filler symbols before each weight
    rest = gaps - skips * GAP_SKIP
    out = np.full(int(skips.sum()) + len(gaps), GAP_SKIP, dtype=np.int64)
    out[np.cumsum(skips + 1) - 1] = rest
    return out


def _positions(symbols: np.ndarray) -> np.ndarray:
    """Flat positions from gap symbols (the inverse of :func:`_gap_symbols`)."""
    advance = np.where(symbols == GAP_SKIP, GAP_SKIP, symbols + 1)
    positions: np.ndarray = np.cumsum(advance)[symbols != GAP_SKIP] - 1
    return positions


def read_rsdz(path: str | Path) -> Checkpoint:
    """Read an ``.rsdz`` file back into an ordinary checkpoint (float32 state dict).

    Raises:
        CheckpointError: a missing, truncated or corrupt file (checksum), an unknown
            version, or a header that does not describe the payload; the message names
            the file.
    """
    path = Path(path)
    try:
        body = path.read_bytes()
    except OSError as err:
        raise CheckpointError(f"{path}: cannot read ({err.strerror})") from err
    header, payload = _verified(path, body)
    try:
        spec = from_dict(ModelSpec, header["spec"])
        state = _tensors(header["tensors"], payload)
    except (ConfigError, KeyError, TypeError, ValueError, IndexError) as err:
        raise CheckpointError(
            f"{path}: invalid .rsdz header ({type(err).__name__}: {err})"
        ) from err
    provenance = dict(header.get("provenance", {}))
    provenance["compression"] = header.get("compression", {})
    return Checkpoint(spec, dict(header.get("arch_config", {})), state, provenance)


def _verified(path: Path, body: bytes) -> tuple[dict[str, Any], bytes]:
    """The header and payload of a file whose magic, version and checksum are right."""
    if len(body) < _PREFIX.size + 32 or body[: len(MAGIC)] != MAGIC:
        raise CheckpointError(f"{path}: not an .rsdz file, or truncated")
    _, version, n = _PREFIX.unpack_from(body)
    if version not in _READS:
        reads = ", ".join(map(str, _READS))
        raise CheckpointError(f"{path}: .rsdz version {version}; this rsdet reads {reads}")
    if hashlib.sha256(body[:-32]).digest() != body[-32:]:
        raise CheckpointError(f"{path}: corrupt or truncated .rsdz file (checksum mismatch)")
    try:
        header = json.loads(zlib.decompress(body[_PREFIX.size : _PREFIX.size + n]))
    except (ValueError, zlib.error) as err:
        raise CheckpointError(f"{path}: unreadable .rsdz header ({err})") from err
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an rsdet .rsdz model")
    if header.get("chunk") != CHUNK:
        raise CheckpointError(f"{path}: .rsdz chunk size {header.get('chunk')}, expected {CHUNK}")
    return header, body[_PREFIX.size + n : -32]


def _tensors(table: list[dict[str, Any]], payload: bytes) -> dict[str, torch.Tensor]:
    """The state dict: raw tensors copied, shared ones decoded in one batch."""

    def take(ref: list[int]) -> bytes:
        start, length = int(ref[0]), int(ref[1])
        if start < 0 or length < 0 or start + length > len(payload):
            raise ValueError(f"blob {ref} outside the payload of {len(payload)} bytes")
        return payload[start : start + length]

    def stream(s: dict[str, Any]) -> Encoded:
        lengths = np.frombuffer(take(s["lengths"]), dtype=np.uint8)
        chunks = np.frombuffer(take(s["chunk_bits"]), dtype="<u2")
        return Encoded(lengths, int(s["count"]), chunks, take(s["data"]))

    shared = [t for t in table if t["kind"] == "shared"]
    coded = [stream(t["index"]) for t in shared]
    coded += [stream(t["gaps"]) for t in shared if t["gaps"] is not None]
    decoded = iter(decode(coded))
    indices = {t["name"]: next(decoded) for t in shared}
    gaps = {t["name"]: next(decoded) for t in shared if t["gaps"] is not None}
    state: dict[str, torch.Tensor] = {}
    for t in table:
        shape = tuple(int(d) for d in t["shape"])
        if t["kind"] == "raw":
            state[t["name"]] = _raw(t, shape, take)
            continue
        codebook = np.frombuffer(take(t["codebook"]), dtype="<f4")
        numel = int(np.prod(shape))
        pos = _positions(gaps[t["name"]]) if t["name"] in gaps else np.arange(numel)
        index = indices[t["name"]]
        if len(pos) != int(t["kept"]) or len(index) != len(pos) or (len(pos) and pos[-1] >= numel):
            raise ValueError(f"{t['name']}: coded positions do not fit shape {list(shape)}")
        state[t["name"]] = SharedTensor(shape, codebook, pos, index).dense()
    return state


def _raw(t: dict[str, Any], shape: tuple[int, ...], take: Any) -> torch.Tensor:
    """A raw entry: one repeated value (``fill``), or its bytes, maybe stored as float16."""
    dtype = _numpy_dtype(t["dtype"])
    if "fill" in t:
        return torch.from_numpy(np.full(shape, t["fill"], dtype=dtype))
    array = np.frombuffer(take(t["data"]), dtype=_numpy_dtype(t.get("stored", t["dtype"])))
    return torch.from_numpy(array.astype(dtype)).reshape(shape)


def _numpy_dtype(name: str) -> np.dtype[Any]:
    if name not in _DTYPES:
        raise ValueError(f"unknown dtype {name!r}")
    dtype: np.dtype[Any] = np.dtype(name).newbyteorder("<")
    return dtype
