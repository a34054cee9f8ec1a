#!/usr/bin/env python3
"""mkcorpus_manager.py DIR - write the seed corpus of fuzz_manager_request:
the requests CPython 3.11's manager proxies send (pickled as
multiprocessing.connection sends them), protocols 2 to 5, each file a phase
byte (0: a connection's first request, a public function; 1: a method
call) and the pickle.  Idents name the harness's objects."""
import os
import pickle
import sys
from multiprocessing.managers import AutoProxy, ListProxy, Token

tok = Token('dict', ('127.0.0.1', 5000), 'd')


def proxy(cls, typeid, ident, **kw):
    """A proxy as a value (never connected: no incref)."""
    return cls(Token(typeid, ('127.0.0.1', 5000), ident), 'pickle',
               authkey=b'k', incref=False, **kw)


public = {
    'dummy': (None, 'dummy', (), {}),
    'create_dict': (None, 'create', ('dict', {'a': 1}), {}),
    'create_dict_kw': (None, 'create', ('dict',), {'balance': 0}),
    'create_list': (None, 'create', ('list', [1, 2.5, 'x']), {}),
    'create_ns': (None, 'create', ('Namespace',), {}),
    'create_lock': (None, 'create', ('Lock',), {}),
    'create_sem': (None, 'create', ('Semaphore', 3), {}),
    'create_bad': (None, 'create', ('Pool',), {}),
    'incref': (None, 'incref', ('d',), {}),
    'decref': (None, 'decref', ('l',), {}),
    'accept': (None, 'accept_connection', ('MainProcess',), {}),
    'get_methods': (None, 'get_methods', (tok,), {}),
    'count': (None, 'number_of_objects', (), {}),
    'debug': (None, 'debug_info', (), {}),
    'unknown': (None, 'nosuch', (), {}),
}
methods = {
    'd_set': ('d', '__setitem__', ('balance', 2**70), {}),
    'd_get': ('d', '__getitem__', ('balance',), {}),
    'd_get_missing': ('d', '__getitem__', ((1, 2),), {}),
    'd_del': ('d', '__delitem__', ('x',), {}),
    'd_update': ('d', 'update', ({'k': [None, b'b']},), {'z': 1.5}),
    'd_update_pairs': ('d', 'update', ([('k', 1), ['j', [2]], 5],),
                       {'z': 0}),
    'd_pop': ('d', 'pop', ('k', 'default'), {}),
    'd_setdefault': ('d', 'setdefault', (frozenset({1}), ()), {}),
    'd_items': ('d', 'items', (), {}),
    'd_popitem': ('d', 'popitem', (), {}),
    'd_len': ('d', '__len__', (), {}),
    'd_unexposed': ('d', 'nosuch', (), {}),
    'd_repr': ('d', '__repr__', (), {}),
    'd_getvalue': ('d', '#GETVALUE', (), {}),
    'd_iter': ('d', '__iter__', (), {}),
    'l_append': ('l', 'append', ({'nested': [1, 2]},), {}),
    'l_extend': ('l', 'extend', ([3, 1, 2],), {}),
    'l_insert': ('l', 'insert', (-1, 'x'), {}),
    'l_get': ('l', '__getitem__', (-2,), {}),
    'l_set': ('l', '__setitem__', (0, 0.5), {}),
    'l_sort': ('l', 'sort', (), {'reverse': True}),
    'l_pop': ('l', 'pop', (), {}),
    'l_index': ('l', 'index', (3,), {}),
    'l_imul': ('l', '__imul__', (0,), {}),
    'l_get_slice': ('l', '__getitem__', (slice(-1, None, -2),), {}),
    'l_set_slice': ('l', '__setitem__', (slice(None, None, 2), [7, 8]), {}),
    'l_del_slice': ('l', '__delitem__', (slice(1, -2**70, -1),), {}),
    'n_set': ('n', '__setattr__', ('x', 1), {}),
    'n_get': ('n', '__getattribute__', ('y',), {}),
    'n_del': ('n', '__delattr__', ('x',), {}),
    'lock_acquire': ('lock', 'acquire', (True, 0.5), {}),
    'lock_release': ('lock', 'release', (), {}),
    'rlock_acquire': ('rlock', 'acquire', (False,), {}),
    'sem_release': ('sem', 'release', (), {'n': 2}),
    'cond_wait': ('cond', 'wait', (0.0,), {}),
    'cond_notify': ('cond', 'notify', (1,), {}),
    'ev_set': ('ev', 'set', (), {}),
    'ev_wait': ('ev', 'wait', (None,), {}),
    'q_put': ('q', 'put', ({'task': 1},), {}),
    'q_put_timeout': ('q', 'put', (2, True, 0.5), {}),
    'q_get': ('q', 'get', (), {'timeout': 1.0}),
    'q_get_nowait': ('q', 'get_nowait', (), {}),
    'q_qsize': ('q', 'qsize', (), {}),
    'q_task_done': ('q', 'task_done', (), {}),
    'q_join': ('q', 'join', (), {}),
    'v_set': ('v', 'set', (8,), {}),
    'v_get': ('v', 'get', (), {}),
    'a_set': ('a', '__setitem__', (1, 5), {}),
    'a_get': ('a', '__getitem__', (-1,), {}),
    'a_len': ('a', '__len__', (), {}),
    'a_get_slice': ('a', '__getitem__', (slice(None, None, -1),), {}),
    'a_set_slice': ('a', '__setitem__', (slice(0, 2), [1, 2]), {}),
    'bs_release': ('bs', 'release', (), {}),
    'bs_acquire': ('bs', 'acquire', (False,), {}),
    'bar_wait': ('bar', 'wait', (None,), {}),
    'bar_attr': ('bar', '__getattribute__', ('parties',), {}),
    'bar_abort': ('bar', 'abort', (), {}),
    'create_queue': (None, 'create', ('JoinableQueue', 2), {}),
    'create_value': (None, 'create', ('Value', 'd', 1.5), {}),
    'create_array': (None, 'create', ('Array', 'i', [1, 2, 3]), {}),
    'create_barrier': (None, 'create', ('Barrier', 2, None, 1.0), {}),
    'unknown_ident': ('zz', '__len__', (), {}),
    'd_set_proxy': ('d', '__setitem__',
                    ('inner', proxy(ListProxy, 'list', 'l')), {}),
    'l_append_proxy': ('l', 'append', ([proxy(AutoProxy, 'Queue', '40',
                                              exposed=('get',))],), {}),
    'create_list_proxy': (None, 'create',
                          ('list', [proxy(ListProxy, 'list', 'l')]), {}),
    'incref_hex': (None, 'incref', ('40',), {}),
}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name in [n for n, r in methods.items() if r[0] is None]:
        public[name] = methods.pop(name)
    for phase, reqs in ((0, public), (1, methods)):
        for name, req in reqs.items():
            for p in (2, 3, 4, 5):
                with open(os.path.join(out, '%s_p%d' % (name, p)), 'wb') as f:
                    f.write(bytes([phase]) + pickle.dumps(req, p))


if __name__ == '__main__':
    main()
