#!/usr/bin/env python3
"""mkcorpus_mpi_wire.py DIR - write the seed corpus of fuzz_mpi_wire: the
messages of src/mpi/wire.h (native layout, x86-64 little-endian) that rank 0
and the worker ranks exchange, one small file each."""
import os
import struct
import sys

MAGIC = 0x4d50574d
TASKS, RESULTS, STOP, BEAT, BYE = 1, 2, 3, 4, 5
STOP_FNID = 0xffffffff
KILL_FNID = 0xfffffffe  # mp_future_kill: a record in MPW_TASKS


def rec(slot, status, fnid, count, in_size, out_size, data):
    pad = b'\0' * (-len(data) % 8)
    return struct.pack('<IiIIQQQ', slot, status, fnid, count, in_size,
                       out_size, len(data)) + data + pad


def msg(type_, recs):
    body = b''.join(recs)
    return struct.pack('<IIIIQ', MAGIC, type_, len(recs), 0,
                       24 + len(body)) + body


seeds = {
    'tasks_apply': msg(TASKS, [rec(0, 0, 3, 1, 4, 0, b'\x15\0\0\0'),
                               rec(1, 0, 3, 1, 0, 0, b'')]),
    'tasks_kill': msg(TASKS, [rec(5, 0, KILL_FNID, 0, 0, 0, b''),
                              rec(6, 0, 3, 1, 0, 0, b'')]),
    'tasks_map': msg(TASKS, [rec(2, 0, 1, 3, 8, 8, struct.pack('<3q', 1, 2, 3))]),
    'results': msg(RESULTS, [rec(0, 0, 0, 0, 0, 0, b'*\0\0\0'),
                             rec(1, -1004, 0, 0, 0, 0, b'ValueError: bad')]),
    'stop': msg(STOP, [rec(0, 1, STOP_FNID, 0, 0, 0, b'')]),
    'beat': msg(BEAT, []),
    'bye': msg(BYE, [rec(0, 0, STOP_FNID, 0, 0, 0, b'')]),
    'truncated': msg(RESULTS, [rec(0, 0, 0, 0, 0, 0, b'abcdefghij')])[:-5],
    'long_len': msg(RESULTS, [rec(0, 0, 0, 0, 0, 0, b'')])[:-8] +
                struct.pack('<Q', 1 << 62),
}
os.makedirs(sys.argv[1], exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(sys.argv[1], name), 'wb') as f:
        f.write(data)
