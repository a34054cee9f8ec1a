/* test_manager.c - the manager's local side: its shared objects (dict,
 * list, Namespace, Queue, Value, Array, sync objects, nested proxies)
 * from threads and processes, clients killed mid-update, the server
 * process's life.  The remote side: test_manager_remote.c. */
#include "mptest_fs.h"
#include "mptest_obj.h"
#include "mptest_py.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#include "internal/travel.h"
#include "manager/mgr_int.h"
#include "mproc/manager.h"
#include "mproc/process.h"
#include "mproc/subprocess.h"

/* ---- the manager and its shared objects ---- */

#define assert_err(call, rc, text)                                            \
	do {                                                                  \
		int rc_ = (call);                                             \
		if (rc_ != (rc) || strstr(mp_last_error(), (text)) == NULL)   \
			print_error("%s = %d (%s), want %d and '%s'\n", #call,  \
				    rc_, mp_last_error(), (rc), (text));      \
		assert_int_equal(rc_, (rc));                                  \
		assert_non_null(strstr(mp_last_error(), (text)));             \
	} while (0)

static mp_manager_t *mgr_new(void)
{
	mp_manager_t *m = mp_manager_new(NULL);

	assert_non_null(m);
	return m;
}

/* What a getter gave: v's repr (v is freed), "<code>" when rc < 0. */
static char *got_repr(int rc, mp_obj_t *v)
{
	static char buf[4][256];
	static int n;
	char *b = buf[n++ % 4];

	if (rc < 0)
		snprintf(b, 256, "<%d>", rc);
	else
		snprintf(b, 256, "%s", repr_of(v));
	mp_obj_free(v);
	return b;
}

/* d[k] as a repr, "<code>" when it fails. */
static char *dget(mp_dictproxy_t *d, mp_obj_t *k)
{
	mp_obj_t *v;
	int rc = mp_dictproxy_get(d, k, &v);

	mp_obj_free(k);
	return got_repr(rc, v);
}

static void dset(mp_dictproxy_t *d, mp_obj_t *k, mp_obj_t *v)
{
	mpt_assert_ok(mp_dictproxy_set(d, k, v));
	mp_obj_free(k);
	mp_obj_free(v);
}

static char *dcopy(mp_dictproxy_t *d)
{
	static char buf[4][4096];
	static int n;
	char *b = buf[n++ % 4];
	mp_obj_t *o;

	mpt_assert_ok(mp_dictproxy_copy(d, &o));
	snprintf(b, 4096, "%s", repr_of(o));
	mp_obj_free(o);
	return b;
}

static char *lall(mp_listproxy_t *l)
{
	static char buf[4][4096];
	static int n;
	char *b = buf[n++ % 4];
	mp_obj_t *o;

	mpt_assert_ok(mp_listproxy_slice(l, 0, PTRDIFF_MAX, &o));
	snprintf(b, 4096, "%s", repr_of(o));
	mp_obj_free(o);
	return b;
}

/* The small-value fast path writes mp_pickle_dumps's very bytes and reads
 * back exactly what it wrote. */
static void test_mgr_small_pickles(void **state)
{
	unsigned char big9[9] = {0, 0, 0, 0, 0, 0, 0, 0, 1};
	char text[300];
	mp_obj_t *vals[] = {
		mp_obj_none(), mp_obj_bool(true), mp_obj_bool(false), I(0),
		I(255), I(256), I(65535), I(65536), I(-1), I(INT32_MIN),
		I(INT32_MAX), I((int64_t)INT32_MAX + 1), I(INT64_MIN),
		I(INT64_MAX), I(1099511627776LL), mp_obj_float(1.5),
		mp_obj_float(-0.0), mp_obj_float(1e300), S(""), S("abc"),
		S("\xc3\xa9t\xc3\xa9"), mp_obj_bytes("", 0),
		mp_obj_bytes("a\0b", 3), mp_obj_none(), /* text: below */
		mp_obj_none(), mp_obj_bigint(big9, 9),
		mp_obj_tuple_pack(1, I(1)),
	};
	unsigned char buf[MP__SMALL_PICKLE];
	const unsigned char *p;
	mp_bytes_t want;
	mp_obj_t *back;
	size_t n;

	(void)state;
	memset(text, 'x', sizeof(text));
	/* the two long strings, now that text is filled */
	mp_obj_free(vals[23]);
	mp_obj_free(vals[24]);
	vals[23] = mp_obj_strn(text, 239);
	vals[24] = mp_obj_strn(text, 240);
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		mpt_assert_ok(mp_pickle_dumps(vals[i], 4, &want));
		p = mp__pickle_small(vals[i], buf, &n);
		if (i >= 24) { /* too long, big int, tuple: the general way */
			assert_null(p);
			/* a str of 240 bytes is still SHORT_BINUNICODE */
			assert_int_equal(mp__unpickle_small(
				(const unsigned char *)want.data, want.len,
				&back), i == 24);
			if (back != NULL)
				assert_int_equal(mp_obj_eq(back, vals[i]), 1);
			mp_obj_free(back);
			mp_bytes_destroy(&want);
			mp_obj_free(vals[i]);
			continue;
		}
		assert_non_null(p);
		assert_int_equal(n, want.len);
		assert_memory_equal(p, want.data, n);
		assert_int_equal(mp__unpickle_small(p, n, &back), 1);
		assert_int_equal(mp_obj_eq(back, vals[i]), 1);
		assert_int_equal(mp_obj_kind(back), mp_obj_kind(vals[i]));
		mp_obj_free(back);
		/* a damaged copy is left to the general reader */
		buf[(size_t)(p - buf) + n - 1] = 'x';
		assert_int_equal(mp__unpickle_small(p, n, &back), 0);
		mp_bytes_destroy(&want);
		mp_obj_free(vals[i]);
	}
}

static void test_mgr_dict_ops(void **state)
{
	mp_manager_t *m = mgr_new();
	mp_dictproxy_t *d;
	mp_obj_t *init = mp_obj_dict(), *k, *v, *o;
	mp_dictproxy_iter_t it;

	(void)state;
	mpt_assert_ok(mp_obj_dict_set(init, S("balance"), I(0)));
	mpt_assert_ok(mp_manager_dict(m, init, &d));
	mp_obj_free(init);
	assert_string_equal(dcopy(d), "{'balance': 0}");
	assert_int_equal(mp_dictproxy_len(d), 1);
	dset(d, S("x"), mp_obj_list());
	dset(d, I(1), S("one"));
	assert_string_equal(dget(d, S("balance")), "0");
	assert_string_equal(dget(d, I(1)), "'one'");
	/* KeyError with the key's repr */
	k = S("nope");
	assert_err(mp_dictproxy_get(d, k, &v), -ENOENT,
		   "mp_dictproxy_get: KeyError: 'nope'");
	assert_null(v);
	assert_err(mp_dictproxy_del(d, k), -ENOENT,
		   "mp_dictproxy_del: KeyError: 'nope'");
	assert_err(mp_dictproxy_pop(d, k, &v), -ENOENT,
		   "mp_dictproxy_pop: KeyError: 'nope'");
	assert_int_equal(mp_dictproxy_contains(d, k), 0);
	mp_obj_free(k);
	k = mp_obj_list();
	assert_err(mp_dictproxy_set(d, k, k), -EINVAL,
		   "TypeError: unhashable type: 'list'");
	assert_err(mp_dictproxy_get(d, k, &v), -EINVAL,
		   "unhashable type: 'list'");
	mp_obj_free(k);
	/* the object survived every error */
	assert_string_equal(dcopy(d), "{'balance': 0, 'x': [], 1: 'one'}");
	/* keys, values, items */
	mpt_assert_ok(mp_dictproxy_keys(d, &o));
	assert_repr(o, "['balance', 'x', 1]");
	mp_obj_free(o);
	mpt_assert_ok(mp_dictproxy_values(d, &o));
	assert_repr(o, "[0, [], 'one']");
	mp_obj_free(o);
	mpt_assert_ok(mp_dictproxy_items(d, &o));
	assert_repr(o, "[('balance', 0), ('x', []), (1, 'one')]");
	mp_obj_free(o);
	/* del, pop, contains */
	k = S("x");
	assert_int_equal(mp_dictproxy_contains(d, k), 1);
	mpt_assert_ok(mp_dictproxy_del(d, k));
	assert_int_equal(mp_dictproxy_contains(d, k), 0);
	mp_obj_free(k);
	k = I(1);
	mpt_assert_ok(mp_dictproxy_pop(d, k, &v));
	assert_repr(v, "'one'");
	mp_obj_free(v);
	mp_obj_free(k);
	assert_string_equal(dcopy(d), "{'balance': 0}");
	/* update keeps the first key, adds the others in order */
	init = mp_obj_dict();
	mpt_assert_ok(mp_obj_dict_set(init, S("b"), I(2)));
	mpt_assert_ok(mp_obj_dict_set(init, S("balance"), I(7)));
	mpt_assert_ok(mp_obj_dict_set(init, S("a"), mp_obj_none()));
	mpt_assert_ok(mp_dictproxy_update(d, init));
	mp_obj_free(init);
	assert_string_equal(dcopy(d), "{'balance': 7, 'b': 2, 'a': None}");
	k = I(5);
	assert_err(mp_dictproxy_update(d, k), -EINVAL, "not a dict");
	/* setdefault */
	v = S("dflt");
	mpt_assert_ok(mp_dictproxy_setdefault(d, k, v, &o));
	assert_repr(o, "'dflt'");
	mp_obj_free(o);
	mp_obj_free(v);
	v = S("other");
	mpt_assert_ok(mp_dictproxy_setdefault(d, k, v, &o));
	assert_repr(o, "'dflt'");
	mp_obj_free(o);
	mp_obj_free(v);
	mp_obj_free(k);
	k = S("n");
	mpt_assert_ok(mp_dictproxy_setdefault(d, k, NULL, NULL));
	mp_obj_free(k);
	assert_string_equal(dcopy(d), "{'balance': 7, 'b': 2, 'a': None, "
				      "5: 'dflt', 'n': None}");
	/* popitem is LIFO */
	mpt_assert_ok(mp_dictproxy_popitem(d, &k, &v));
	assert_repr(k, "'n'");
	assert_repr(v, "None");
	mp_obj_free(k);
	mp_obj_free(v);
	/* iteration */
	mpt_assert_ok(mp_dictproxy_iter(d, &it));
	for (int n = 0; n < 4; n++) {
		assert_int_equal(mp_dictproxy_next(d, &it, &k, NULL), 1);
		mp_obj_free(k);
	}
	assert_int_equal(mp_dictproxy_next(d, &it, &k, &v), 0);
	assert_null(k);
	/* clear, then the empty errors */
	mpt_assert_ok(mp_dictproxy_clear(d));
	assert_int_equal(mp_dictproxy_len(d), 0);
	assert_string_equal(dcopy(d), "{}");
	assert_err(mp_dictproxy_popitem(d, &k, &v), -ENOENT,
		   "KeyError: 'popitem(): dictionary is empty'");
	/* many keys: the table grows and stays right */
	for (int i = 0; i < 1000; i++)
		dset(d, I(i), I(i * i));
	for (int i = 0; i < 1000; i += 2) {
		k = I(i);
		mpt_assert_ok(mp_dictproxy_del(d, k));
		mp_obj_free(k);
	}
	for (int i = 1000; i < 1500; i++)
		dset(d, I(i), I(-i));
	assert_int_equal(mp_dictproxy_len(d), 1000);
	assert_string_equal(dget(d, I(999)), "998001");
	assert_string_equal(dget(d, I(998)), "<-2>");
	assert_string_equal(dget(d, I(1499)), "-1499");
	/* NULL arguments */
	assert_err(mp_dictproxy_get(NULL, NULL, &v), -EINVAL, "NULL");
	assert_err(mp_dictproxy_len(NULL), -EINVAL, "NULL");
	mp_manager_free(m);
}

