"""Canonical Huffman coding: optimal lengths (against a plain heapq reference), exact round
trips, and one batched decode of many streams."""

import heapq

import numpy as np
import pytest

from rsdet.io.huffman import CHUNK, MAX_CODE_BITS, canonical_codes, code_lengths, decode, encode


def reference_cost(counts):
    """Bits of an optimal prefix code: the sum of every merge's weight (textbook Huffman)."""
    heap = [int(c) for c in counts if c > 0]
    if len(heap) == 1:
        return heap[0]
    heapq.heapify(heap)
    cost = 0
    while len(heap) > 1:
        merged = heapq.heappop(heap) + heapq.heappop(heap)
        cost += merged
        heapq.heappush(heap, merged)
    return cost


def reference_encode(symbols, lengths):
    """Bit string of the canonical code, built symbol by symbol in plain Python."""
    order = sorted((int(n), s) for s, n in enumerate(lengths) if n > 0)
    code, prev, table = 0, 0, {}
    for n, s in order:
        code <<= n - prev
        table[s] = format(code, f"0{n}b")
        prev, code = n, code + 1
    return "".join(table[int(s)] for s in symbols)


@pytest.mark.parametrize("seed", range(6))
def test_code_lengths_are_optimal_like_the_reference(seed):
    rng = np.random.default_rng(seed)
    alphabet = int(rng.integers(2, 257))
    symbols = np.clip(rng.normal(alphabet / 2, alphabet / 8, 20_000), 0, alphabet - 1).astype(int)
    counts = np.bincount(symbols, minlength=alphabet)
    lengths = code_lengths(counts)
    assert int((lengths * counts).sum()) == reference_cost(counts)
    used = lengths[counts > 0].astype(float)
    assert np.isclose((2.0**-used).sum(), 1.0)  # a complete prefix code (Kraft equality)


@pytest.mark.parametrize("seed", range(4))
def test_the_bits_are_the_canonical_code_of_each_symbol(seed):
    rng = np.random.default_rng(seed)
    symbols = rng.integers(0, 32, 3000) * (rng.random(3000) < 0.7)  # skewed towards 0
    encoded = encode(symbols, 32)
    bits = "".join(format(b, "08b") for b in encoded.data)
    expected = reference_encode(symbols, encoded.lengths)
    assert bits[: len(expected)] == expected and set(bits[len(expected) :]) <= {"0"}


def test_many_random_streams_decode_exactly_in_one_batch():
    rng = np.random.default_rng(7)
    streams = []
    for n, alphabet in [(0, 4), (1, 4), (3, 1), (CHUNK, 2), (CHUNK + 1, 32), (50_000, 256)]:
        streams.append(rng.integers(0, alphabet, n) if n else np.zeros(0, dtype=int))
    streams.append(np.minimum(rng.geometric(0.3, 40_000) - 1, 255))  # gap-like, long tail
    decoded = decode([encode(s, max(int(s.max(initial=0)) + 1, 1)) for s in streams])
    for got, want in zip(decoded, streams, strict=True):
        np.testing.assert_array_equal(got, want)


def test_code_lengths_are_limited_so_one_table_lookup_decodes():
    fibonacci = [1, 1]
    while len(fibonacci) < 40:
        fibonacci.append(fibonacci[-1] + fibonacci[-2])  # the deepest optimal tree: 39 bits
    counts = np.array(fibonacci)
    assert code_lengths(counts).max() == MAX_CODE_BITS
    symbols = np.repeat(np.arange(40), np.minimum(counts, 3000))
    np.testing.assert_array_equal(decode([encode(symbols, 40)])[0], symbols)


def test_canonical_codes_order_by_length_then_symbol():
    codes = canonical_codes(np.array([2, 1, 3, 3]))
    assert [format(int(c), "b") for c in codes] == ["10", "0", "110", "111"]
