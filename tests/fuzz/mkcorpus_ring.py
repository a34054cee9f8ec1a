#!/usr/bin/env python3
"""mkcorpus_ring.py DIR - write the seed corpus of fuzz_ring: rings left by
producers (see fuzz_ring.c for the input layout and ring_rec.h for records)."""
import os
import struct
import sys

WHOLE, FIRST, CONT, PAD = 1, 2, 3, 4


def rec(kind, payload, lap, size=None):
    """A record: header word (length, kind, lap), payload, padding to 8."""
    n = len(payload) if size is None else size
    body = payload + bytes(-len(payload) % 8)
    return struct.pack('<Q', n | kind << 32 | lap << 40) + body


def ring(flags, lap, off, tail, data):
    return bytes([flags, lap]) + struct.pack('<HQ', off, tail) + data


def first(total, part, lap):
    return rec(FIRST, struct.pack('<Q', total) + part, lap)


CAP = 4096
seeds = {
    # two whole messages, a caller's buffer and not
    'whole': ring(0, 1, 0, CAP + 96, rec(WHOLE, b'a' * 64, 1) +
                  rec(WHOLE, b'hello', 1)),
    'whole_mine': ring(2, 1, 0, CAP + 96, rec(WHOLE, b'a' * 64, 1) +
                       rec(WHOLE, b'hello', 1)),
    # a padding record to the end of the ring, then a message of the next lap
    'pad_wrap': ring(0, 2, CAP - 64, 3 * CAP + 16,
                     rec(WHOLE, b'z', 3) + bytes(CAP - 64 - 16) +
                     rec(PAD, bytes(56), 2)),
    # a streamed message: FIRST (total 40) and two CONT
    'stream': ring(0, 0, 0, 96, first(40, b'x' * 8, 0) +
                   rec(CONT, b'y' * 16, 0) + rec(CONT, b'z' * 16, 0)),
    # a FIRST announcing 2^40 bytes whose producer stopped: dropped
    'stream_cut': ring(0, 0, 0, 24, first(1 << 40, b'x' * 8, 0)),
    # parts adding up to more than the total
    'stream_over': ring(0, 0, 0, 64, first(16, b'x' * 8, 0) +
                        rec(CONT, b'y' * 16, 0)),
    # a CONT with no FIRST (its consumer died): skipped
    'orphan': ring(0, 0, 0, 32, rec(CONT, b'q' * 8, 0) + rec(WHOLE, b'w', 0)),
    # an unknown kind: -EPROTO, head to tail
    'bad_kind': ring(0, 0, 0, 64, rec(9, b'k' * 8, 0) + rec(WHOLE, b'w', 0)),
    # a wrong lap, a record longer than a quarter, a misaligned tail
    'bad_lap': ring(0, 5, 8, 5 * CAP + 200, bytes(8) + rec(WHOLE, b'l', 9)),
    'too_long': ring(1, 0, 0, 4096, rec(WHOLE, b'', 0, size=3000)),
    'bad_tail': ring(0, 0, 0, 13, rec(8, b'', 0)),
    # above max_message (64), and above the caller's buffer
    'max_message': ring(4, 0, 0, 96, rec(WHOLE, b'm' * 72, 0)),
    'big_for_buf': ring(2, 0, 0, 40, first(1 << 20, b'b' * 8, 0)),
    # the same after an orphan CONT, skipped (head moves, the message stays)
    'skip_big_for_buf': ring(2, 0, 0, 56, rec(CONT, b'q' * 8, 0) +
                             first(1 << 20, b'b' * 8, 0)),
    # the lap before (nothing published yet) after one record
    'old_lap': ring(0, 1, 0, CAP + 64, rec(WHOLE, b'o', 1) +
                    rec(WHOLE, b'p', 0)),
}

os.makedirs(sys.argv[1], exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(sys.argv[1], name), 'wb') as f:
        f.write(data)