static void test_mgr_dict_keys_follow_python(void **state)
{
	mp_manager_t *m = mgr_new();
	mp_dictproxy_t *d;
	mp_obj_t *fs1, *fs2;
	unsigned char big[9] = {0, 0, 0, 0, 0, 0, 0, 0, 1}; /* 2**64 */

	(void)state;
	mpt_assert_ok(mp_manager_dict(m, NULL, &d));
	dset(d, I(1), S("int"));
	dset(d, mp_obj_float(1.0), S("float")); /* keeps the key 1 */
	dset(d, mp_obj_bool(true), S("bool"));
	assert_string_equal(dcopy(d), "{1: 'bool'}");
	assert_string_equal(dget(d, mp_obj_float(1.0)), "'bool'");
	dset(d, mp_obj_float(0.0), S("zero"));
	assert_string_equal(dget(d, mp_obj_float(-0.0)), "'zero'");
	assert_string_equal(dget(d, mp_obj_bool(false)), "'zero'");
	assert_string_equal(dget(d, I(0)), "'zero'");
	dset(d, mp_obj_bigint(big, 9), S("2**64"));
	assert_string_equal(dget(d, mp_obj_float(18446744073709551616.0)),
			    "'2**64'");
	dset(d, mp_obj_float(-9223372036854775808.0), S("-2**63"));
	assert_string_equal(dget(d, I(INT64_MIN)), "'-2**63'");
	dset(d, mp_obj_float(2.5), S("2.5"));
	assert_string_equal(dget(d, mp_obj_float(2.5)), "'2.5'");
	assert_string_equal(dget(d, I(2)), "<-2>");
	dset(d, mp_obj_tuple_pack(2, I(1), S("a")), S("tuple"));
	assert_string_equal(dget(d, mp_obj_tuple_pack(2, mp_obj_float(1.0),
						      S("a"))),
			    "'tuple'");
	assert_string_equal(dget(d, mp_obj_tuple_pack(1, I(1))), "<-2>");
	/* str and bytes with the same bytes are different keys */
	dset(d, S("k"), I(1));
	dset(d, mp_obj_bytes("k", 1), I(2));
	assert_string_equal(dget(d, S("k")), "1");
	assert_string_equal(dget(d, mp_obj_bytes("k", 1)), "2");
	/* frozensets equal whatever their order */
	fs1 = mp_obj_frozenset();
	fs2 = mp_obj_frozenset();
	mp_obj_set_add(fs1, S("a"));
	mp_obj_set_add(fs1, I(3));
	mp_obj_set_add(fs2, mp_obj_float(3.0));
	mp_obj_set_add(fs2, S("a"));
	dset(d, fs1, S("fs"));
	assert_string_equal(dget(d, fs2), "'fs'");
	assert_int_equal(mp_dictproxy_len(d), 9);
	mp_manager_free(m);
}

static void test_mgr_dict_iteration_errors(void **state)
{
	mp_manager_t *m = mgr_new();
	mp_dictproxy_t *d;
	mp_dictproxy_iter_t it;
	mp_obj_t *k, *v;

	(void)state;
	mpt_assert_ok(mp_manager_dict(m, NULL, &d));
	for (int i = 0; i < 5; i++)
		dset(d, I(i), I(i));
	mpt_assert_ok(mp_dictproxy_iter(d, &it));
	assert_int_equal(mp_dictproxy_next(d, &it, &k, &v), 1);
	assert_repr(k, "0");
	assert_repr(v, "0");
	mp_obj_free(k);
	mp_obj_free(v);
	k = I(3);
	mpt_assert_ok(mp_dictproxy_del(d, k));
	assert_err(mp_dictproxy_next(d, &it, &v, NULL), -EBUSY,
		   "RuntimeError: dictionary changed size during iteration");
	assert_null(v);
	/* same size, other keys */
	mpt_assert_ok(mp_dictproxy_iter(d, &it));
	mpt_assert_ok(mp_dictproxy_set(d, k, k));
	mp_obj_free(k);
	k = I(4);
	mpt_assert_ok(mp_dictproxy_del(d, k));
	mp_obj_free(k);
	assert_err(mp_dictproxy_next(d, &it, NULL, NULL), -EBUSY,
		   "RuntimeError: dictionary keys changed during iteration");
	/* changing a value is no change */
	mpt_assert_ok(mp_dictproxy_iter(d, &it));
	dset(d, I(0), S("new"));
	assert_int_equal(mp_dictproxy_next(d, &it, NULL, &v), 1);
	assert_repr(v, "'new'");
	mp_obj_free(v);
	assert_string_equal(dcopy(d), "{0: 'new', 1: 1, 2: 2, 3: 3}");
	mp_manager_free(m);
}

static void test_mgr_list_ops(void **state)
{
	mp_manager_t *m = mgr_new();
	mp_listproxy_t *l;
	mp_obj_t *init = mp_obj_tuple_pack(2, I(1), S("b")), *v, *x;

	(void)state;
	mpt_assert_ok(mp_manager_list(m, init, &l));
	mp_obj_free(init);
	assert_string_equal(lall(l), "[1, 'b']");
	v = mp_obj_float(2.5);
	mpt_assert_ok(mp_listproxy_append(l, v));
	mp_obj_free(v);
	init = mp_obj_list();
	mp_obj_list_append(init, I(7));
	mp_obj_list_append(init, I(1));
	mpt_assert_ok(mp_listproxy_extend(l, init));
	mp_obj_free(init);
	assert_string_equal(lall(l), "[1, 'b', 2.5, 7, 1]");
	assert_int_equal(mp_listproxy_len(l), 5);
	/* index, negative too */
	mpt_assert_ok(mp_listproxy_get(l, -1, &v));
	assert_repr(v, "1");
	mp_obj_free(v);
	mpt_assert_ok(mp_listproxy_get(l, -5, &v));
	assert_repr(v, "1");
	mp_obj_free(v);
	assert_err(mp_listproxy_get(l, 5, &v), -ERANGE,
		   "mp_listproxy_get: IndexError: list index out of range");
	assert_err(mp_listproxy_get(l, -6, &v), -ERANGE,
		   "IndexError: list index out of range");
	v = S("B");
	mpt_assert_ok(mp_listproxy_set(l, -4, v));
	assert_err(mp_listproxy_set(l, 9, v), -ERANGE,
		   "IndexError: list assignment index out of range");
	mp_obj_free(v);
	/* slices clamp */
	mpt_assert_ok(mp_listproxy_slice(l, 1, 3, &v));
	assert_repr(v, "['B', 2.5]");
	mp_obj_free(v);
	mpt_assert_ok(mp_listproxy_slice(l, -2, 100, &v));
	assert_repr(v, "[7, 1]");
	mp_obj_free(v);
	mpt_assert_ok(mp_listproxy_slice(l, 4, 2, &v));
	assert_repr(v, "[]");
	mp_obj_free(v);
	/* insert clamps */
	v = S("first");
	mpt_assert_ok(mp_listproxy_insert(l, -100, v));
	mp_obj_free(v);
	v = S("last");
	mpt_assert_ok(mp_listproxy_insert(l, 100, v));
	mp_obj_free(v);
	v = S("mid");
	mpt_assert_ok(mp_listproxy_insert(l, -1, v));
	mp_obj_free(v);
	assert_string_equal(lall(l),
			    "['first', 1, 'B', 2.5, 7, 1, 'mid', 'last']");
	/* index, count (1 == 1.0), remove */
	v = mp_obj_float(1.0);
	assert_int_equal(mp_listproxy_index(l, v), 1);
	assert_int_equal(mp_listproxy_count(l, v), 2);
	mpt_assert_ok(mp_listproxy_remove(l, v));
	assert_int_equal(mp_listproxy_count(l, v), 1);
	mp_obj_free(v);
	v = I(5);
	assert_err(mp_listproxy_index(l, v), -ENOENT,
		   "ValueError: 5 is not in list");
	assert_err(mp_listproxy_remove(l, v), -ENOENT,
		   "ValueError: list.remove(x): x not in list");
	assert_int_equal(mp_listproxy_count(l, v), 0);
	mp_obj_free(v);
	/* pop */
	mpt_assert_ok(mp_listproxy_pop(l, -1, &v));
	assert_repr(v, "'last'");
	mp_obj_free(v);
	mpt_assert_ok(mp_listproxy_pop(l, 0, &v));
	assert_repr(v, "'first'");
	mp_obj_free(v);
	mpt_assert_ok(mp_listproxy_pop(l, 2, NULL));
	assert_err(mp_listproxy_pop(l, 4, &v), -ERANGE,
		   "IndexError: pop index out of range");
	assert_string_equal(lall(l), "['B', 2.5, 1, 'mid']");
	mpt_assert_ok(mp_listproxy_clear(l));
	assert_int_equal(mp_listproxy_len(l), 0);
	assert_err(mp_listproxy_pop(l, -1, &v), -ERANGE,
		   "IndexError: pop from empty list");
	v = I(3);
	assert_err(mp_listproxy_extend(l, v), -EINVAL, "not iterable");
	mp_obj_free(v);
	/* growth */
	for (int i = 0; i < 300; i++) {
		v = I(i);
		mpt_assert_ok(mp_listproxy_append(l, v));
		mp_obj_free(v);
	}
	assert_int_equal(mp_listproxy_len(l), 300);
	mpt_assert_ok(mp_listproxy_get(l, 299, &x));
	assert_repr(x, "299");
	mp_obj_free(x);
	mp_manager_free(m);
}

static void test_mgr_list_sort(void **state)
{
	mp_manager_t *m = mgr_new();
	mp_listproxy_t *l;
	mp_obj_t *v = mp_obj_list();
	unsigned char big[9] = {0, 0, 0, 0, 0, 0, 0, 0, 1}; /* 2**64 */

	(void)state;
	mp_obj_list_append(v, I(3));
	mp_obj_list_append(v, mp_obj_float(1.5));
	mp_obj_list_append(v, mp_obj_bool(true));
	mp_obj_list_append(v, mp_obj_bigint(big, 9));
	mp_obj_list_append(v, I(-7));
	mp_obj_list_append(v, mp_obj_float(1.0));
	mp_obj_list_append(v, mp_obj_float(1e300));
	mpt_assert_ok(mp_manager_list(m, v, &l));
	mp_obj_free(v);
	mpt_assert_ok(mp_listproxy_sort(l, 0));
	/* stable: True before 1.0, as they came */
	assert_string_equal(lall(l), "[-7, True, 1.0, 1.5, 3, "
				     "18446744073709551616, 1e+300]");
	mpt_assert_ok(mp_listproxy_sort(l, MP_SORT_REVERSE));
	assert_string_equal(lall(l), "[1e+300, 18446744073709551616, 3, 1.5, "
				     "True, 1.0, -7]");
	mpt_assert_ok(mp_listproxy_clear(l));
	v = mp_obj_tuple_pack(5, S("b"), S("a"), S("ab"), S(""), S("\xc3\xa9"));
	mpt_assert_ok(mp_listproxy_extend(l, v));
	mp_obj_free(v);
	mpt_assert_ok(mp_listproxy_sort(l, 0));
	assert_string_equal(lall(l), "['', 'a', 'ab', 'b', '\xc3\xa9']");
	mpt_assert_ok(mp_listproxy_clear(l));
	v = mp_obj_tuple_pack(3, mp_obj_tuple_pack(2, I(1), S("b")),
			      mp_obj_tuple_pack(2, I(1), S("a")),
			      mp_obj_tuple_pack(1, I(0)));
	mpt_assert_ok(mp_listproxy_extend(l, v));
	mp_obj_free(v);
	mpt_assert_ok(mp_listproxy_sort(l, 0));
	assert_string_equal(lall(l), "[(0,), (1, 'a'), (1, 'b')]");
	/* unorderable: CPython's TypeError, the list unchanged */
	v = S("x");
	mpt_assert_ok(mp_listproxy_append(l, v));
	mp_obj_free(v);
	assert_err(mp_listproxy_sort(l, 0), -EINVAL,
		   "TypeError: '<' not supported between instances of 'str' "
		   "and 'tuple'");
	assert_string_equal(lall(l), "[(0,), (1, 'a'), (1, 'b'), 'x']");
	assert_err(mp_listproxy_sort(l, 8), -EINVAL, "flags");
	mp_manager_free(m);
}

static int set_attr(void *arg)
{
	mp_namespaceproxy_t *ns = arg;
	mp_obj_t *v = mp_obj_str("from the child");
	int rc = mp_namespaceproxy_set(ns, "y", v);

	mp_obj_free(v);
	return rc < 0;
}

