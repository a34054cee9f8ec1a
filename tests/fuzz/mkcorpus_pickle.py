#!/usr/bin/env python3
"""mkcorpus_pickle.py DIR - write the seed corpus of fuzz_pickle: CPython's
own pickles (run it with CPython 3.11) of every value shape the manager
carries, in protocols 2 to 5, one small file each."""
import collections
import os
import pickle
import queue
import sys
import threading
from multiprocessing.managers import (AcquirerProxy, AutoProxy, DictProxy,
                                      ListProxy, RemoteError, Token)

shared = [1, 'two']
addr = ('127.0.0.1', 5000)


def proxy(cls, typeid, ident, **kw):
    """A proxy as a value (never connected: no incref)."""
    return cls(Token(typeid, addr, ident), 'pickle', authkey=b'k',
               incref=False, **kw)


values = {
    'none': None, 'bools': (True, False), 'ints': [0, 255, 65535, -1, 2**31,
                                                   -2**31 - 1],
    'bigints': [2**64, -2**64, 10**40, -(10**40)],
    'floats': [0.5, -0.0, float('inf'), float('nan'), 1e300],
    'str': ['', 'ascii', 'caf\u00e9 \u4e2d \U0001f600', 'q\'"\n'],
    'bytes': [b'', b'\x00\xff', b'abc'], 'tuples': ((), (1,), (1, 2),
                                                    (1, 2, 3), (1, 2, 3, 4)),
    'nested': [[1, [2, [3, [4]]]], {'k': {'k': {'k': None}}}],
    'dict': {'a': 1, 2: 'b', (3, 4): [5], 6.5: None, frozenset({7}): True},
    'sets': [set(), {1, 2, 3}, frozenset(), frozenset({'x'})],
    'memo': [shared, shared, (shared, shared)],
    'exceptions': [KeyError('k'), IndexError('list index out of range'),
                   ValueError('v', 1), queue.Empty(), queue.Full(),
                   threading.BrokenBarrierError(), OSError(2, 'x')],
    'token': Token('dict', ('127.0.0.1', 5000), '7f3a1c'),
    'remote': ('#ERROR', RemoteError('Traceback (most recent call last)')),
    'reply': ('#RETURN', {'balance': 4000}),
    'request': ('7f3a1c', '__setitem__', ('balance', 1), {}),
    'ordered': collections.OrderedDict(b=1, a=2),
    'bytearray': bytearray(b'ba'),
    'slices': [slice(1, None, 2), slice(-3, 2**70), slice('a', 2.5, [1])],
    'long_list': list(range(1100)),
    'proxy_list': proxy(ListProxy, 'list', '7f3a1c'),
    'proxy_auto': proxy(AutoProxy, 'Queue', '7f3a20',
                        exposed=('get', 'put')),
    'proxies_nested': {'inner': proxy(DictProxy, 'dict', '7f3a28'),
                       'lock': [proxy(AcquirerProxy, 'Lock', '7f3a30')]},
}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, v in values.items():
        for p in (2, 3, 4, 5):
            with open(os.path.join(out, '%s_p%d' % (name, p)), 'wb') as f:
                f.write(pickle.dumps(v, p))


if __name__ == '__main__':
    main()
