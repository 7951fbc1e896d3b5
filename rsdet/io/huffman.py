"""Canonical Huffman coding of small-alphabet symbol streams, in numpy.

Deep Compression (Han et al., arXiv 1510.00149, §4) Huffman-codes the cluster indices and the
sparse-position gaps of a pruned, weight-shared network. This module is that coder, written
so that a whole detector decodes in about a second:

* code lengths come from a heap merge of the symbol counts (``heapq``; at most 256 symbols),
  limited to :data:`MAX_CODE_BITS` so that one table lookup on a fixed-width bit window
  decodes a symbol;
* codes are canonical, so a stream stores only one length per symbol;
* a stream is cut into chunks of :data:`CHUNK` symbols whose bit lengths are stored, so the
  decoder advances every chunk of every stream at once: ``CHUNK`` vectorised steps in all,
  whatever the number of streams or symbols.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "CHUNK",
    "MAX_CODE_BITS",
    "Encoded",
    "canonical_codes",
    "code_lengths",
    "decode",
    "encode",
]

MAX_CODE_BITS = 16  # a window of 16 bits (+ 7 bits of byte offset) fits one uint32 read
CHUNK = 2048  # symbols per chunk; CHUNK * MAX_CODE_BITS < 2**16, so chunk sizes are uint16


@dataclass(frozen=True)
class Encoded:
    """One Huffman-coded stream.

    Attributes:
        lengths: (alphabet,) uint8 code length of each symbol; 0 for symbols never used.
        count: number of symbols in the stream.
        chunk_bits: (ceil(count / CHUNK),) uint16 bit length of each chunk of CHUNK symbols.
        data: the code bits, most significant bit first, zero-padded to a whole byte.
    """

    lengths: np.ndarray
    count: int
    chunk_bits: np.ndarray
    data: bytes


def code_lengths(counts: np.ndarray, max_bits: int = MAX_CODE_BITS) -> np.ndarray:
    """Huffman code length of each symbol (0 where the count is 0), at most ``max_bits``.

    A single used symbol gets length 1. When the optimal code is deeper than ``max_bits``,
    counts are halved (keeping every used symbol at 1 or more) until it is not: a slightly
    longer stream, never an undecodable one.
    """
    counts = np.asarray(counts, dtype=np.int64)
    if len(counts) > 2**max_bits:
        raise ValueError(f"{len(counts)} symbols cannot be coded in {max_bits} bits")
    while True:
        lengths = _heap_lengths(counts)
        if lengths.max(initial=0) <= max_bits:
            return lengths
        counts = np.where(counts > 0, np.maximum(counts // 2, 1), 0)


def _heap_lengths(counts: np.ndarray) -> np.ndarray:
    """Optimal (unlimited) code lengths: each merge deepens every symbol below it by one."""
    lengths = np.zeros(len(counts), dtype=np.int64)
    used = np.flatnonzero(counts)
    if len(used) == 1:
        lengths[used] = 1
        return lengths
    heap = [(int(counts[s]), int(s), [int(s)]) for s in used]
    heapq.heapify(heap)
    while len(heap) > 1:
        c1, t1, s1 = heapq.heappop(heap)
        c2, t2, s2 = heapq.heappop(heap)
        lengths[s1 + s2] += 1
        heapq.heappush(heap, (c1 + c2, min(t1, t2), s1 + s2))
    return lengths


def canonical_codes(lengths: np.ndarray) -> np.ndarray:
    """Canonical code of each symbol (uint32): shorter codes first, then by symbol."""
    lengths = np.asarray(lengths, dtype=np.int64)
    codes = np.zeros(len(lengths), dtype=np.uint32)
    code, previous = 0, 0
    for s in np.lexsort((np.arange(len(lengths)), lengths)):
        if lengths[s] == 0:
            continue
        code <<= int(lengths[s]) - previous
        codes[s], previous = code, int(lengths[s])
        code += 1
    return codes


def encode(symbols: np.ndarray, alphabet: int) -> Encoded:
    """Huffman-code ``symbols`` (integers in ``[0, alphabet)``) with a code fitted to them."""
    symbols = np.asarray(symbols, dtype=np.int64).ravel()
    if len(symbols) and (symbols.min() < 0 or symbols.max() >= alphabet):
        raise ValueError(f"symbols outside [0, {alphabet})")
    lengths = code_lengths(np.bincount(symbols, minlength=alphabet))
    codes = canonical_codes(lengths).astype(np.int64)
    sym_bits = lengths[symbols]
    ends = np.cumsum(sym_bits)
    chunk_ends = ends[np.minimum(np.arange(CHUNK, len(symbols) + CHUNK, CHUNK), len(symbols)) - 1]
    chunk_bits = np.diff(chunk_ends, prepend=0).astype(np.uint16)
    parts = [_bits(codes[symbols[i : i + 2**20]], sym_bits[i : i + 2**20])
             for i in range(0, len(symbols), 2**20)]  # fmt: skip
    bits = np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint8)
    return Encoded(lengths.astype(np.uint8), len(symbols), chunk_bits, np.packbits(bits).tobytes())


def _bits(codes: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The code bits of a run of symbols, one uint8 per bit (memory: 1 byte per bit)."""
    total = int(lengths.sum())
    starts = np.cumsum(lengths) - lengths
    k = np.arange(total) - np.repeat(starts, lengths)  # bit index within its code
    shift = np.repeat(lengths, lengths) - 1 - k
    bits: np.ndarray = ((np.repeat(codes, lengths) >> shift) & 1).astype(np.uint8)
    return bits