static void test_mgr_namespace(void **state)
{
	mp_manager_t *m = mgr_new();
	mp_namespaceproxy_t *ns;
	mp_obj_t *v;
	mp_bytes_t r;

	(void)state;
	mpt_assert_ok(mp_manager_namespace(m, &ns));
	mpt_assert_ok(mp_namespaceproxy_repr(ns, &r));
	assert_string_equal(r.data, "Namespace()");
	mp_bytes_destroy(&r);
	v = I(1);
	mpt_assert_ok(mp_namespaceproxy_set(ns, "x", v));
	mp_obj_free(v);
	assert_int_equal(mpt_exit_code(mpt_fork(set_attr, ns)), 0);
	mpt_assert_ok(mp_namespaceproxy_get(ns, "y", &v));
	assert_repr(v, "'from the child'");
	mp_obj_free(v);
	mpt_assert_ok(mp_namespaceproxy_repr(ns, &r));
	assert_string_equal(r.data, "Namespace(x=1, y='from the child')");
	mp_bytes_destroy(&r);
	assert_err(mp_namespaceproxy_get(ns, "z", &v), -ENOENT,
		   "mp_namespaceproxy_get: AttributeError: 'Namespace' object "
		   "has no attribute 'z'");
	assert_null(v);
	assert_err(mp_namespaceproxy_del(ns, "z"), -ENOENT,
		   "has no attribute 'z'");
	assert_err(mp_namespaceproxy_get(ns, "_hidden", &v), -EINVAL,
		   "starting with '_'");
	assert_err(mp_namespaceproxy_set(ns, "x", v), -EINVAL,
		   "'value' is NULL");
	v = I(2);
	assert_err(mp_namespaceproxy_set(ns, "", v), -EINVAL,
		   "the attribute name is empty");
	mp_obj_free(v);
	mpt_assert_ok(mp_namespaceproxy_del(ns, "x"));
	mpt_assert_ok(mp_namespaceproxy_repr(ns, &r));
	assert_string_equal(r.data, "Namespace(y='from the child')");
	mp_bytes_destroy(&r);
	mpt_assert_ok(mp_manager_shutdown(m));
	assert_err(mp_namespaceproxy_get(ns, "y", &v), MP_ECLOSED, "shut down");
	mp_manager_free(m);
}

/* ---- several processes ---- */

struct mgr_shared {
	mp_dictproxy_t *d;
	mp_listproxy_t *l;
	int id;
	int fd;
};

static int add_one(const mp_obj_t *value, void *arg, mp_obj_t **out)
{
	int64_t x = 0;

	(void)arg;
	if (value != NULL && mp_obj_as_int(value, &x) < 0)
		return -EINVAL;
	*out = mp_obj_int(x + 1);
	return 0;
}

static int mutate(void *arg)
{
	struct mgr_shared *s = arg;
	mp_obj_t *k, *v, *c = mp_obj_str("counter");
	int rc = 0;

	for (int i = 0; i < 300 && rc == 0; i++) {
		k = mp_obj_tuple_pack(2, mp_obj_int(s->id), mp_obj_int(i));
		v = mp_obj_int(s->id * 1000 + i);
		rc = mp_dictproxy_set(s->d, k, v);
		if (rc == 0 && i % 3 == 0)
			rc = mp_dictproxy_del(s->d, k);
		if (rc == 0)
			rc = mp_listproxy_append(s->l, v);
		if (rc == 0)
			rc = mp_dictproxy_apply(s->d, c, add_one, NULL);
		mp_obj_free(k);
		mp_obj_free(v);
	}
	mp_obj_free(c);
	return rc < 0;
}

static void test_mgr_processes_mutate_concurrently(void **state)
{
	mp_manager_t *m = mgr_new();
	struct mgr_shared s[4];
	mp_dictproxy_t *d;
	mp_listproxy_t *l;
	pid_t pid[4];
	mp_obj_t *k, *v;

	(void)state;
	mpt_assert_ok(mp_manager_dict(m, NULL, &d));
	mpt_assert_ok(mp_manager_list(m, NULL, &l));
	for (int i = 0; i < 4; i++) {
		s[i] = (struct mgr_shared){d, l, i, -1};
		pid[i] = mpt_fork(mutate, &s[i]);
	}
	for (int i = 0; i < 4; i++)
		assert_int_equal(mpt_exit_code(pid[i]), 0);
	assert_string_equal(dget(d, S("counter")), "1200");
	assert_int_equal(mp_dictproxy_len(d), 1 + 4 * 200);
	assert_int_equal(mp_listproxy_len(l), 1200);
	for (int p = 0; p < 4; p++)
		for (int i = 0; i < 300; i++) {
			k = mp_obj_tuple_pack(2, I(p), I(i));
			v = I(p * 1000 + i);
			assert_int_equal(mp_dictproxy_contains(d, k),
					 i % 3 != 0);
			assert_int_equal(mp_listproxy_count(l, v), 1);
			mp_obj_free(k);
			mp_obj_free(v);
		}
	mpt_assert_ok(mp_listproxy_sort(l, 0));
	mpt_assert_ok(mp_listproxy_get(l, 0, &v));
	assert_repr(v, "0");
	mp_obj_free(v);
	mpt_assert_ok(mp_listproxy_get(l, -1, &v));
	assert_repr(v, "3299");
	mp_obj_free(v);
	mp_manager_free(m);
}

static void *thread_mutate(void *arg)
{
	struct mgr_shared *s = arg;

	return (void *)(intptr_t)mutate(s);
}

/* The handles are safe across threads too (each thread has its own
 * block cache). */
static void test_mgr_threads_mutate_concurrently(void **state)
{
	mp_manager_t *m = mgr_new();
	struct mgr_shared s[4];
	mp_dictproxy_t *d;
	mp_listproxy_t *l;
	pthread_t th[4];
	void *ret;

	(void)state;
	mpt_assert_ok(mp_manager_dict(m, NULL, &d));
	mpt_assert_ok(mp_manager_list(m, NULL, &l));
	for (int i = 0; i < 4; i++) {
		s[i] = (struct mgr_shared){d, l, i, -1};
		assert_int_equal(pthread_create(&th[i], NULL, thread_mutate,
						&s[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], &ret), 0);
		assert_null(ret);
	}
	assert_string_equal(dget(d, S("counter")), "1200");
	assert_int_equal(mp_dictproxy_len(d), 1 + 4 * 200);
	assert_int_equal(mp_listproxy_len(l), 1200);
	mp_manager_free(m);
}

/* Holds the dict's lock (inside apply) and tells the parent so. */
static int hold_forever(const mp_obj_t *value, void *arg, mp_obj_t **out)
{
	int fd = *(int *)arg;

	(void)value;
	*out = mp_obj_int(-1);
	if (write(fd, "h", 1) != 1)
		_exit(3);
	for (;;)
		pause();
}

static int hold_lock(void *arg)
{
	struct mgr_shared *s = arg;
	mp_obj_t *k = mp_obj_str("balance");

	mpt_crash_signals_default();
	mp_dictproxy_apply(s->d, k, hold_forever, &s->fd);
	return 2;
}

static void test_mgr_client_killed_holding_the_lock(void **state)
{
	mp_manager_t *m = mgr_new();
	struct mgr_shared s;
	mp_dictproxy_t *d;
	int fds[2];
	pid_t pid;
	char c;

	(void)state;
	mpt_assert_ok(mp_manager_dict(m, NULL, &d));
	for (int i = 0; i < 20; i++)
		dset(d, I(i), I(i));
	dset(d, S("balance"), I(100));
	assert_int_equal(pipe(fds), 0);
	s = (struct mgr_shared){d, NULL, 0, fds[1]};
	pid = mpt_fork(hold_lock, &s);
	close(fds[1]);
	assert_int_equal(read(fds[0], &c, 1), 1);
	close(fds[0]);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(mpt_exit_code(pid), 128 + SIGKILL);
	/* the next client takes the lock over; the dict is as it was */
	assert_string_equal(dget(d, S("balance")), "100");
	assert_int_equal(mp_dictproxy_len(d), 21);
	dset(d, S("after"), I(1));
	assert_string_equal(dget(d, I(19)), "19");
	assert_int_equal(mp_dictproxy_len(d), 22);
	mp_manager_free(m);
}

/* Sets and deletes in a loop, saying after each 100 operations. */
static int churn(void *arg)
{
	struct mgr_shared *s = arg;
	mp_obj_t *k, *v;

	mpt_crash_signals_default();
	for (int i = 0;; i++) {
		k = mp_obj_int(i % 300);
		v = mp_obj_tuple_pack(2, mp_obj_int(i), mp_obj_str("value"));
		if (i % 2 == 0)
			mp_dictproxy_set(s->d, k, v);
		else
			mp_dictproxy_pop(s->d, k, NULL);
		if (i % 5 == 0)
			mp_listproxy_append(s->l, v);
		else if (i % 5 == 1)
			mp_listproxy_pop(s->l, 0, NULL);
		else if (i % 5 == 2)
			mp_listproxy_insert(s->l, 1, k);
		else if (i % 5 == 3)
			mp_listproxy_set_slice(s->l, 0, 1, 1, v);
		else if (i % 10 == 4)
			mp_listproxy_reverse(s->l);
		else
			mp_listproxy_del_slice(s->l, 0, 6, 2);
		mp_obj_free(k);
		mp_obj_free(v);
		if (i % 100 == 99 && write(s->fd, "x", 1) != 1)
			return 3;
	}
}

static void check_consistent(mp_dictproxy_t *d, mp_listproxy_t *l)
{
	mp_dictproxy_iter_t it;
	mp_obj_t *k, *v, *v2;
	int n = 0, len = mp_dictproxy_len(d);

	mpt_assert_ok(mp_dictproxy_iter(d, &it));
	while (mp_dictproxy_next(d, &it, &k, &v) == 1) {
		mpt_assert_ok(mp_dictproxy_get(d, k, &v2));
		assert_int_equal(mp_obj_eq(v, v2), 1);
		mp_obj_free(k);
		mp_obj_free(v);
		mp_obj_free(v2);
		n++;
	}
	assert_int_equal(n, len);
	len = mp_listproxy_len(l);
	for (int i = 0; i < len; i++) {
		mpt_assert_ok(mp_listproxy_get(l, i, &v));
		mp_obj_free(v);
	}
}

static void test_mgr_clients_killed_mid_update(void **state)
{
	mp_manager_t *m = mgr_new();
	struct mgr_shared s;
	mp_dictproxy_t *d;
	mp_listproxy_t *l;
	int fds[2];
	pid_t pid;
	char c[64];

	(void)state;
	mpt_assert_ok(mp_manager_dict(m, NULL, &d));
	mpt_assert_ok(mp_manager_list(m, NULL, &l));
	for (int round = 0; round < 20; round++) {
		assert_int_equal(pipe(fds), 0);
		s = (struct mgr_shared){d, l, 0, fds[1]};
		pid = mpt_fork(churn, &s);
		close(fds[1]);
		/* let it run a varying number of operations */
		for (int i = 0; i <= round % 7; i++)
			assert_int_equal(read(fds[0], c, 1), 1);
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(mpt_exit_code(pid), 128 + SIGKILL);
		close(fds[0]);
		check_consistent(d, l);
	}
	mp_manager_free(m);
}

/* ---- the server process ---- */

static int comm_of(pid_t pid, char *buf, size_t cap)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	if (fgets(buf, (int)cap, f) == NULL)
		buf[0] = 0;
	fclose(f);
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

static void test_mgr_server_process(void **state)
{
	mp_manager_t *m = mgr_new(), *m2 = mgr_new();
	char name[32], name2[32];
	pid_t pid = mp_manager_pid(m);
	mp_dictproxy_t *d;
	mp_lock_t *lock;
	double t0;

	(void)state;
	assert_true(pid > 0);
	assert_int_equal(comm_of(pid, name, sizeof(name)), 0);
	assert_int_equal(comm_of(mp_manager_pid(m2), name2, sizeof(name2)), 0);
	assert_int_equal(strncmp(name, "SyncManager-", 12), 0);
	assert_int_equal(strncmp(name2, "SyncManager-", 12), 0);
	assert_int_equal(atoi(name2 + 12), atoi(name + 12) + 1);
	/* SIGINT does not stop it (CPython's server ignores it) */
	assert_int_equal(kill(pid, SIGINT), 0);
	mpt_assert_ok(mp_manager_dict(m, NULL, &d));
	t0 = mpt_now();
	mpt_assert_ok(mp_manager_shutdown(m));
	assert_true(mpt_now() - t0 < mpt_timeout(1.0));
	mpt_assert_ok(mp_manager_shutdown(m)); /* idempotent */
	assert_err(mp_dictproxy_len(d), MP_ECLOSED, "shut down");
	assert_err(mp_manager_lock(m, &lock), MP_ECLOSED, "shut down");
	assert_err(mp_manager_dict(m, NULL, &d), MP_ECLOSED, "shut down");
	mp_manager_free(m);
	mp_manager_free(m2);
	mp_manager_free(NULL);
}

static void test_mgr_shutdown_is_bounded(void **state)
{
	mp_manager_opts_t o = {.shutdown_timeout = 0.2};
	mp_manager_t *m = mp_manager_new(&o);
	double t0;
	int pid;

	(void)state;
	assert_non_null(m);
	pid = mp_manager_pid(m);
	/* a server that cannot answer: stopped */
	assert_int_equal(kill(pid, SIGSTOP), 0);
	t0 = mpt_now();
	mp_manager_free(m);
	assert_true(mpt_now() - t0 < mpt_timeout(2.0));
	assert_int_equal(kill(pid, 0), -1);
	/* options */
	o.shutdown_timeout = -1;
	assert_null(mp_manager_new(&o));
	assert_int_equal(mp_last_error_code(), -EINVAL);
	o.shutdown_timeout = 0;
	o.capacity = 1000;
	assert_null(mp_manager_new(&o));
	assert_int_equal(mp_last_error_code(), -EINVAL);
}

static void test_mgr_full_region(void **state)
{
	mp_manager_opts_t o = {.capacity = 64 << 10};
	mp_manager_t *m = mp_manager_new(&o);
	mp_listproxy_t *l;
	mp_obj_t *v;
	int rc = 0, n = 0;
	char big[1000];

	(void)state;
	assert_non_null(m);
	mpt_assert_ok(mp_manager_list(m, NULL, &l));
	memset(big, 'x', sizeof(big));
	v = mp_obj_bytes(big, sizeof(big));
	while ((rc = mp_listproxy_append(l, v)) == 0)
		n++;
	assert_err(rc, -ENOMEM, "shared memory is full");
	mp_obj_free(v);
	assert_int_equal(mp_listproxy_len(l), n);
	/* the list still works; a freed large block serves small ones */
	mpt_assert_ok(mp_listproxy_pop(l, -1, NULL));
	v = I(1);
	mpt_assert_ok(mp_listproxy_append(l, v));
	mp_obj_free(v);
	assert_int_equal(mp_listproxy_len(l), n);
	mpt_assert_ok(mp_listproxy_clear(l));
	for (int i = 0; i < n; i++) {
		v = I(i);
		mpt_assert_ok(mp_listproxy_append(l, v));
		mp_obj_free(v);
	}
	mp_manager_free(m);
}

/* In a child: make a manager, send its server's pid, wait to be killed. */
static int creator(void *arg)
{
	int fd = *(int *)arg;
	mp_manager_t *m = mp_manager_new(NULL);
	int pid = m != NULL ? mp_manager_pid(m) : -1;

	if (write(fd, &pid, sizeof(pid)) != sizeof(pid))
		return 1;
	for (;;)
		pause();
}

static void test_mgr_server_dies_with_its_creator(void **state)
{
	int fds[2], spid = 0, status = 0;
	pid_t pid, got = 0;
	double t0;

	(void)state;
	/* the orphaned server comes to us: we can see how it ended */
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	assert_int_equal(pipe(fds), 0);
	pid = mpt_fork(creator, &fds[1]);
	close(fds[1]);
	assert_int_equal(read(fds[0], &spid, sizeof(spid)), sizeof(spid));
	close(fds[0]);
	assert_true(spid > 0);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(mpt_exit_code(pid), 128 + SIGKILL);
	t0 = mpt_now();
	while (got == 0 && mpt_now() - t0 < mpt_timeout(5)) {
		got = waitpid(spid, &status, WNOHANG);
		if (got == 0)
			usleep(1000);
	}
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
	/* gone: killed by PR_SET_PDEATHSIG, or ended on its own when it saw
	 * the creator's end of its control pipe close */
	assert_int_equal(got, spid);
	assert_true(WIFSIGNALED(status) ? WTERMSIG(status) == SIGKILL
					: WEXITSTATUS(status) == 0);
}

static int child_frees(void *arg)
{
	mp_manager_t *m = arg;
	mp_dictproxy_t *d;

	if (mp_manager_dict(m, NULL, &d) < 0)
		return 1;
	mp_manager_shutdown(m); /* not the creator: nothing */
	mp_manager_free(m);
	return 0;
}

static void test_mgr_child_free_leaves_the_server(void **state)
{
	mp_manager_t *m = mgr_new();
	mp_dictproxy_t *d;

	(void)state;
	assert_int_equal(mpt_exit_code(mpt_fork(child_frees, m)), 0);
	assert_int_equal(kill(mp_manager_pid(m), 0), 0);
	mpt_assert_ok(mp_manager_dict(m, NULL, &d));
	dset(d, I(1), I(2));
	mp_manager_free(m);
}

static void test_mgr_sync_objects(void **state)
{
	mp_manager_t *m = mgr_new();
	mp_condition_opts_t co = {0};
	mp_lock_t *lock;
	mp_rlock_t *rlock;
	mp_condition_t *cond;
	mp_event_t *ev;
	mp_semaphore_t *sem;

	(void)state;
	mpt_assert_ok(mp_manager_lock(m, &lock));
	/* threading's words, as CPython's manager Lock (still -EINVAL) */
	assert_err(mp_lock_release(lock), -EINVAL,
		   "mp_lock_release: release unlocked lock");
	mpt_assert_ok(mp_lock_acquire(lock, 0));
	assert_int_equal(mp_lock_acquire(lock, 0), -ETIMEDOUT);
	mpt_assert_ok(mp_lock_release(lock));
	mpt_assert_ok(mp_manager_rlock(m, &rlock));
	mpt_assert_ok(mp_rlock_acquire(rlock, 0));
	mpt_assert_ok(mp_rlock_acquire(rlock, 0));
	assert_int_equal(mp_rlock_count(rlock), 2);
	mpt_assert_ok(mp_rlock_release(rlock));
	mpt_assert_ok(mp_rlock_release(rlock));
	co.lock = lock;
	mpt_assert_ok(mp_manager_condition(m, &co, &cond));
	mpt_assert_ok(mp_condition_acquire(cond, 0));
	assert_int_equal(mp_lock_locked(lock), 1);
	assert_int_equal(mp_condition_wait(cond, 0.01), -ETIMEDOUT);
	mpt_assert_ok(mp_condition_release(cond));
	co.rlock = rlock;
	assert_err(mp_manager_condition(m, &co, &cond), -EINVAL, "both");
	mpt_assert_ok(mp_manager_event(m, &ev));
	assert_int_equal(mp_event_is_set(ev), 0);
	mpt_assert_ok(mp_event_set(ev));
	mpt_assert_ok(mp_manager_semaphore(m, 2, &sem));
	assert_int_equal(mp_semaphore_get_value(sem), 2);
	assert_err(mp_manager_semaphore(m, 1u << 31, &sem), -EINVAL,
		   "INT32_MAX");
	mp_manager_free(m);
}

/* ---- Queue and JoinableQueue ---- */

struct held_word {
	uint64_t *word;
	int fd;
};

/* Takes a lock word (as an operation does), says so, and stays there. */
static int hold_word(void *arg)
{
	struct held_word *h = arg;

	mpt_crash_signals_default();
	mp__lock_take(h->word, MP__NO_DEADLINE);
	if (write(h->fd, "h", 1) != 1)
		return 3;
	for (;;)
		pause();
}

/* A child SIGKILLed holding *word (which still holds its id). */
static void kill_holding(uint64_t *word)
{
	struct held_word h;
	int fds[2];
	pid_t pid;
	char c;

	assert_int_equal(pipe(fds), 0);
	h = (struct held_word){word, fds[1]};
	pid = mpt_fork(hold_word, &h);
	close(fds[1]);
	assert_int_equal(read(fds[0], &c, 1), 1);
	close(fds[0]);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(mpt_exit_code(pid), 128 + SIGKILL);
	assert_int_not_equal(__atomic_load_n(word, __ATOMIC_SEQ_CST), 0);
}

static void qput(mp_queueproxy_t *q, mp_obj_t *v)
{
	mpt_assert_ok(mp_queueproxy_put(q, v, 0));
	mp_obj_free(v);
}

/* q.get() as a repr, "<code>" when it fails. */
static char *qget(mp_queueproxy_t *q, double timeout)
{
	mp_obj_t *v;
	int rc = mp_queueproxy_get(q, timeout, &v);

	return got_repr(rc, v);
}

static void test_mgr_queue_ops(void **state)
{
	mp_manager_t *m = mgr_new();
	mp_queueproxy_t *q, *b;
	mp_obj_t *v = I(7), *got = (mp_obj_t *)1;
	double t0;
	char big[3000];
	size_t len;

	(void)state;
	mpt_assert_ok(mp_manager_queue(m, 0, &q));
	assert_int_equal(mp_queueproxy_empty(q), 1);
	assert_int_equal(mp_queueproxy_full(q), 0);
	qput(q, S("a"));
	qput(q, mp_obj_tuple_pack(2, I(1), mp_obj_float(2.5)));
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	qput(q, S(big));
	assert_int_equal(mp_queueproxy_qsize(q), 3);
	assert_int_equal(mp_queueproxy_empty(q), 0);
	assert_string_equal(qget(q, 0), "'a'");
	assert_string_equal(qget(q, MP_FOREVER), "(1, 2.5)");
	mpt_assert_ok(mp_queueproxy_get(q, 0, &got));
	assert_int_equal(mp_obj_len(got, &len), 0);
	assert_int_equal(len, sizeof(big) - 1);
	mp_obj_free(got);
	got = (mp_obj_t *)1;
	/* empty: get's timeout, get_nowait's queue.Empty */
	assert_err(mp_queueproxy_get(q, 0, &got), -ETIMEDOUT, "queue.Empty");
	assert_null(got);
	t0 = mpt_now();
	assert_err(mp_queueproxy_get(q, 0.05, &got), -ETIMEDOUT,
		   "mp_queueproxy_get: queue.Empty");
	assert_true(mpt_now() - t0 >= 0.05);
	assert_err(mp_queueproxy_get_nowait(q, &got), -EAGAIN,
		   "mp_queueproxy_get_nowait: queue.Empty");
	/* FIFO across ring growth, also after the counters moved on */
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 100; i++)
			qput(q, I(i));
		assert_int_equal(mp_queueproxy_qsize(q), 100);
		for (int i = 0; i < 100; i++) {
			char want[16];

			snprintf(want, sizeof(want), "%d", i);
			assert_string_equal(qget(q, 0), want);
		}
	}
	/* bounded */
	mpt_assert_ok(mp_manager_queue(m, 2, &b));
	mpt_assert_ok(mp_queueproxy_put_nowait(b, v));
	mpt_assert_ok(mp_queueproxy_put(b, v, 0));
	assert_int_equal(mp_queueproxy_full(b), 1);
	assert_err(mp_queueproxy_put_nowait(b, v), -EAGAIN, "queue.Full");
	assert_err(mp_queueproxy_put(b, v, 0), -ETIMEDOUT, "queue.Full");
	t0 = mpt_now();
	assert_err(mp_queueproxy_put(b, v, 0.05), -ETIMEDOUT, "queue.Full");
	assert_true(mpt_now() - t0 >= 0.05);
	assert_int_equal(mp_queueproxy_qsize(b), 2);
	mpt_assert_ok(mp_queueproxy_get_nowait(b, &got));
	assert_repr(got, "7");
	mp_obj_free(got);
	assert_int_equal(mp_queueproxy_full(b), 0);
	/* bad arguments */
	assert_err(mp_queueproxy_put(b, v, -2), -EINVAL, "timeout");
	assert_err(mp_queueproxy_get(b, NAN, &got), -EINVAL, "timeout");
	assert_err(mp_queueproxy_put(NULL, v, 0), -EINVAL, "q");
	assert_err(mp_queueproxy_put(b, NULL, 0), -EINVAL, "value");
	assert_err(mp_queueproxy_get(b, 0, NULL), -EINVAL, "out");
	assert_err(mp_queueproxy_task_done(b), -EINVAL, "JoinableQueue");
	assert_err(mp_queueproxy_join(b, 0), -EINVAL, "JoinableQueue");
	assert_err(mp_manager_queue(m, 1u << 31, &b), -EINVAL, "INT32_MAX");
	assert_null(b);
	/* after shutdown */
	mp_manager_shutdown(m);
	assert_err(mp_queueproxy_put(q, v, 0), MP_ECLOSED, "shut down");
	assert_err(mp_queueproxy_get(q, 0, &got), MP_ECLOSED, "shut down");
	assert_err(mp_queueproxy_qsize(q), MP_ECLOSED, "shut down");
	assert_err(mp_manager_queue(m, 0, &q), MP_ECLOSED, "shut down");
	mp_obj_free(v);
	mp_manager_free(m);
}