def decode(streams: Sequence[Encoded]) -> list[np.ndarray]:
    """Decode many streams at once; one int64 array of symbols per stream.

    Every chunk of every stream advances in the same vectorised step: a table lookup on the
    next ``L`` bits (``L``: the stream's longest code) gives the symbol and its length.
    """
    tables, table_off, data_off = _tables(streams)
    buf = b"".join(s.data for s in streams)
    # room for chunks that run past their end (a short last chunk keeps stepping) + 4 bytes
    raw = np.frombuffer(buf + bytes(CHUNK * MAX_CODE_BITS // 8 + 8), dtype=np.uint8)
    words = (
        raw[:-3].astype(np.uint64) << 24
        | raw[1:-2].astype(np.uint64) << 16
        | raw[2:-1].astype(np.uint64) << 8
        | raw[3:].astype(np.uint64)
    )
    p, sh, to = _chunk_starts(streams, table_off, data_off)
    sym_table, len_table = tables
    out = np.empty((len(p), CHUNK), dtype=np.int64)
    steps = max((min(s.count, CHUNK) for s in streams), default=0)
    for j in range(steps):
        window = ((words[p >> 3] << (p & 7).astype(np.uint64)) & 0xFFFFFFFF) >> sh
        idx = to + window.astype(np.int64)
        out[:, j] = sym_table[idx]
        p += len_table[idx]
    return _split(out, streams)


def _chunk_starts(
    streams: Sequence[Encoded], table_off: list[int], data_off: list[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per chunk of every stream: first bit, window shift (32 - L), its table's offset."""
    pos, shift, toff = [np.zeros(0, np.int64)], [np.zeros(0, np.uint64)], [np.zeros(0, np.int64)]
    for i, s in enumerate(streams):
        n = len(s.chunk_bits)
        starts = np.cumsum(s.chunk_bits.astype(np.int64)) - s.chunk_bits.astype(np.int64)
        pos.append(data_off[i] * 8 + starts)
        width = max(int(s.lengths.max(initial=1)), 1)
        shift.append(np.full(n, 32 - width, dtype=np.uint64))
        toff.append(np.full(n, table_off[i], dtype=np.int64))
    return np.concatenate(pos), np.concatenate(shift), np.concatenate(toff)


def _tables(
    streams: Sequence[Encoded],
) -> tuple[tuple[np.ndarray, np.ndarray], list[int], list[int]]:
    """Lookup tables of all streams, flat: (symbol, length) for every ``L``-bit window."""
    syms, lens, table_off, data_off = [], [], [], []
    t, d = 0, 0
    for s in streams:
        lengths = s.lengths.astype(np.int64)
        width = max(int(lengths.max(initial=1)), 1)
        codes = canonical_codes(lengths).astype(np.int64)
        sym = np.zeros(2**width, dtype=np.int64)
        ln = np.ones(2**width, dtype=np.int64)  # unused windows (incomplete code): never read
        for symbol in np.flatnonzero(lengths):
            lo = codes[symbol] << (width - lengths[symbol])
            hi = (codes[symbol] + 1) << (width - lengths[symbol])
            sym[lo:hi], ln[lo:hi] = symbol, lengths[symbol]
        syms.append(sym)
        lens.append(ln)
        table_off.append(t)
        data_off.append(d)
        t, d = t + len(sym), d + len(s.data)
    if not syms:
        return (np.zeros(1, np.int64), np.ones(1, np.int64)), [], []
    return (np.concatenate(syms), np.concatenate(lens)), table_off, data_off


def _split(out: np.ndarray, streams: Sequence[Encoded]) -> list[np.ndarray]:
    """Cut the (chunks, CHUNK) matrix back into one symbol array per stream."""
    result, row = [], 0
    for s in streams:
        n_chunks = len(s.chunk_bits)
        result.append(out[row : row + n_chunks].ravel()[: s.count].copy())
        row += n_chunks
    return result