static void test_mgr_joinablequeue(void **state)
{
	mp_manager_t *m = mgr_new();
	mp_queueproxy_t *q;

	(void)state;
	mpt_assert_ok(mp_manager_joinablequeue(m, 0, &q));
	mpt_assert_ok(mp_queueproxy_join(q, 0)); /* nothing unfinished */
	assert_err(mp_queueproxy_task_done(q), -EINVAL,
		   "ValueError: task_done() called too many times");
	qput(q, I(1));
	qput(q, I(2));
	assert_err(mp_queueproxy_join(q, 0), -ETIMEDOUT, "2 task(s)");
	assert_string_equal(qget(q, 0), "1");
	mpt_assert_ok(mp_queueproxy_task_done(q));
	assert_err(mp_queueproxy_join(q, 0.02), -ETIMEDOUT, "1 task(s)");
	/* a task is done when marked, not when taken */
	assert_string_equal(qget(q, 0), "2");
	assert_err(mp_queueproxy_join(q, 0), -ETIMEDOUT, "1 task(s)");
	mpt_assert_ok(mp_queueproxy_task_done(q));
	mpt_assert_ok(mp_queueproxy_join(q, 0));
	assert_err(mp_queueproxy_task_done(q), -EINVAL, "too many times");
	assert_err(mp_queueproxy_join(q, -3), -EINVAL, "timeout");
	mp_manager_free(m);
}

struct qshared {
	mp_queueproxy_t *q;
	mp_listproxy_t *l;
	int id;
	int fd;
};

#define QP_ITEMS 400

/* A producer: (id, i) for i in range(QP_ITEMS), blocking when full. */
static int q_produce(void *arg)
{
	struct qshared *s = arg;
	mp_obj_t *v;
	int rc = 0;

	for (int i = 0; i < QP_ITEMS && rc == 0; i++) {
		v = mp_obj_tuple_pack(2, mp_obj_int(s->id), mp_obj_int(i));
		rc = mp_queueproxy_put(s->q, v, mpt_timeout(30));
		mp_obj_free(v);
	}
	return rc < 0;
}

/* A consumer: get until None; check each producer's order; append how
 * many it got to the list; task_done each. */
static int q_consume(void *arg)
{
	struct qshared *s = arg;
	int64_t last[8], id, i, n = 0;
	const mp_obj_t *a, *b;
	mp_obj_t *v, *cnt;
	int rc;

	for (int k = 0; k < 8; k++)
		last[k] = -1;
	for (;;) {
		if (mp_queueproxy_get(s->q, mpt_timeout(30), &v) < 0)
			return 1;
		rc = mp_obj_kind(v) == MP_OBJ_NONE;
		if (!rc) {
			if (mp_obj_item(v, 0, &a) < 0 || mp_obj_item(v, 1, &b) < 0 ||
			    mp_obj_as_int(a, &id) < 0 || mp_obj_as_int(b, &i) < 0 ||
			    id < 0 || id >= 8 || i <= last[id])
				return 2;
			last[id] = i;
			n++;
		}
		mp_obj_free(v);
		if (mp_queueproxy_task_done(s->q) < 0)
			return 3;
		if (rc)
			break;
	}
	cnt = mp_obj_int(n);
	rc = mp_listproxy_append(s->l, cnt);
	mp_obj_free(cnt);
	return rc < 0 ? 4 : 0;
}

/* Three producers and two consumers through a queue of maxsize 4: every
 * item arrives once, each producer's in order; join sees them all done. */
static void test_mgr_queue_processes(void **state)
{
	mp_manager_t *m = mgr_new();
	struct qshared s[5];
	mp_queueproxy_t *q;
	mp_listproxy_t *l;
	mp_obj_t *v;
	int64_t total = 0, x;
	pid_t pid[5];

	(void)state;
	mpt_assert_ok(mp_manager_joinablequeue(m, 4, &q));
	mpt_assert_ok(mp_manager_list(m, NULL, &l));
	for (int i = 0; i < 5; i++) {
		s[i] = (struct qshared){q, l, i, -1};
		pid[i] = mpt_fork(i < 3 ? q_produce : q_consume, &s[i]);
	}
	for (int i = 0; i < 3; i++)
		assert_int_equal(mpt_exit_code(pid[i]), 0);
	v = mp_obj_none();
	for (int i = 0; i < 2; i++)
		mpt_assert_ok(mp_queueproxy_put(q, v, mpt_timeout(30)));
	mp_obj_free(v);
	mpt_assert_ok(mp_queueproxy_join(q, mpt_timeout(30)));
	for (int i = 3; i < 5; i++)
		assert_int_equal(mpt_exit_code(pid[i]), 0);
	assert_int_equal(mp_listproxy_len(l), 2);
	for (int i = 0; i < 2; i++) {
		mpt_assert_ok(mp_listproxy_get(l, i, &v));
		mpt_assert_ok(mp_obj_as_int(v, &x));
		total += x;
		mp_obj_free(v);
	}
	assert_int_equal(total, 3 * QP_ITEMS);
	assert_int_equal(mp_queueproxy_qsize(q), 0);
	mp_manager_free(m);
}

static void *q_thread(void *arg)
{
	struct qshared *s = arg;

	return (void *)(intptr_t)(s->id < 3 ? q_produce(s) : q_consume(s));
}

/* The same with threads of one process (TSan sees the waits). */
static void test_mgr_queue_threads(void **state)
{
	mp_manager_t *m = mgr_new();
	struct qshared s[5];
	mp_queueproxy_t *q;
	mp_listproxy_t *l;
	pthread_t th[5];
	mp_obj_t *v;
	void *ret;

	(void)state;
	mpt_assert_ok(mp_manager_joinablequeue(m, 2, &q));
	mpt_assert_ok(mp_manager_list(m, NULL, &l));
	for (int i = 0; i < 5; i++) {
		s[i] = (struct qshared){q, l, i, -1};
		assert_int_equal(pthread_create(&th[i], NULL, q_thread, &s[i]),
				 0);
	}
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pthread_join(th[i], &ret), 0);
		assert_null(ret);
	}
	v = mp_obj_none();
	for (int i = 0; i < 2; i++)
		mpt_assert_ok(mp_queueproxy_put(q, v, mpt_timeout(30)));
	mp_obj_free(v);
	mpt_assert_ok(mp_queueproxy_join(q, mpt_timeout(30)));
	for (int i = 3; i < 5; i++) {
		assert_int_equal(pthread_join(th[i], &ret), 0);
		assert_null(ret);
	}
	assert_int_equal(mp_listproxy_len(l), 2);
	mp_manager_free(m);
}

/* Blocked in get: woken by another process's put; then blocked again and
 * freed by the shutdown with MP_ECLOSED. */
static int q_wait_twice(void *arg)
{
	struct qshared *s = arg;
	mp_obj_t *v;
	int rc;

	if (write(s->fd, "w", 1) != 1)
		return 1;
	if (mp_queueproxy_get(s->q, mpt_timeout(30), &v) < 0)
		return 2;
	rc = mp_obj_kind(v) == MP_OBJ_STR;
	mp_obj_free(v);
	if (!rc || write(s->fd, "g", 1) != 1)
		return 3;
	rc = mp_queueproxy_get(s->q, mpt_timeout(30), &v);
	return rc == MP_ECLOSED ? 0 : 4;
}

static void test_mgr_queue_wakes_and_closes(void **state)
{
	mp_manager_t *m = mgr_new();
	struct qshared s;
	mp_queueproxy_t *q;
	int fds[2];
	pid_t pid;
	char c;

	(void)state;
	mpt_assert_ok(mp_manager_queue(m, 0, &q));
	assert_int_equal(pipe(fds), 0);
	s = (struct qshared){q, NULL, 0, fds[1]};
	pid = mpt_fork(q_wait_twice, &s);
	close(fds[1]);
	assert_int_equal(read(fds[0], &c, 1), 1);
	qput(q, S("hello"));
	assert_int_equal(read(fds[0], &c, 1), 1);
	assert_int_equal(c, 'g');
	mpt_assert_ok(mp_manager_shutdown(m));
	assert_int_equal(mpt_exit_code(pid), 0);
	close(fds[0]);
	mp_manager_free(m);
}

/* Puts and gets in a loop, saying after each 100 operations. */
static int q_churn(void *arg)
{
	struct qshared *s = arg;
	mp_obj_t *v, *got;

	mpt_crash_signals_default();
	for (int i = 0;; i++) {
		v = mp_obj_tuple_pack(2, mp_obj_int(i), mp_obj_str("value"));
		if (i % 3 != 2)
			mp_queueproxy_put(s->q, v, 0);
		else if (mp_queueproxy_get(s->q, 0, &got) == 0)
			mp_obj_free(got);
		mp_obj_free(v);
		if (i % 100 == 99 && write(s->fd, "x", 1) != 1)
			return 3;
	}
}

/* The queue holds qsize() decodable values in order, and works. */
static void q_check_consistent(mp_queueproxy_t *q)
{
	int n = mp_queueproxy_qsize(q);
	int64_t last = -1, i;
	const mp_obj_t *a;
	mp_obj_t *v;

	assert_true(n >= 0);
	for (int k = 0; k < n; k++) {
		mpt_assert_ok(mp_queueproxy_get_nowait(q, &v));
		mpt_assert_ok(mp_obj_item(v, 0, &a));
		mpt_assert_ok(mp_obj_as_int(a, &i));
		assert_true(i > last);
		last = i;
		mp_obj_free(v);
	}
	assert_int_equal(mp_queueproxy_empty(q), 1);
	qput(q, I(1));
	assert_string_equal(qget(q, 0), "1");
}

static void test_mgr_queue_client_killed(void **state)
{
	mp_manager_t *m = mgr_new();
	struct qshared s;
	mp_queueproxy_t *q;
	int fds[2];
	pid_t pid;
	char c[8];

	(void)state;
	mpt_assert_ok(mp_manager_joinablequeue(m, 0, &q));
	qput(q, S("kept"));
	/* killed holding the lock: the next caller takes it over */
	kill_holding(&q->lock);
	assert_int_equal(mp_queueproxy_qsize(q), 1);
	assert_string_equal(qget(q, mpt_timeout(5)), "'kept'");
	mpt_assert_ok(mp_queueproxy_task_done(q));
	mpt_assert_ok(mp_queueproxy_join(q, 0));
	/* killed at varying points of puts and gets */
	for (int round = 0; round < 20; round++) {
		assert_int_equal(pipe(fds), 0);
		s = (struct qshared){q, NULL, 0, fds[1]};
		pid = mpt_fork(q_churn, &s);
		close(fds[1]);
		for (int i = 0; i <= round % 7; i++)
			assert_int_equal(read(fds[0], c, 1), 1);
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(mpt_exit_code(pid), 128 + SIGKILL);
		close(fds[0]);
		q_check_consistent(q);
	}
	mp_manager_free(m);
}

/* ---- Value, Array, BoundedSemaphore, Barrier ---- */

static char *vget(mp_valueproxy_t *v)
{
	mp_obj_t *o;
	int rc = mp_valueproxy_get(v, &o);

	return got_repr(rc, o);
}

static char *aget(mp_arrayproxy_t *a, ptrdiff_t i)
{
	mp_obj_t *o;
	int rc = mp_arrayproxy_get(a, i, &o);

	return got_repr(rc, o);
}

/* a[0] = value must fail with rc and text (value freed). */
static void aset_fails(mp_arrayproxy_t *a, mp_obj_t *value, int rc,
		       const char *text)
{
	assert_err(mp_arrayproxy_set(a, 0, value), rc, text);
	mp_obj_free(value);
}

static void aset(mp_arrayproxy_t *a, ptrdiff_t i, mp_obj_t *value)
{
	mpt_assert_ok(mp_arrayproxy_set(a, i, value));
	mp_obj_free(value);
}

static void test_mgr_value(void **state)
{
	mp_manager_t *m = mgr_new();
	mp_valueproxy_t *v;
	mp_obj_t *o;

	(void)state;
	o = I(0);
	mpt_assert_ok(mp_manager_value(m, o, &v));
	mp_obj_free(o);
	assert_string_equal(vget(v), "0");
	o = mp_obj_dict();
	mpt_assert_ok(mp_obj_dict_set(o, S("k"), mp_obj_list()));
	mpt_assert_ok(mp_valueproxy_set(v, o));
	mp_obj_free(o);
	assert_string_equal(vget(v), "{'k': []}");
	assert_err(mp_valueproxy_set(v, NULL), -EINVAL, "value");
	/* a client killed holding the Value's lock: taken over */
	kill_holding(&v->lock);
	assert_string_equal(vget(v), "{'k': []}");
	o = I(2);
	mpt_assert_ok(mp_valueproxy_set(v, o));
	mp_obj_free(o);
	assert_string_equal(vget(v), "2");
	assert_err(mp_manager_value(m, NULL, &v), -EINVAL, "init");
	mp_manager_free(m);
}

static void test_mgr_array_typecodes(void **state)
{
	mp_manager_t *m = mgr_new();
	mp_arrayproxy_t *a;
	mp_obj_t *init;
	unsigned char u64max[9] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
				   0xff, 0};
	unsigned char big[10] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

	(void)state;
	init = mp_obj_tuple_pack(3, I(1), mp_obj_bool(true), I(-3));
	mpt_assert_ok(mp_manager_array(m, 'i', init, &a));
	mp_obj_free(init);
	assert_int_equal(mp_arrayproxy_len(a), 3);
	assert_string_equal(aget(a, 0), "1");
	assert_string_equal(aget(a, 1), "1");
	assert_string_equal(aget(a, -1), "-3");
	assert_err(mp_arrayproxy_get(a, 3, &init), -ERANGE,
		   "IndexError: array index out of range");
	assert_err(mp_arrayproxy_set(a, -4, init), -EINVAL, "value");
	aset_fails(a, mp_obj_float(2.0), -EINVAL,
		   "TypeError: 'float' object cannot be interpreted as an "
		   "integer");
	aset_fails(a, S("x"), -EINVAL, "TypeError: 'str' object cannot be "
				       "interpreted as an integer");
	aset_fails(a, I(1ll << 31), -ERANGE,
		   "OverflowError: signed integer is greater than maximum");
	aset_fails(a, I(-(1ll << 31) - 1), -ERANGE,
		   "signed integer is less than minimum");
	aset_fails(a, mp_obj_bigint(big, 10), -ERANGE,
		   "OverflowError: Python int too large to convert to C long");
	init = I(5);
	assert_err(mp_arrayproxy_set(a, 3, init), -ERANGE,
		   "IndexError: array assignment index out of range");
	mp_obj_free(init);
	aset(a, -3, I(INT32_MIN));
	assert_string_equal(aget(a, 0), "-2147483648");
	/* each typecode's range and CPython's words */
	struct {
		char code;
		int64_t lo, hi;
		const char *over, *under;
	} r[] = {
		{'b', -128, 127, "signed char is greater than maximum",
		 "signed char is less than minimum"},
		{'B', 0, 255, "unsigned byte integer is greater than maximum",
		 "unsigned byte integer is less than minimum"},
		{'h', -32768, 32767, "signed short integer is greater",
		 "signed short integer is less"},
		{'H', 0, 65535, "unsigned short is greater than maximum",
		 "unsigned short is less than minimum"},
		{'I', 0, 4294967295ll, "unsigned int is greater than maximum",
		 "can't convert negative value to unsigned int"},
	};
	for (size_t k = 0; k < sizeof(r) / sizeof(r[0]); k++) {
		char want[32];

		init = mp_obj_list();
		mpt_assert_ok(mp_obj_list_append(init, I(r[k].lo)));
		mpt_assert_ok(mp_manager_array(m, r[k].code, init, &a));
		mp_obj_free(init);
		aset(a, 0, I(r[k].hi));
		snprintf(want, sizeof(want), "%lld", (long long)r[k].hi);
		assert_string_equal(aget(a, 0), want);
		aset(a, 0, I(r[k].lo));
		snprintf(want, sizeof(want), "%lld", (long long)r[k].lo);
		assert_string_equal(aget(a, 0), want);
		aset_fails(a, I(r[k].hi + 1), -ERANGE, r[k].over);
		aset_fails(a, I(r[k].lo - 1), -ERANGE, r[k].under);
	}
	/* 64-bit: Q and L hold up to 2**64 - 1 */
	mpt_assert_ok(mp_manager_array(m, 'Q', NULL, &a));
	assert_int_equal(mp_arrayproxy_len(a), 0);
	init = mp_obj_list();
	mpt_assert_ok(mp_obj_list_append(init, mp_obj_bigint(u64max, 9)));
	mpt_assert_ok(mp_manager_array(m, 'Q', init, &a));
	assert_string_equal(aget(a, 0), "18446744073709551615");
	aset_fails(a, I(-1), -ERANGE, "can't convert negative int to unsigned");
	aset_fails(a, mp_obj_bigint(big, 10), -ERANGE, "int too big to convert");
	mpt_assert_ok(mp_manager_array(m, 'L', init, &a));
	aset_fails(a, mp_obj_bigint(big, 10), -ERANGE,
		   "Python int too large to convert to C unsigned long");
	assert_err(mp_manager_array(m, 'q', init, &a), -ERANGE,
		   "int too big to convert");
	assert_err(mp_manager_array(m, 'l', init, &a), -ERANGE,
		   "too large to convert to C long");
	mp_obj_free(init);
	/* floats */
	init = mp_obj_tuple_pack(2, mp_obj_float(0.1), I(3));
	mpt_assert_ok(mp_manager_array(m, 'd', init, &a));
	assert_string_equal(aget(a, 0), "0.1");
	assert_string_equal(aget(a, 1), "3.0");
	aset_fails(a, S("x"), -EINVAL, "TypeError: must be real number, not str");
	aset_fails(a, mp_obj_none(), -EINVAL, "not NoneType");
	mpt_assert_ok(mp_manager_array(m, 'f', init, &a));
	assert_string_equal(aget(a, 0), "0.10000000149011612");
	aset(a, 1, mp_obj_float(1e39));
	assert_string_equal(aget(a, 1), "inf");
	mp_obj_free(init);
	/* refusals */
	init = mp_obj_tuple_pack(2, I(1), mp_obj_float(2.5));
	assert_err(mp_manager_array(m, 'i', init, &a), -EINVAL,
		   "'float' object cannot be interpreted");
	assert_null(a);
	assert_err(mp_manager_array(m, 'u', init, &a), -EINVAL,
		   "ValueError: bad typecode (must be b, B, h, H, i, I, l, L, "
		   "q, Q, f or d)");
	mp_obj_free(init);
	init = I(3);
	assert_err(mp_manager_array(m, 'i', init, &a), -EINVAL,
		   "not a list or tuple");
	mp_obj_free(init);
	mp_manager_free(m);
}

struct vshared {
	mp_valueproxy_t *v;
	mp_arrayproxy_t *a;
	mp_barrier_t *b;
	int id;
};

/* Each child writes its slot of the array, then meets the others at the
 * barrier; the one with index 0 sets the value. */
static int va_child(void *arg)
{
	struct vshared *s = arg;
	mp_obj_t *o = mp_obj_int(s->id * 10);
	int rc;

	rc = mp_arrayproxy_set(s->a, s->id, o);
	mp_obj_free(o);
	if (rc < 0)
		return 1;
	rc = mp_barrier_wait(s->b, mpt_timeout(30));
	if (rc < 0)
		return 2;
	if (rc == 0) {
		o = mp_obj_str("done");
		rc = mp_valueproxy_set(s->v, o);
		mp_obj_free(o);
	}
	return rc < 0 ? 3 : 0;
}

static void test_mgr_value_array_barrier_processes(void **state)
{
	mp_manager_t *m = mgr_new();
	struct vshared s[3];
	mp_valueproxy_t *v;
	mp_arrayproxy_t *a;
	mp_barrier_t *b;
	mp_obj_t *init;
	pid_t pid[3];

	(void)state;
	init = mp_obj_none();
	mpt_assert_ok(mp_manager_value(m, init, &v));
	mp_obj_free(init);
	init = mp_obj_tuple_pack(3, I(-1), I(-1), I(-1));
	mpt_assert_ok(mp_manager_array(m, 'h', init, &a));
	mp_obj_free(init);
	mpt_assert_ok(mp_manager_barrier(m, 3, NULL, &b));
	assert_int_equal(mp_barrier_parties(b), 3);
	for (int i = 0; i < 3; i++) {
		s[i] = (struct vshared){v, a, b, i};
		pid[i] = mpt_fork(va_child, &s[i]);
	}
	for (int i = 0; i < 3; i++)
		assert_int_equal(mpt_exit_code(pid[i]), 0);
	assert_string_equal(aget(a, 0), "0");
	assert_string_equal(aget(a, 1), "10");
	assert_string_equal(aget(a, 2), "20");
	assert_string_equal(vget(v), "'done'");
	assert_int_equal(mp_barrier_n_waiting(b), 0);
	assert_int_equal(mp_barrier_broken(b), 0);
	mp_manager_free(m);
}

static int barrier_waiter(void *arg)
{
	struct vshared *s = arg;

	return mp_barrier_wait(s->b, mpt_timeout(30)) == MP_EBARRIER ? 0 : 1;
}

static void test_mgr_bounded_semaphore_and_barrier(void **state)
{
	mp_manager_t *m = mgr_new();
	mp_barrier_opts_t bo = {0};
	mp_semaphore_t *sem;
	mp_barrier_t *b;
	struct vshared s = {0};
	double t0;
	pid_t pid;

	(void)state;
	mpt_assert_ok(mp_manager_bounded_semaphore(m, 2, &sem));
	mpt_assert_ok(mp_semaphore_acquire(sem, 0));
	mpt_assert_ok(mp_semaphore_release(sem, 1));
	assert_err(mp_semaphore_release(sem, 1), -EINVAL,
		   "mp_semaphore_release: Semaphore released too many times");
	assert_int_equal(mp_semaphore_get_value(sem), 2);
	assert_err(mp_manager_bounded_semaphore(m, 0, &sem), -EINVAL,
		   "never be released");
	assert_null(sem);
	/* a plain library BoundedSemaphore keeps multiprocessing's words */
	mpt_assert_ok(mp_manager_semaphore(m, 1, &sem));
	assert_err(mp_semaphore_release(sem, INT32_MAX), -EINVAL,
		   "semaphore or lock released too many times");
	/* Barrier: timeout, abort, reset */
	bo.timeout = 0.05;
	mpt_assert_ok(mp_manager_barrier(m, 2, &bo, &b));
	assert_err(mp_barrier_wait(b, MP_BARRIER_DEFAULT), MP_EBARRIER,
		   "timed out");
	assert_int_equal(mp_barrier_broken(b), 1);
	mpt_assert_ok(mp_barrier_reset(b));
	assert_int_equal(mp_barrier_broken(b), 0);
	s.b = b;
	pid = mpt_fork(barrier_waiter, &s);
	t0 = mpt_now();
	while (mp_barrier_n_waiting(b) < 1 && mpt_now() - t0 < mpt_timeout(10))
		sched_yield();
	assert_int_equal(mp_barrier_n_waiting(b), 1);
	mpt_assert_ok(mp_barrier_abort(b));
	assert_int_equal(mpt_exit_code(pid), 0);
	assert_err(mp_barrier_wait(b, 0), MP_EBARRIER, "broken");
	bo.action = (mp_barrier_action_fn)1;
	assert_err(mp_manager_barrier(m, 2, &bo, &b), -EINVAL, "action");
	bo = (mp_barrier_opts_t){.timeout = -5};
	assert_err(mp_manager_barrier(m, 2, &bo, &b), -EINVAL, "timeout");
	assert_err(mp_manager_barrier(m, 0, NULL, &b), -EINVAL, "parties");
	mp_manager_free(m);
}

/* ---- list slices with a step, reverse ---- */

/* l as a repr (through a slice of it all). */
static char *lrepr(mp_listproxy_t *l)
{
	mp_obj_t *o;
	int rc = mp_listproxy_slice(l, 0, PTRDIFF_MAX, &o);

	return got_repr(rc, o);
}

static mp_listproxy_t *range_list(mp_manager_t *m, int n, int first)
{
	mp_listproxy_t *l;
	mp_obj_t *init = mp_obj_list();

	for (int i = 0; i < n; i++)
		mpt_assert_ok(mp_obj_list_append(init, I(first < 0 ? -(i + 1)
								 : first + i)));
	mpt_assert_ok(mp_manager_list(m, init, &l));
	mp_obj_free(init);
	return l;
}

/* Expected values computed by CPython on list(range(10)): l[a:b:c],
 * del l[a:b:c], l[a:b:c] = [-1, -2, ... -n]. */
static const struct {
	ptrdiff_t a, b, c;
	int n;
	const char *get, *del, *set;
} slice_cases[] = {
		{PTRDIFF_MIN, PTRDIFF_MAX, 1, 2, "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]",
		 "[]",
		 "[-1, -2]"},
		{PTRDIFF_MAX, PTRDIFF_MIN, -1, 10, "[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]",
		 "[]",
		 "[-10, -9, -8, -7, -6, -5, -4, -3, -2, -1]"},
		{2, PTRDIFF_MAX, 1, 2, "[2, 3, 4, 5, 6, 7, 8, 9]",
		 "[0, 1]",
		 "[0, 1, -1, -2]"},
		{-3, PTRDIFF_MAX, 1, 2, "[7, 8, 9]",
		 "[0, 1, 2, 3, 4, 5, 6]",
		 "[0, 1, 2, 3, 4, 5, 6, -1, -2]"},
		{1, 8, 3, 3, "[1, 4, 7]",
		 "[0, 2, 3, 5, 6, 8, 9]",
		 "[0, -1, 2, 3, -2, 5, 6, -3, 8, 9]"},
		{8, 1, -3, 3, "[8, 5, 2]",
		 "[0, 1, 3, 4, 6, 7, 9]",
		 "[0, 1, -3, 3, 4, -2, 6, 7, -1, 9]"},
		{PTRDIFF_MIN, PTRDIFF_MAX, 2, 5, "[0, 2, 4, 6, 8]",
		 "[1, 3, 5, 7, 9]",
		 "[-1, 1, -2, 3, -3, 5, -4, 7, -5, 9]"},
		{-1, -20, -2, 5, "[9, 7, 5, 3, 1]",
		 "[0, 2, 4, 6, 8]",
		 "[0, -5, 2, -4, 4, -3, 6, -2, 8, -1]"},
		{5, 2, 1, 2, "[]",
		 "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]",
		 "[0, 1, 2, 3, 4, -1, -2, 5, 6, 7, 8, 9]"},
		{100, 200, 1, 2, "[]",
		 "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]",
		 "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, -1, -2]"},
		{-100, 3, 1, 2, "[0, 1, 2]",
		 "[3, 4, 5, 6, 7, 8, 9]",
		 "[-1, -2, 3, 4, 5, 6, 7, 8, 9]"},
		{3, 3, 1, 2, "[]",
		 "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]",
		 "[0, 1, 2, -1, -2, 3, 4, 5, 6, 7, 8, 9]"},
		{PTRDIFF_MAX, PTRDIFF_MIN, -4, 3, "[9, 5, 1]",
		 "[0, 2, 3, 4, 6, 7, 8]",
		 "[0, -3, 2, 3, 4, -2, 6, 7, 8, -1]"},
		{7, PTRDIFF_MIN, -2, 4, "[7, 5, 3, 1]",
		 "[0, 2, 4, 6, 8, 9]",
		 "[0, -4, 2, -3, 4, -2, 6, -1, 8, 9]"},
		{0, 10, 20, 1, "[0]",
		 "[1, 2, 3, 4, 5, 6, 7, 8, 9]",
		 "[-1, 1, 2, 3, 4, 5, 6, 7, 8, 9]"},
};

static void test_mgr_list_slices(void **state)
{
	mp_manager_t *m = mgr_new();
	mp_listproxy_t *l, *src;
	mp_obj_t *o, *items;

	(void)state;
	for (size_t k = 0; k < sizeof(slice_cases) / sizeof(slice_cases[0]);
	     k++) {
		ptrdiff_t a = slice_cases[k].a, b = slice_cases[k].b,
			  c = slice_cases[k].c;

		l = range_list(m, 10, 0);
		mpt_assert_ok(mp_listproxy_get_slice(l, a, b, c, &o));
		assert_string_equal(got_repr(0, o), slice_cases[k].get);
		mpt_assert_ok(mp_listproxy_del_slice(l, a, b, c));
		assert_string_equal(lrepr(l), slice_cases[k].del);
		l = range_list(m, 10, 0);
		src = range_list(m, slice_cases[k].n, -1);
		mpt_assert_ok(mp_listproxy_slice(src, 0, PTRDIFF_MAX, &items));
		mpt_assert_ok(mp_listproxy_set_slice(l, a, b, c, items));
		mp_obj_free(items);
		assert_string_equal(lrepr(l), slice_cases[k].set);
	}
	/* CPython's errors; nothing changes */
	l = range_list(m, 10, 0);
	items = mp_obj_tuple_pack(1, I(1));
	assert_err(mp_listproxy_set_slice(l, PTRDIFF_MIN, PTRDIFF_MAX, 2,
					  items),
		   -EINVAL, "ValueError: attempt to assign sequence of size 1 "
			    "to extended slice of size 5");
	assert_err(mp_listproxy_set_slice(l, 0, 3, 0, items), -EINVAL,
		   "ValueError: slice step cannot be zero");
	assert_err(mp_listproxy_get_slice(l, 0, 3, 0, &o), -EINVAL,
		   "slice step cannot be zero");
	assert_null(o);
	assert_err(mp_listproxy_del_slice(l, 0, 3, 0), -EINVAL,
		   "slice step cannot be zero");
	mp_obj_free(items);
	items = I(3);
	assert_err(mp_listproxy_set_slice(l, 0, 3, 1, items), -EINVAL,
		   "not 'int'");
	mp_obj_free(items);
	assert_err(mp_listproxy_set_slice(l, 0, 3, 1, NULL), -EINVAL,
		   "items");
	assert_string_equal(lrepr(l), "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]");
	/* growing and shrinking by a plain slice, then reverse */
	items = mp_obj_list();
	for (int i = 0; i < 50; i++)
		mpt_assert_ok(mp_obj_list_append(items, S("x")));
	mpt_assert_ok(mp_listproxy_set_slice(l, 1, 9, 1, items));
	assert_int_equal(mp_listproxy_len(l), 52);
	mp_obj_free(items);
	mpt_assert_ok(mp_listproxy_del_slice(l, 1, -1, 1));
	assert_string_equal(lrepr(l), "[0, 9]");
	mpt_assert_ok(mp_listproxy_append(l, items = S("e")));
	mp_obj_free(items);
	mpt_assert_ok(mp_listproxy_reverse(l));
	assert_string_equal(lrepr(l), "['e', 9, 0]");
	l = range_list(m, 0, 0);
	mpt_assert_ok(mp_listproxy_reverse(l));
	mpt_assert_ok(mp_listproxy_del_slice(l, PTRDIFF_MIN, PTRDIFF_MAX, -1));
	assert_string_equal(lrepr(l), "[]");
	mp_manager_shutdown(m);
	assert_err(mp_listproxy_reverse(l), MP_ECLOSED, "shut down");
	assert_err(mp_listproxy_del_slice(l, 0, 1, 1), MP_ECLOSED, "shut down");
	mp_manager_free(m);
}

/* ---- nested proxies ---- */

struct nest {
	mp_manager_t *m;
	mp_dictproxy_t *d;
};

/* A forked child: d['inner'] read back as a list handle, appended to. */
static int nest_child(void *arg)
{
	struct nest *n = arg;
	mp_obj_t *k = mp_obj_str("inner"), *v = NULL, *one = mp_obj_int(1);
	void *p = NULL;
	int rc = 1;

	if (mp_dictproxy_get(n->d, k, &v) == 0 &&
	    mp_obj_as_proxy(v, n->m, MP_MANAGER_LIST, &p) == MP_MANAGER_LIST &&
	    mp_listproxy_append(p, one) == 0)
		rc = 0;
	mp_obj_free(k);
	mp_obj_free(v);
	mp_obj_free(one);
	return rc;
}

static void test_mgr_nested_proxies(void **state)
{
	mp_manager_t *m = mgr_new(), *m2 = mgr_new();
	struct nest n = {m, NULL};
	mp_listproxy_t *l, *outer;
	mp_namespaceproxy_t *ns;
	mp_queueproxy_t *q;
	mp_valueproxy_t *val;
	mp_lock_t *lock;
	mp_obj_t *v, *w, *k = S("inner"), *forged;
	mp_bytes_t pk = {0};
	void *p;

	(void)state;
	mpt_assert_ok(mp_manager_dict(m, NULL, &n.d));
	mpt_assert_ok(mp_manager_list(m, NULL, &l));
	mpt_assert_ok(mp_manager_list(m, NULL, &outer));
	mpt_assert_ok(mp_manager_namespace(m, &ns));
	mpt_assert_ok(mp_manager_queue(m, 0, &q));
	mpt_assert_ok(mp_manager_lock(m, &lock));
	/* d['inner'] = list: a forked child appends through it */
	v = mp_obj_proxy(m, MP_MANAGER_LIST, l);
	assert_non_null(v);
	assert_int_equal(mp_obj_kind(v), MP_OBJ_OBJECT);
	assert_string_equal(repr_of(v) + strlen(repr_of(v)) - 13,
			    "'pickle', {})");
	mpt_assert_ok(mp_dictproxy_set(n.d, k, v));
	assert_int_equal(mpt_exit_code(mpt_fork(nest_child, &n)), 0);
	assert_int_equal(mp_listproxy_len(l), 1);
	/* CPython's pickle of a proxy, both ways */
	mpt_assert_ok(mp_pickle_dumps(v, 4, &pk));
	mpt_assert_ok(mp_pickle_loads(pk.data, pk.len, &w));
	assert_int_equal(mp_obj_eq(v, w), 1);
	assert_non_null(strstr(repr_of(w), "RebuildProxy('ListProxy', Token("
			       "typeid='list', address=None, id='"));
	mp_bytes_destroy(&pk);
	mp_obj_free(w);
	/* any kind (0), the kind asked, another kind */
	assert_int_equal(mp_obj_as_proxy(v, m, 0, &p), MP_MANAGER_LIST);
	assert_ptr_equal(p, l);
	assert_err(mp_obj_as_proxy(v, m, MP_MANAGER_DICT, &p), -EINVAL,
		   "TypeError: the value is a proxy to a 'list', not a 'dict'");
	assert_null(p);
	mp_obj_free(v);
	/* in a list, a Namespace, a Queue, a Value: each reads back */
	v = mp_obj_proxy(m, MP_MANAGER_LOCK, lock);
	mpt_assert_ok(mp_listproxy_append(outer, v));
	mpt_assert_ok(mp_namespaceproxy_set(ns, "lock", v));
	mpt_assert_ok(mp_queueproxy_put(q, v, 0));
	mpt_assert_ok(mp_manager_value(m, v, &val));
	mp_obj_free(v);
	mpt_assert_ok(mp_listproxy_get(outer, 0, &v));
	assert_int_equal(mp_obj_as_proxy(v, m, MP_MANAGER_LOCK, &p),
			 MP_MANAGER_LOCK);
	assert_ptr_equal(p, lock);
	mp_obj_free(v);
	mpt_assert_ok(mp_namespaceproxy_get(ns, "lock", &v));
	assert_int_equal(mp_obj_as_proxy(v, m, 0, &p), MP_MANAGER_LOCK);
	mp_obj_free(v);
	mpt_assert_ok(mp_queueproxy_get(q, 0, &v));
	assert_int_equal(mp_obj_as_proxy(v, m, 0, &p), MP_MANAGER_LOCK);
	mp_obj_free(v);
	mpt_assert_ok(mp_valueproxy_get(val, &v));
	assert_int_equal(mp_obj_as_proxy(v, m, 0, &p), MP_MANAGER_LOCK);
	mpt_assert_ok(mp_lock_acquire(p, 0));
	assert_int_equal(mp_lock_locked(lock), 1);
	mpt_assert_ok(mp_lock_release(p));
	/* a Queue's proxy is CPython's AutoProxy with its exposed names */
	mp_obj_free(v);
	v = mp_obj_proxy(m, MP_MANAGER_QUEUE, q);
	assert_non_null(strstr(repr_of(v), "RebuildProxy('AutoProxy', "
				"Token(typeid='Queue', address=None, id="));
	assert_non_null(strstr(repr_of(v), "{'exposed': ('empty', 'full',"));
	mp_obj_free(v);
	/* what is not a proxy of this manager is refused, never followed */
	assert_err(mp_obj_as_proxy(k, m, 0, &p), -EINVAL,
		   "TypeError: the value is a 'str', not a proxy");
	forged = mp_obj_object("multiprocessing.managers", "RebuildProxy",
		mp_obj_tuple_pack(4, S("ListProxy"), mp_obj_object(
			"multiprocessing.managers", "Token",
			mp_obj_tuple(0, NULL), mp_obj_tuple_pack(3, S("list"),
			mp_obj_none(), S("40")), MP_OBJ_NEWOBJ), S("pickle"),
			mp_obj_dict()), NULL, 0);
	assert_non_null(forged);
	assert_err(mp_obj_as_proxy(forged, m, 0, &p), -ENOENT,
		   "KeyError: '40'");
	mp_obj_free(forged);
	/* the writer writes a RebuildProxy only of a proxy class */
	forged = mp_obj_object("multiprocessing.managers", "RebuildProxy",
		mp_obj_tuple_pack(4, S("os.system"), mp_obj_object(
			"multiprocessing.managers", "Token",
			mp_obj_tuple(0, NULL), mp_obj_tuple_pack(3, S("list"),
			mp_obj_none(), S("40")), MP_OBJ_NEWOBJ), S("pickle"),
			mp_obj_dict()), NULL, 0);
	assert_err(mp_pickle_dumps(forged, 4, &pk), -EINVAL,
		   "RebuildProxy needs (proxy class name, Token");
	mp_obj_free(forged);
	assert_null(mp_obj_proxy(m, MP_MANAGER_LIST, k));
	assert_int_equal(mp_last_error_code(), -EINVAL);
	assert_null(mp_obj_proxy(m, 99, l));
	assert_null(mp_obj_proxy(m2, MP_MANAGER_LIST, l));
	assert_err(mp_obj_as_proxy(NULL, m, 0, &p), -EINVAL, "'o' is NULL");
	/* a nested plain value changes only when assigned back (CPython) */
	mp_obj_free(k);
	k = S("plain");
	v = mp_obj_list();
	mpt_assert_ok(mp_obj_list_append(v, I(1)));
	mpt_assert_ok(mp_dictproxy_set(n.d, k, v));
	mpt_assert_ok(mp_obj_list_append(v, I(2)));
	mp_obj_free(v);
	mpt_assert_ok(mp_dictproxy_get(n.d, k, &v));
	assert_repr(v, "[1]");
	mpt_assert_ok(mp_obj_list_append(v, I(3)));
	mp_obj_free(v);
	mpt_assert_ok(mp_dictproxy_get(n.d, k, &v));
	assert_repr(v, "[1]");
	mp_obj_free(v);
	mp_obj_free(k);
	mp_manager_shutdown(m);
	v = mp_obj_proxy(m, MP_MANAGER_LIST, l);
	assert_null(v);
	assert_int_equal(mp_last_error_code(), MP_ECLOSED);
	mp_manager_free(m2);
	mp_manager_free(m);
}

/* ---- where regions live (manager/space.c): travel to any child ---- */

/* A child given a local manager's dict (opts.shared[0], or [1] after a
 * Lock): d["seen"] = 1. */
static int set_seen(void *arg)
{
	mp_dictproxy_t *d = mp_process_shared(0, MP_SHARED_DICTPROXY);
	mp_obj_t *k, *v;
	int rc;

	(void)arg;
	if (d == NULL && mp_process_shared(0, MP_SHARED_LOCK) != NULL)
		d = mp_process_shared(1, MP_SHARED_DICTPROXY);
	if (d == NULL)
		return 1;
	k = mp_obj_str("seen");
	v = mp_obj_int(1);
	rc = mp_dictproxy_set(d, k, v);
	mp_obj_free(k);
	mp_obj_free(v);
	return rc == 0 ? 0 : 2;
}
MP_TARGET(set_seen);

/* set_seen in a child started by method with the n objects of sh: 0 once
 * it returned 0, the start's or join's code, or 1000 + its exit code.  No
 * cmocka assertion: made_before_mp_init runs it outside a test. */
static int run_set_seen(const char *method, mp_shared_t *sh, size_t n)
{
	mp_process_t *p = mp_process_new(set_seen, NULL,
					 &(mp_process_opts_t){
						 .start_method = method,
						 .shared = sh,
						 .nshared = n});
	int rc, code = -1;

	if (p == NULL)
		return mp_last_error_code();
	if ((rc = mp_process_start(p)) == 0 &&
	    (rc = mp_process_join(p, mpt_timeout(30))) == 0 &&
	    (mp_process_exitcode(p, &code) != 1 || code != 0))
		rc = 1000 + code;
	mp_process_free(p);
	return rc;
}

/* d["seen"] (popped), "<code>" when it is not there. */
static char *pop_seen(mp_dictproxy_t *d)
{
	mp_obj_t *k = S("seen"), *v = NULL;
	int rc = mp_dictproxy_pop(d, k, &v);

	mp_obj_free(k);
	return got_repr(rc, v);
}

/* Does process pid map a manager's region?  (false when unreadable) */
static bool maps_region(pid_t pid)
{
	char path[64], line[512];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, "mproc-manager") != NULL;
	fclose(f);
	return found;
}

/* The copy of this program that test_mgr_made_before_mp_init runs
 * (MPT_MGR_BEFORE_INIT set): a manager and its dict made before mp_init,
 * the dict handed with a Lock to a forkserver and a spawn child.  Exits 0
 * when both set d["seen"] and, the manager freed, the fork server does
 * not map its region, else the step that failed (10 * method + why). */
static int made_before_mp_init(int argc, char **argv)
{
	mp_manager_t *mg;
	mp_dictproxy_t *d = NULL;
	mp_lock_t *l;
	int rc;

	unsetenv("MPT_MGR_BEFORE_INIT"); /* not in the spawn child */
	if ((mg = mp_manager_new(NULL)) == NULL ||
	    mp_manager_dict(mg, NULL, &d) != 0)
		return 2;
	if (mp_init(argc, argv) != 0 || (l = mp_lock_new()) == NULL)
		return 3;
	for (size_t m = 1; m < 3; m++) {
		mp_shared_t sh[2] = {{MP_SHARED_LOCK, l},
				     {MP_SHARED_DICTPROXY, d}};

		if ((rc = run_set_seen(methods[m], sh, 2)) != 0) {
			fprintf(stderr, "%s child: %d (%s)\n", methods[m], rc,
				mp_last_error());
			return 10 * (int)m + 1;
		}
		if (strcmp(pop_seen(d), "1") != 0)
			return 10 * (int)m + 2;
	}
	mp_lock_free(l);
	mp_manager_free(mg);
	return maps_region(mp__forkserver_pid()) ? 4 : 0;
}

/* A manager made before mp_init (against the docs' advice, but it
 * happens): its region reserves the range itself, and its objects reach
 * forkserver and spawn children.  The fork server drops the copy it
 * inherits: it used to keep the region mapped (its memory held after the
 * manager was freed) and listed (its children took the program's old
 * mapping for any region later given the same address). */
static void test_mgr_made_before_mp_init(void **state)
{
	pid_t pid;

	(void)state;
	fflush(NULL);
	if ((pid = fork()) == 0) {
		setenv("MPT_MGR_BEFORE_INIT", "1", 1);
		execl(mpt_self_exe(), "before-init", (char *)NULL);
		_exit(127);
	}
	assert_true(pid > 0);
	assert_int_equal(mpt_exit_code(pid), 0);
}

/* Fill the range's table of parts (manager/space.c) with 4 KiB maps of
 * fd, until one lands outside: the maps in fill, their number. */
static size_t fill_range(int fd, void **fill, size_t cap)
{
	size_t n = 0;

	do {
		assert_true(n < cap);
		fill[n] = mp__space_map(fd, 4096);
		assert_true(fill[n] != MAP_FAILED);
	} while (mp__space_holds(fill[n++]));
	return n;
}

/* A region the range has no room for (manager/space.c) goes where the
 * kernel puts it: its objects go to fork children, and a forkserver or
 * spawn child is refused before it exists (-ENOTSUP naming the cause),
 * where the child would have found its address taken, or not, by
 * chance.  The regions that fit travel as before.  The range is filled
 * with its 256 parts here: a region bigger than what is free (a
 * capacity over 64 GiB) takes the same way, but valgrind's leak check
 * would read all of it. */
static void test_mgr_region_outside_the_range(void **state)
{
	mp_manager_t *out, *fits;
	mp_dictproxy_t *d = NULL, *e = NULL;
	mp_lock_t *l = NULL;
	void *fill[1024];
	size_t n;
	int fd = memfd_create("mptest-fill", MFD_CLOEXEC);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 4096), 0);
	n = fill_range(fd, fill, 1024);
	assert_int_equal(n, 256 + 1);
	mp__space_unmap(fill[--n], 4096); /* the one outside */
	out = mp_manager_new(&(mp_manager_opts_t){.capacity = 64 << 10});
	assert_non_null(out);
	mp__space_unmap(fill[--n], 4096); /* room for one */
	fits = mgr_new();
	mpt_assert_ok(mp_manager_dict(out, NULL, &d));
	mpt_assert_ok(mp_manager_lock(out, &l));
	mpt_assert_ok(mp_manager_dict(fits, NULL, &e));
	for (size_t m = 1; m < 3; m++) {
		mp_shared_t sh[2] = {{MP_SHARED_DICTPROXY, d},
				     {MP_SHARED_LOCK, l}};

		assert_err(run_set_seen(methods[m], sh, 1), -ENOTSUP,
			   "opts->shared[0] (a DictProxy) can go only to "
			   "fork children");
		assert_non_null(strstr(mp_last_error(), "had no room for it"));
		sh[0].obj = e;
		assert_err(run_set_seen(methods[m], sh, 2), -ENOTSUP,
			   "opts->shared[1] (a Lock) can go only to fork "
			   "children");
		mpt_assert_ok(run_set_seen(methods[m], sh, 1));
		assert_string_equal(pop_seen(e), "1");
	}
	mpt_assert_ok(run_set_seen(
		"fork",
		(mp_shared_t[]){{MP_SHARED_DICTPROXY, d}, {MP_SHARED_LOCK, l}},
		2));
	assert_string_equal(pop_seen(d), "1");
	mp_manager_free(fits);
	mp_manager_free(out);
	while (n > 0)
		mp__space_unmap(fill[--n], 4096);
	close(fd);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		MPT(test_mgr_small_pickles),
		MPT(test_mgr_dict_ops),
		MPT(test_mgr_dict_keys_follow_python),
		MPT(test_mgr_dict_iteration_errors),
		MPT(test_mgr_list_ops),
		MPT(test_mgr_list_sort),
		MPT(test_mgr_namespace),
		MPT(test_mgr_nested_proxies),
		MPT(test_mgr_processes_mutate_concurrently),
		MPT(test_mgr_threads_mutate_concurrently),
		MPT(test_mgr_client_killed_holding_the_lock),
		MPT(test_mgr_clients_killed_mid_update),
		MPT(test_mgr_server_process),
		MPT(test_mgr_shutdown_is_bounded),
		MPT(test_mgr_full_region),
		MPT(test_mgr_server_dies_with_its_creator),
		MPT(test_mgr_child_free_leaves_the_server),
		MPT(test_mgr_sync_objects),
		MPT(test_mgr_queue_ops),
		MPT(test_mgr_joinablequeue),
		MPT(test_mgr_queue_processes),
		MPT(test_mgr_queue_threads),
		MPT(test_mgr_queue_wakes_and_closes),
		MPT(test_mgr_queue_client_killed),
		MPT(test_mgr_value),
		MPT(test_mgr_array_typecodes),
		MPT(test_mgr_value_array_barrier_processes),
		MPT(test_mgr_bounded_semaphore_and_barrier),
		MPT(test_mgr_list_slices),
		MPT(test_mgr_made_before_mp_init),
		MPT(test_mgr_region_outside_the_range),
	};
	int init;

	if (getenv("MPT_MGR_BEFORE_INIT") != NULL)
		return made_before_mp_init(argc, argv);
	init = mp_init(argc, argv); /* first: a spawn child runs here */
	if (init < 0) {
		fprintf(stderr, "mp_init: %s\n", mp_last_error());
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
