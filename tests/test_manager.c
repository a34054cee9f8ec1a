/* test_manager.c - the value type (mp_obj_t) and the pickle subset:
 * Python's semantics in C, exact bytes against CPython, interop both ways
 * with the python3 on the machine, and a hostile peer's pickles. */
#include "mptest.h"
#include "mptest_py.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/prctl.h>

#include "manager/mgr_int.h"
#include "mproc/manager.h"
#include "mproc/subprocess.h"

/* ---- helpers ---- */

static char *repr_of(const mp_obj_t *o)
{
	static char buf[4][4096];
	static int k;
	char *b = buf[k++ % 4];
	mp_bytes_t r;

	mpt_assert_ok(mp_obj_repr(o, &r));
	snprintf(b, 4096, "%s", r.data);
	mp_bytes_destroy(&r);
	return b;
}

#define assert_repr(o, want) assert_string_equal(repr_of(o), (want))

static mp_obj_t *S(const char *s)
{
	return mp_obj_str(s);
}

static mp_obj_t *I(int64_t v)
{
	return mp_obj_int(v);
}

/* Load a pickle given as bytes; returns the code. */
static int load(const void *p, size_t n, mp_obj_t **o)
{
	return mp_pickle_loads(p, n, o);
}

#define LOAD_LIT(lit, o) load((lit), sizeof(lit) - 1, (o))

/* Load, expect code rc (0: and repr want); check nothing is handed out. */
static void expect_load(const void *p, size_t n, int rc, const char *want)
{
	mp_obj_t *o = (mp_obj_t *)1;
	int got = load(p, n, &o);

	if (got != rc)
		print_error("load = %d (%s), want %d\n", got, mp_last_error(),
			    rc);
	assert_int_equal(got, rc);
	if (rc == 0) {
		assert_repr(o, want);
		mp_obj_free(o);
	} else {
		assert_null(o);
		if (want != NULL && strstr(mp_last_error(), want) == NULL)
			print_error("message '%s' lacks '%s'\n", mp_last_error(),
				    want);
		if (want != NULL)
			assert_non_null(strstr(mp_last_error(), want));
		assert_int_equal(strncmp(mp_last_error(), "mp_pickle_loads: ",
					 17), 0);
	}
}

#define EXPECT_LOAD(lit, rc, want) expect_load((lit), sizeof(lit) - 1, rc, want)


/* Run a python3 script with input; its stdout (exit 0 required) into out,
 * which the caller releases with mp_completed_destroy. */
static void python(const char *script, const void *in, size_t len,
		   mp_completed_t *res)
{
	const char *argv[] = {"python3", "-c", script, NULL};
	int rc = mp_run(argv, &(mp_run_opts_t){.input = in, .input_len = len,
					       .capture_output = true,
					       .timeout = mpt_timeout(60)},
			res);

	if (rc != 0 || res->returncode != 0)
		print_error("python3: rc %d (%s), exit %d, stderr:\n%s\n", rc,
			    mp_last_error(), res->returncode,
			    rc == 0 ? res->err.data : "");
	assert_int_equal(rc, 0);
	assert_int_equal(res->returncode, 0);
}


static int unhex(const char *h, size_t n, unsigned char *out)
{
	size_t i;
	unsigned v;

	for (i = 0; i + 1 < n + 1 && 2 * i < n; i++) {
		if (sscanf(h + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (unsigned char)v;
	}
	return (int)(n / 2);
}

static void tohex(const void *p, size_t n, char *out)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
	out[2 * n] = '\0';
}

/* ---- values ---- */

static void test_scalars(void **state)
{
	mp_obj_t *o;
	int64_t v;
	double f;
	bool b;
	size_t n;
	const mp_bytes_t *s;
	mp_bytes_t big;

	(void)state;
	o = mp_obj_none();
	assert_int_equal(mp_obj_kind(o), MP_OBJ_NONE);
	assert_repr(o, "None");
	mpt_assert_rc(mp_obj_as_int(o, &v), -EINVAL);
	assert_string_equal(mp_last_error(),
			    "mp_obj_as_int: expected int, got NoneType");
	mpt_assert_rc(mp_obj_len(o, &n), -EINVAL);
	assert_string_equal(mp_last_error(),
			    "mp_obj_len: object of type 'NoneType' has no len()");
	mp_obj_free(o);

	o = mp_obj_bool(true);
	mpt_assert_ok(mp_obj_as_bool(o, &b));
	assert_true(b);
	mpt_assert_ok(mp_obj_as_int(o, &v)); /* bool is an int */
	assert_int_equal(v, 1);
	assert_repr(o, "True");
	mp_obj_free(o);

	o = I(INT64_MIN);
	mpt_assert_ok(mp_obj_as_int(o, &v));
	assert_true(v == INT64_MIN);
	assert_repr(o, "-9223372036854775808");
	mpt_assert_ok(mp_obj_as_bigint(o, &big));
	assert_int_equal(big.len, 8);
	mp_bytes_destroy(&big);
	mp_obj_free(o);

	/* 2**64: 9 bytes; -ERANGE as int64, fine as a float */
	o = mp_obj_bigint("\0\0\0\0\0\0\0\0\x01", 9);
	assert_int_equal(mp_obj_kind(o), MP_OBJ_INT);
	mpt_assert_rc(mp_obj_as_int(o, &v), -ERANGE);
	mpt_assert_ok(mp_obj_as_float(o, &f));
	assert_true(f == 18446744073709551616.0);
	assert_repr(o, "18446744073709551616");
	mp_obj_free(o);
	/* a big form that fits is stored small: ff ff .. -1 */
	o = mp_obj_bigint("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 10);
	mpt_assert_ok(mp_obj_as_int(o, &v));
	assert_int_equal(v, -1);
	mp_obj_free(o);
	o = mp_obj_bigint(NULL, 0);
	assert_repr(o, "0");
	mp_obj_free(o);
	/* float(2**1024) overflows, as Python's */
	unsigned char huge[130] = {0};
	huge[128] = 1;
	o = mp_obj_bigint(huge, sizeof(huge));
	mpt_assert_rc(mp_obj_as_float(o, &f), -ERANGE);
	mp_obj_free(o);

	o = mp_obj_float(0.1);
	assert_repr(o, "0.1");
	mpt_assert_rc(mp_obj_as_int(o, &v), -EINVAL);
	mp_obj_free(o);
	const struct {
		double f;
		const char *r;
	} fl[] = {{1.0, "1.0"}, {-0.0, "-0.0"}, {1e16, "1e+16"},
		  {1e15, "1000000000000000.0"}, {1e-5, "1e-05"},
		  {0.0001, "0.0001"}, {1.5e300, "1.5e+300"}, {5e-324, "5e-324"},
		  {INFINITY, "inf"}, {-INFINITY, "-inf"}, {NAN, "nan"},
		  {123456789.125, "123456789.125"}, {2.0 / 3, "0.6666666666666666"}};
	for (size_t i = 0; i < sizeof(fl) / sizeof(*fl); i++) {
		o = mp_obj_float(fl[i].f);
		assert_repr(o, fl[i].r);
		mp_obj_free(o);
	}

	o = S("it's \xc3\xa9\n");
	mpt_assert_ok(mp_obj_as_str(o, &s));
	assert_int_equal(s->len, 8);
	mpt_assert_ok(mp_obj_len(o, &n));
	assert_int_equal(n, 7); /* code points */
	assert_repr(o, "\"it's \xc3\xa9\\n\"");
	mpt_assert_rc(mp_obj_as_bytes(o, &s), -EINVAL);
	mp_obj_free(o);
	o = mp_obj_strn("a\0b", 3);
	assert_repr(o, "'a\\x00b'");
	mp_obj_free(o);
	/* invalid UTF-8: overlong, surrogate, truncated, beyond U+10FFFF */
	const char *bad[] = {"\xc0\xaf", "\xed\xa0\x80", "\xe2\x82", "\xf4\x90\x80\x80",
			     "\xff"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		assert_null(mp_obj_str(bad[i]));
		assert_int_equal(mp_last_error_code(), -EILSEQ);
		assert_non_null(strstr(mp_last_error(), "mp_obj_str: invalid UTF-8"));
	}
	assert_null(mp_obj_str(NULL));
	assert_int_equal(mp_last_error_code(), -EINVAL);

	o = mp_obj_bytes("\x00\xff'", 3);
	mpt_assert_ok(mp_obj_as_bytes(o, &s));
	assert_int_equal(s->len, 3);
	assert_repr(o, "b\"\\x00\\xff'\"");
	mp_obj_free(o);
	mp_obj_free(NULL);
	assert_string_equal(mp_obj_kind_name(MP_OBJ_DICT), "dict");
	assert_string_equal(mp_obj_kind_name(99), "?");
}

static void test_success_leaves_the_last_error(void **state)
{
	const char *msg = "mp_obj_str: invalid UTF-8 at byte 0 of 1";
	const mp_obj_t *v;
	mp_obj_t *o, *d;
	mp_bytes_t p, r;

	(void)state;
	assert_null(mp_obj_str("\xff"));
	assert_string_equal(mp_last_error(), msg);
	d = mp_obj_dict();
	mpt_assert_ok(mp_obj_dict_set(d, S("k"), I(1)));
	mpt_assert_ok(mp_obj_dict_get_str(d, "k", &v));
	for (int proto = 2; proto <= 4; proto++) {
		mpt_assert_ok(mp_pickle_dumps(d, proto, &p));
		mpt_assert_ok(mp_pickle_loads(p.data, p.len, &o));
		assert_int_equal(mp_obj_eq(o, d), 1);
		mpt_assert_ok(mp_obj_repr(o, &r));
		mp_bytes_destroy(&r);
		mp_bytes_destroy(&p);
		mp_obj_free(o);
	}
	assert_string_equal(mp_last_error(), msg);
	assert_int_equal(mp_last_error_code(), -EILSEQ);
	mp_obj_free(d);
}

static void test_containers(void **state)
{
	mp_obj_t *l, *t, *d, *o;
	const mp_obj_t *it;
	size_t n;

	(void)state;
	l = mp_obj_list();
	mpt_assert_ok(mp_obj_list_append(l, I(1)));
	mpt_assert_ok(mp_obj_list_append(l, mp_obj_float(2.5)));
	mpt_assert_ok(mp_obj_list_append(l, mp_obj_none()));
	mpt_assert_ok(mp_obj_list_append(
		l, mp_obj_tuple_pack(2, S("a"), mp_obj_bytes("b", 1))));
	assert_repr(l, "[1, 2.5, None, ('a', b'b')]");
	mpt_assert_ok(mp_obj_len(l, &n));
	assert_int_equal(n, 4);
	mpt_assert_ok(mp_obj_item(l, -1, &it));
	assert_int_equal(mp_obj_kind(it), MP_OBJ_TUPLE);
	mpt_assert_rc(mp_obj_item(l, 4, &it), -ERANGE);
	assert_string_equal(mp_last_error(), "mp_obj_item: list index out of range");
	mpt_assert_rc(mp_obj_item(l, -5, &it), -ERANGE);
	o = I(1);
	assert_int_equal(mp_obj_contains(l, o), 1);
	mp_obj_free(o);
	o = mp_obj_float(2.5);
	assert_int_equal(mp_obj_contains(l, o), 1);
	mp_obj_free(o);
	/* appending a NULL reports its constructor's failure */
	assert_null(mp_obj_str("\xff"));
	mpt_assert_rc(mp_obj_list_append(l, mp_obj_str("\xff")), -EILSEQ);
	assert_non_null(strstr(mp_last_error(), "mp_obj_list_append: item is NULL"));
	/* a wrong container frees the item (ASan sees a leak otherwise) */
	t = mp_obj_tuple_pack(0);
	mpt_assert_rc(mp_obj_list_append(t, I(3)), -EINVAL);
	assert_repr(t, "()");
	mp_obj_free(t);
	mp_obj_free(l);

	t = mp_obj_tuple_pack(1, I(7));
	assert_repr(t, "(7,)");
	mp_obj_free(t);
	/* one NULL among the items: the others are freed, the code kept */
	t = mp_obj_tuple_pack(3, I(1), mp_obj_str("\xed\xa0\x80"), S("x"));
	assert_null(t);
	assert_int_equal(mp_last_error_code(), -EILSEQ);
	mp_obj_t *items[] = {I(1), S("two")};
	t = mp_obj_tuple(2, items);
	assert_repr(t, "(1, 'two')");
	mp_obj_free(t);

	/* objects */
	o = mp_obj_object("builtins", "KeyError", mp_obj_tuple_pack(1, S("x")),
			  NULL, 0);
	assert_repr(o, "KeyError('x')");
	const char *mod, *qn;
	const mp_obj_t *args, *st;
	unsigned flags;
	mpt_assert_ok(mp_obj_object_info(o, &mod, &qn, &args, &st, &flags));
	assert_string_equal(mod, "builtins");
	assert_string_equal(qn, "KeyError");
	assert_repr(args, "('x',)");
	assert_null(st);
	assert_int_equal(flags, 0);
	mp_obj_free(o);
	assert_null(mp_obj_object("", "x", NULL, NULL, 0));
	assert_int_equal(mp_last_error_code(), -EINVAL);
	assert_null(mp_obj_object("m", "x", mp_obj_list(), NULL, 0));
	assert_string_equal(mp_last_error(),
			    "mp_obj_object: args must be a tuple, not list");
	d = mp_obj_dict();
	mpt_assert_rc(mp_obj_object_info(d, NULL, NULL, NULL, NULL, NULL),
		      -EINVAL);
	mp_obj_free(d);
}

static void test_dict_is_pythons(void **state)
{
	mp_obj_t *d, *k;
	const mp_obj_t *v, *key;
	int64_t x;

	(void)state;
	d = mp_obj_dict();
	mpt_assert_ok(mp_obj_dict_set(d, I(1), S("int")));
	/* 1.0 and True are the same key: the value changes, the key stays */
	mpt_assert_ok(mp_obj_dict_set(d, mp_obj_float(1.0), S("float")));
	mpt_assert_ok(mp_obj_dict_set(d, mp_obj_bool(true), S("bool")));
	assert_repr(d, "{1: 'bool'}");
	mpt_assert_ok(mp_obj_dict_set(d, S("a"), I(2)));
	mpt_assert_ok(mp_obj_dict_set(d, mp_obj_tuple_pack(2, I(1), S("b")),
				      mp_obj_list()));
	mpt_assert_ok(mp_obj_dict_set(d, mp_obj_frozenset(), mp_obj_none()));
	assert_repr(d, "{1: 'bool', 'a': 2, (1, 'b'): [], frozenset(): None}");
	/* unhashable keys: TypeError's text */
	mpt_assert_rc(mp_obj_dict_set(d, mp_obj_list(), I(0)), -EINVAL);
	assert_string_equal(mp_last_error(),
			    "mp_obj_dict_set: unhashable type: 'list'");
	mpt_assert_rc(mp_obj_dict_set(d, mp_obj_tuple_pack(1, mp_obj_dict()),
				      I(0)),
		      -EINVAL);
	/* get */
	mpt_assert_ok(mp_obj_dict_get_str(d, "a", &v));
	mpt_assert_ok(mp_obj_as_int(v, &x));
	assert_int_equal(x, 2);
	k = mp_obj_float(1.0);
	mpt_assert_ok(mp_obj_dict_get(d, k, &v));
	assert_repr(v, "'bool'");
	mp_obj_free(k);
	mpt_assert_rc(mp_obj_dict_get_str(d, "missing", &v), -ENOENT);
	assert_string_equal(mp_last_error(),
			    "mp_obj_dict_get_str: KeyError: 'missing'");
	/* del keeps the order of the others */
	k = mp_obj_bool(true);
	mpt_assert_ok(mp_obj_dict_del(d, k));
	mpt_assert_rc(mp_obj_dict_del(d, k), -ENOENT);
	assert_string_equal(mp_last_error(), "mp_obj_dict_del: KeyError: True");
	mp_obj_free(k);
	assert_repr(d, "{'a': 2, (1, 'b'): [], frozenset(): None}");
	mpt_assert_ok(mp_obj_dict_item(d, 1, &key, &v));
	assert_repr(key, "(1, 'b')");
	mpt_assert_rc(mp_obj_dict_item(d, 3, &key, &v), -ERANGE);
	mp_obj_free(d);

	/* many keys (the hash index), deletes, lookups across kinds */
	d = mp_obj_dict();
	for (int i = 0; i < 5000; i++)
		mpt_assert_ok(mp_obj_dict_set(d, I(i), I(i * 2)));
	for (int i = 0; i < 5000; i += 2) {
		k = mp_obj_float(i);
		mpt_assert_ok(mp_obj_dict_del(d, k));
		mp_obj_free(k);
	}
	size_t n;
	mpt_assert_ok(mp_obj_len(d, &n));
	assert_int_equal(n, 2500);
	for (int i = 0; i < 5000; i++) {
		k = mp_obj_float(i);
		assert_int_equal(mp_obj_contains(d, k), i % 2);
		mp_obj_free(k);
	}
	mpt_assert_ok(mp_obj_dict_item(d, 0, &key, &v));
	assert_repr(key, "1");
	mp_obj_free(d);
}

static void test_sets_and_equality(void **state)
{
	mp_obj_t *a, *b, *x, *y;

	(void)state;
	a = mp_obj_set();
	assert_int_equal(mp_obj_set_add(a, I(1)), 1);
	assert_int_equal(mp_obj_set_add(a, mp_obj_float(1.0)), 0);
	assert_int_equal(mp_obj_set_add(a, S("x")), 1);
	mpt_assert_rc(mp_obj_set_add(a, mp_obj_set()), -EINVAL);
	assert_repr(a, "{1, 'x'}");
	b = mp_obj_frozenset();
	assert_int_equal(mp_obj_set_add(b, S("x")), 1);
	assert_int_equal(mp_obj_set_add(b, mp_obj_bool(true)), 1);
	assert_repr(b, "frozenset({'x', True})");
	assert_int_equal(mp_obj_eq(a, b), 1); /* order and set kind ignored */
	mp_obj_free(a);
	mp_obj_free(b);

	/* numbers across kinds, big ints and floats */
	const struct {
		mp_obj_t *a, *b;
		int eq;
	} c[] = {
		{I(1), mp_obj_bool(true), 1},
		{I(0), mp_obj_float(-0.0), 1},
		{mp_obj_float(NAN), mp_obj_float(NAN), 0},
		{mp_obj_bigint("\0\0\0\0\0\0\0\0\x01", 9),
		 mp_obj_float(18446744073709551616.0), 1},
		{mp_obj_bigint("\0\0\0\0\0\0\0\0\xff", 9),
		 mp_obj_float(-18446744073709551616.0), 1},
		{I(INT64_MAX), mp_obj_float(9223372036854775807.0), 0},
		{mp_obj_list(), mp_obj_tuple_pack(0), 0},
		{S("a"), mp_obj_bytes("a", 1), 0},
		{mp_obj_none(), mp_obj_none(), 1},
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(*c); i++) {
		assert_int_equal(mp_obj_eq(c[i].a, c[i].b), c[i].eq);
		mp_obj_free(c[i].a);
		mp_obj_free(c[i].b);
	}
	/* dicts ignore order */
	x = mp_obj_dict();
	y = mp_obj_dict();
	mpt_assert_ok(mp_obj_dict_set(x, S("a"), I(1)));
	mpt_assert_ok(mp_obj_dict_set(x, S("b"), I(2)));
	mpt_assert_ok(mp_obj_dict_set(y, S("b"), mp_obj_float(2)));
	mpt_assert_ok(mp_obj_dict_set(y, S("a"), I(1)));
	assert_int_equal(mp_obj_eq(x, y), 1);
	a = mp_obj_copy(x);
	assert_int_equal(mp_obj_eq(a, x), 1);
	mp_obj_free(a);
	/* a float key beyond int64 finds the equal big int */
	mpt_assert_ok(mp_obj_dict_set(x, mp_obj_bigint("\0\0\0\0\0\0\0\0\x01", 9),
				      S("big")));
	a = mp_obj_float(18446744073709551616.0);
	assert_int_equal(mp_obj_contains(x, a), 1);
	mp_obj_free(a);
	mp_obj_free(x);
	mp_obj_free(y);
	mpt_assert_rc(mp_obj_eq(NULL, NULL), -EINVAL);
}

static void test_depth_limit(void **state)
{
	mp_obj_t *l = mp_obj_list(), *outer;
	int i;

	(void)state;
	for (i = 1; i < MP_OBJ_MAX_DEPTH; i++) {
		outer = mp_obj_list();
		mpt_assert_ok(mp_obj_list_append(outer, l));
		l = outer;
	}
	outer = mp_obj_list();
	mpt_assert_rc(mp_obj_list_append(outer, l), -E2BIG);
	assert_non_null(strstr(mp_last_error(), "nesting exceeds"));
	mp_obj_free(outer);
}

/* ---- pickles: exact bytes, refusals ---- */

static void test_dumps_known_bytes(void **state)
{
	mp_obj_t *o;
	mp_bytes_t p;

	(void)state;
	/* from CPython 3.11's pickle.dumps (stable since 3.4) */
	o = mp_obj_tuple_pack(3, I(1), S("a"), mp_obj_bytes("ab", 2));
	mpt_assert_ok(mp_pickle_dumps(o, 2, &p));
	const char want2[] = "\x80\x02K\x01X\x01\x00\x00\x00" "aq\x00"
		"c_codecs\x0a" "encode\x0aq\x01X\x02\x00\x00\x00" "abq\x02X\x06"
		"\x00\x00\x00latin1q\x03\x86q\x04Rq\x05\x87q\x06.";
	assert_int_equal(p.len, sizeof(want2) - 1);
	assert_memory_equal(p.data, want2, p.len);
	mp_bytes_destroy(&p);
	mpt_assert_ok(mp_pickle_dumps(o, 4, &p));
	const char want4[] = "\x80\x04\x95\x0e\x00\x00\x00\x00\x00\x00\x00K"
		"\x01\x8c\x01" "a\x94" "C\x02" "ab\x94\x87\x94.";
	assert_int_equal(p.len, sizeof(want4) - 1);
	assert_memory_equal(p.data, want4, p.len);
	mp_bytes_destroy(&p);
	mpt_assert_rc(mp_pickle_dumps(o, 5, &p), -EINVAL);
	assert_null(p.data);
	mpt_assert_ok(mp_pickle_dumps(o, -1, &p)); /* the default: 4 */
	assert_int_equal(p.data[1], 4);
	mp_bytes_destroy(&p);
	mp_obj_free(o);

	/* None is too short for a frame */
	o = mp_obj_none();
	mpt_assert_ok(mp_pickle_dumps(o, 4, &p));
	assert_int_equal(p.len, 4);
	assert_memory_equal(p.data, "\x80\x04N.", 4);
	mp_bytes_destroy(&p);
	mp_obj_free(o);

	/* a class outside the allow-list is never written */
	o = mp_obj_object("os", "system", mp_obj_tuple_pack(1, S("id")), NULL, 0);
	mpt_assert_rc(mp_pickle_dumps(o, 3, &p), -EPERM);
	assert_string_equal(mp_last_error(), "mp_pickle_dumps: class 'os.system' "
					     "is not on the allow-list");
	mp_obj_free(o);
}

static void test_refuses_globals(void **state)
{
	(void)state;
	EXPECT_LOAD("cos\nsystem\n(S'id'\ntR.", -EPERM,
		    "global 'os.system' is not allowed (opcode 'c' at offset 0)");
	EXPECT_LOAD("\x80\x04\x8c\x02os\x8c\x06system\x93\x8c\x02id\x85R.",
		    -EPERM, "global 'os.system' is not allowed");
	EXPECT_LOAD("\x80\x02" "csubprocess\nPopen\n)R.", -EPERM,
		    "'subprocess.Popen'");
	EXPECT_LOAD("\x80\x03" "cbuiltins\neval\nX\x01\x00\x00\x00" "1\x85R.", -EPERM,
		    "'builtins.eval'");
	EXPECT_LOAD("\x80\x02" "c__builtin__\ngetattr\n.", -EPERM,
		    "'__builtin__.getattr'");
	EXPECT_LOAD("\x80\x02" "cposix\nsystem\nq\x00.", -EPERM, "posix.system");
	/* a name with a NUL: the message reads no byte past the input (the
	 * fuzzer found a heap over-read under ASan here) */
	static const char nul[] = "\x80\x02" "c\0os\nsystem\n";
	char *exact = malloc(sizeof(nul) - 1);
	memcpy(exact, nul, sizeof(nul) - 1);
	expect_load(exact, sizeof(nul) - 1, -EPERM, "global '");
	free(exact);
	/* an allowed class is still no value by itself */
	EXPECT_LOAD("\x80\x03" "cbuiltins\nKeyError\n.", -ENOTSUP,
		    "a class (builtins.KeyError) as a value");
	/* a proxy class serves only as RebuildProxy's first argument, and
	 * RebuildProxy takes only (proxy class, Token, str, dict) */
	EXPECT_LOAD("\x80\x02" "cmultiprocessing.managers\nListProxy\n)R.",
		    -ENOTSUP, "calling multiprocessing.managers.ListProxy");
	EXPECT_LOAD("\x80\x02" "cmultiprocessing.managers\nListProxy\n.",
		    -ENOTSUP, "as a value");
	EXPECT_LOAD("\x80\x02" "cmultiprocessing.managers\nRebuildProxy\n"
		    "(c__builtin__\nset\nNX\x06\x00\x00\x00" "pickle}tR.", -EPROTO,
		    "RebuildProxy takes (proxy class, Token");
	EXPECT_LOAD("\x80\x02" "cmultiprocessing.managers\nRebuildProxy\n"
		    "(cmultiprocessing.managers\nDictProxy\nNX\x06\x00\x00\x00" "pickle}tR.",
		    -EPROTO, "RebuildProxy takes");
	EXPECT_LOAD("\x80\x02" "cmultiprocessing.managers\nRebuildProxy\n"
		    "(cmultiprocessing.managers\nDictProxy\ncmultiprocessing."
		    "managers\nToken\n)\x81(X\x04\x00\x00\x00" "dictNX\x01\x00\x00\x00"
		    "1tbX\x06\x00\x00\x00" "pickle}tR.",
		    0, "RebuildProxy('DictProxy', Token(typeid='dict', "
		    "address=None, id='1'), 'pickle', {})");
	/* an allowed helper with arguments it does not take */
	EXPECT_LOAD("\x80\x02" "c_codecs\nencode\nX\x01\x00\x00\x00" "aX\x04\x00\x00"
		    "\x00utf8\x86R.",
		    -EPROTO, "_codecs.encode takes (str, 'latin1')");
	EXPECT_LOAD("\x80\x02" "c__builtin__\nobject\n)R.", -ENOTSUP,
		    "builtins.object()");
	EXPECT_LOAD("\x80\x04\x8c\x08" "builtins\x8c\x08KeyError\x93}\x81.", -EPROTO,
		    "NEWOBJ arguments must be a tuple");
}

#define LIT(s) {(s), sizeof(s) - 1}

static const struct {
	const char *p;
	size_t n;
} valid[] = {
	/* [1, 'a', (2, b'bc'), {'k': [None, True]}, {3}, KeyError('x')] at
	 * protocols 4, 2 and 3 (CPython 3.11) */
	LIT("\x80\x04\x95G\x00\x00\x00\x00\x00\x00\x00]\x94(K\x01\x8c\x01"
	    "a\x94K\x02" "C\x02" "bc\x94\x86\x94}\x94\x8c\x01k\x94]\x94(N\x88"
	    "es\x8f\x94(K\x03\x90\x8c\x08" "builtins\x94\x8c\x08KeyError\x94"
	    "\x93\x94\x8c\x01x\x94\x85\x94R\x94" "e."),
	LIT("\x80\x02]q\x00(K\x01X\x01\x00\x00\x00" "aq\x01K\x02" "c_codecs\x0a"
	    "encode\x0aq\x02X\x02\x00\x00\x00" "bcq\x03X\x06\x00\x00\x00latin1q"
	    "\x04\x86q\x05Rq\x06\x86q\x07}q\x08X\x01\x00\x00\x00kq\x09]q\x0a(N"
	    "\x88" "esc__builtin__\x0aset\x0aq\x0b]q\x0cK\x03" "a\x85q\x0dRq\x0e"
	    "cexceptions\x0aKeyError\x0aq\x0fX\x01\x00\x00\x00xq\x10\x85q\x11Rq"
	    "\x12" "e."),
	LIT("\x80\x03]q\x00(K\x01X\x01\x00\x00\x00" "aq\x01K\x02" "C\x02" "bcq"
	    "\x02\x86q\x03}q\x04X\x01\x00\x00\x00kq\x05]q\x06(N\x88" "escbuiltins"
	    "\x0aset\x0aq\x07]q\x08K\x03" "a\x85q\x09Rq\x0a" "cbuiltins\x0aKeyError"
	    "\x0aq\x0bX\x01\x00\x00\x00xq\x0c\x85q\x0dRq\x0e" "e."),
};

static void test_every_prefix_is_refused(void **state)
{
	const char *want = "[1, 'a', (2, b'bc'), {'k': [None, True]}, {3}, "
			   "KeyError('x')]";
	size_t i, k, n;
	mp_obj_t *o;

	(void)state;
	for (k = 0; k < sizeof(valid) / sizeof(*valid); k++) {
		const char *p = valid[k].p;

		n = valid[k].n;
		expect_load(p, n, 0, want);
		for (i = 0; i < n; i++) {
			o = (mp_obj_t *)1;
			assert_int_equal(load(p, i, &o), -EPROTO);
			assert_null(o);
		}
		/* trailing bytes after STOP are ignored, as pickle.loads */
		char *more = malloc(n + 3);
		memcpy(more, p, n);
		memcpy(more + n, "xyz", 3);
		expect_load(more, n + 3, 0, want);
		free(more);
	}
	expect_load(NULL, 0, -EPROTO, "truncated");
	assert_int_equal(load("N.", 2, NULL), -EINVAL);
}

/* The largest single allocation while the hook is on. */
static struct {
	size_t largest;
	long live;
	long calls;
	long fail_at; /* fail the fail_at-th call (0: never) */
} al;

static void al_note(void *p, size_t n)
{
	if (p != NULL) {
		al.live++;
		if (n > al.largest)
			al.largest = n;
	}
}

static bool al_fail(void)
{
	return ++al.calls == al.fail_at;
}

static void *al_malloc(size_t n)
{
	void *p = al_fail() ? NULL : malloc(n);
	al_note(p, n);
	return p;
}

static void *al_calloc(size_t n, size_t s)
{
	void *p = al_fail() ? NULL : calloc(n, s);
	al_note(p, n * s);
	return p;
}

static void *al_realloc(void *o, size_t n)
{
	void *p;

	if (al_fail())
		return NULL;
	p = realloc(o, n);
	if (p != NULL && n > al.largest)
		al.largest = n;
	if (o == NULL && p != NULL)
		al.live++;
	return p;
}

static void al_free(void *p)
{
	if (p != NULL)
		al.live--;
	free(p);
}

static void al_install(void)
{
	memset(&al, 0, sizeof(al));
	mpt_assert_ok(mp_replace_allocator(al_malloc, al_realloc, al_calloc,
					   al_free));
}

static void test_lying_lengths_allocate_nothing(void **state)
{
	(void)state;
	al_install();
	const struct {
		const char *p;
		size_t n;
	} lies[] = {
		LIT("\x80\x03X\xff\xff\xff\xff" "abc"),
		LIT("\x80\x04\x8d\xff\xff\xff\xff\xff\xff\xff\x7f" "ab"),
		LIT("\x80\x04\x8e\x00\x00\x00\x00\x01\x00\x00\x00" "ab"),
		LIT("\x80\x05\x96\x00\x00\x00\x40\x00\x00\x00\x00" "ab"),
		LIT("\x80\x03" "B\x00\x00\x00\x10" "ab"),
		LIT("\x80\x03" "C\xff" "ab"),
		LIT("\x80\x02\x8b\x00\x00\x00\x7f" "ab"),
		LIT("\x80\x02\x8b\xff\xff\xff\xff" "ab"),
		LIT("\x80\x04\x95\x00\x00\x00\x00\x00\x01\x00\x00N."),
		LIT("\x80\x02\x8a\xff\x01."),
	};
	for (size_t i = 0; i < sizeof(lies) / sizeof(*lies); i++) {
		mp_obj_t *o;
		int rc = load(lies[i].p, lies[i].n, &o);

		assert_int_equal(rc, -EPROTO);
		assert_true(al.largest < 1024);
	}
	assert_non_null(strstr(mp_last_error(), "exceeds the"));
	/* a memo key far beyond what was stored allocates nothing either */
	EXPECT_LOAD("\x80\x02Nr\xff\xff\xff\xff" "0j\xff\xff\xff\xff.", 0, "None");
	assert_true(al.largest < 1024);
	EXPECT_LOAD("\x80\x02Nj\x00\x00\x01\x00.", -EPROTO,
		    "memo key 65536 not found");
	assert_int_equal(al.live, 0);
}

static void test_bombs(void **state)
{
	size_t n = 60000, i;
	char *p = malloc(2 * n + 8);
	mp_obj_t *o;

	(void)state;
	/* nesting: ]]]]...aaaa.  and ((((...  tuples */
	memcpy(p, "\x80\x02", 2);
	for (i = 0; i < n; i++)
		p[2 + i] = ']';
	for (i = 0; i < n - 1; i++)
		p[2 + n + i] = 'a';
	p[2 * n + 1] = '.';
	expect_load(p, 2 * n + 2, -E2BIG, "nesting exceeds 200 levels");
	memset(p + 2, ')', 1);
	memset(p + 3, 0x85, n);
	p[3 + n] = '.';
	expect_load(p, n + 4, -E2BIG, "nesting exceeds");
	/* marks without end, items without end: just memory as they come */
	memset(p + 2, '(', n);
	p[2 + n] = '.';
	expect_load(p, n + 3, -EPROTO, "stack underflow");
	/* billion laughs: l = [l0, l0] through the memo, 64 times */
	size_t k = 0;
	memcpy(p, "\x80\x02]q\x00", 5);
	k = 5;
	for (i = 0; i < 64; i++) {
		p[k++] = ']';
		p[k++] = '(';
		p[k++] = 'h';
		p[k++] = (char)i;
		p[k++] = 'h';
		p[k++] = (char)i;
		p[k++] = 'e';
		p[k++] = 'q';
		p[k++] = (char)(i + 1);
	}
	p[k++] = '.';
	al_install();
	expect_load(p, k, -E2BIG, "memo copies exceed the budget");
	assert_int_equal(al.live, 0);
	assert_true(al.largest < ((size_t)64 << 20));
	free(p);
	/* a list that contains itself (CPython's l = []; l.append(l)) */
	EXPECT_LOAD("\x80\x04\x95\x06\x00\x00\x00\x00\x00\x00\x00]\x94h\x00" "a.",
		    -ENOTSUP, "recursive structure");
	/* d = {}; d['d'] = d */
	EXPECT_LOAD("\x80\x02}q\x00X\x01\x00\x00\x00" "dq\x01h\x00s.", -ENOTSUP,
		    "recursive");
	/* shared but not recursive: ([], []) from one list */
	EXPECT_LOAD("\x80\x02]q\x00h\x00\x86q\x01.", 0, "([], [])");
	(void)o;
}

static void test_refusals(void **state)
{
	(void)state;
	EXPECT_LOAD("\x80\x06N.", -ENOTSUP, "unsupported pickle protocol: 6");
	EXPECT_LOAD("\x80\x05\x97.", -ENOTSUP, "out-of-band buffer");
	EXPECT_LOAD("\x80\x02P1\n.", -ENOTSUP, "persistent id");
	EXPECT_LOAD("\x80\x02\x82\x01.", -ENOTSUP, "extension registry");
	EXPECT_LOAD("\x80\x02S'a'\n.", -ENOTSUP, "text string");
	EXPECT_LOAD("\x80\x02\xff", -EPROTO, "invalid load key, '\\xff'");
	EXPECT_LOAD("\x80\x02X\x03\x00\x00\x00\xed\xa0\x80.", -EILSEQ,
		    "invalid UTF-8");
	EXPECT_LOAD("\x80\x02]NN" "s.", -EPROTO, "SETITEM on a list");
	EXPECT_LOAD("\x80\x02}]N" "s.", -EPROTO, "unhashable type: 'list'");
	EXPECT_LOAD("\x80\x02(K\x01" "d.", -EPROTO, "odd number of items");
	EXPECT_LOAD("\x80\x02(.", -EPROTO, "underflow");
	EXPECT_LOAD("\x80\x02" "a.", -EPROTO, "underflow");
	EXPECT_LOAD("\x80\x02N" "e.", -EPROTO, "could not find MARK");
	EXPECT_LOAD("\x80\x02q\x00.", -EPROTO, "underflow");
	EXPECT_LOAD("\x80\x02K\x01K\x02" "b.", -EPROTO, "BUILD on a int");
	EXPECT_LOAD("\x80\x02" "cbuiltins\nset\nK\x01\x85R.", -EPROTO,
		    "set() takes a list");
	/* text forms CPython 3 still writes in protocols 0/1 */
	EXPECT_LOAD("I01\n.", 0, "True");
	EXPECT_LOAD("I-12\n.", 0, "-12");
	EXPECT_LOAD("L123456789012345678901234567890L\n.", 0,
		    "123456789012345678901234567890");
	EXPECT_LOAD("L-18446744073709551616L\n.", 0, "-18446744073709551616");
	EXPECT_LOAD("F1.5\n.", 0, "1.5");
	/* l = [1]; l.append(l) in protocol 0 */
	EXPECT_LOAD("(lp0\nI1\nag0\na.", -ENOTSUP, "recursive structure");
	EXPECT_LOAD("(dp0\n.", 0, "{}");
	EXPECT_LOAD("(I1\nI2\nt0N.", 0, "None");
	EXPECT_LOAD("(N1N.", 0, "None"); /* POP_MARK */
	EXPECT_LOAD("\x80\x02(0N.", 0, "None"); /* POP of a bare mark */
	EXPECT_LOAD("\x80\x02N2\x86.", 0, "(None, None)"); /* DUP */
	/* protocols 0/1's way to build an object */
	EXPECT_LOAD("\x80\x02" "ccopy_reg\n_reconstructor\n(cexceptions\nKeyError\n"
		    "c__builtin__\nobject\nNtR.",
		    0, "KeyError()");
	EXPECT_LOAD("\x80\x04\x8c\x08" "builtins\x8c\x09" "bytearray\x93" "C\x02" "ab"
		    "\x85R.",
		    0, "b'ab'");
	EXPECT_LOAD("\x80\x05\x96\x02\x00\x00\x00\x00\x00\x00\x00" "ab.", 0, "b'ab'");
	EXPECT_LOAD("\x80\x04\x8c\x0b" "collections\x8c\x0bOrderedDict\x93)R"
		    "\x8c\x01" "aK\x01s.",
		    0, "{'a': 1}");
}

/* Every allocation of a load, a dump and a repr fails once in turn: each
 * call fails with -ENOMEM (or succeeds) and nothing leaks. */
static void test_out_of_memory(void **state)
{
	const char *p = valid[0].p;
	size_t n = valid[0].n, ok = 0;
	long at;

	(void)state;
	for (at = 1; at < 400; at++) {
		mp_obj_t *o = NULL;
		mp_bytes_t b = {0};
		int rc;

		al_install();
		al.fail_at = at;
		rc = load(p, n, &o);
		if (rc == 0) {
			for (int proto = 2; proto <= 4 && rc == 0; proto++) {
				rc = mp_pickle_dumps(o, proto, &b);
				mp_bytes_destroy(&b);
			}
			if (rc == 0)
				rc = mp_obj_repr(o, &b);
			mp_bytes_destroy(&b);
			if (rc == 0 && al.calls < at)
				ok++;
			mp_obj_free(o);
		}
		if (rc != 0) {
			assert_int_equal(rc, -ENOMEM);
			assert_int_equal(strncmp(mp_last_error(), "mp_", 3), 0);
		}
		assert_int_equal(al.live, 0);
	}
	assert_true(ok > 0); /* the last runs met no failure */
}

/* ---- interop with python3 ---- */

/* Pickles CPython makes of every shape, in every protocol it reads. */
static const char *py_make =
	"import pickle, collections, queue, threading, sys\n"
	"from multiprocessing.managers import Token, RemoteError\n"
	"shared = [1, 2]\n"
	"cases = [  # (value, exact: no object repeated, so mproc's bytes match)\n"
	" (None, 1), (True, 1), (False, 1), (0, 1), (255, 1), (256, 1),\n"
	" (65536, 1), (-1, 1), (2**31, 1), (-2**31 - 1, 1), (2**63, 1),\n"
	" (-2**63, 1), (2**64, 1), (10**200, 1), (-(10**200), 1),\n"
	" (1.5, 1), (-0.0, 1), (1e300, 1), (float('inf'), 1), (1e-7, 1),\n"
	" (1/3, 1), (1e22, 1), (1e-300, 1), (123456789012345678.0, 1),\n"
	" (float('nan'), 1), (2.5e-5, 1), (9007199254740993.0, 1),\n"
	" ('\\x80\\xa0\\xad\\u2028\\ue000\\x7f\\x1b\\\\', 1),\n"
	" ('', 1), ('ab', 1), ('\\u00e9\\u4e2d\\U0001f600', 1), ('q\\'\"\\n', 1),\n"
	" ('x' * 300, 1), (b'', 1), (b'\\x00\\xff', 1), (b'y' * 300, 1),\n"
	" ((), 1), ((1,), 1), ((1, 2), 1), ((1, 2, 3), 1), ((1, 2, 3, 4), 1),\n"
	" ([], 1), ([1], 1), ([[[]]], 1), (list(range(2500)), 1),\n"
	" ({}, 1), ({'a': 1}, 1), ({(1, 'k'): [None], 2.5: {}}, 1),\n"
	" ({i: -i for i in range(1200)}, 1), (set(), 1), ({1, 2, 3}, 1),\n"
	" (set(range(1000)), 1), (frozenset(), 1), (frozenset({7}), 1),\n"
	" ({frozenset({1})}, 1), ([shared, shared], 0), ((shared, shared), 0),\n"
	" ({'x': 'y' * 70000, 'z': b'w' * 70000}, 1),\n"
	" (KeyError('k'), 1), (IndexError('list index out of range'), 1),\n"
	" (KeyError(), 1), (ValueError('v', 2), 1), (RuntimeError('r'), 1),\n"
	" (queue.Empty(), 1), (queue.Full(), 1),\n"
	" (threading.BrokenBarrierError(), 1),\n"
	" (Token('dict', ('127.0.0.1', 5000), '7f3a'), 1),\n"
	" (RemoteError('Traceback ...'), 1),\n"
	" ([Token('list', '/tmp/x', 'a1'), Token('list', '/tmp/x', 'a2')], 0),\n"
	" (collections.OrderedDict(b=1, a=2), 0), (bytearray(b'ba'), 0),\n"
	"]\n"
	"for v, exact in cases:\n"
	"    r = repr(v)\n"
	"    if isinstance(v, bytearray): r = repr(bytes(v))\n"
	"    if isinstance(v, collections.OrderedDict): r = repr(dict(v))\n"
	"    for p in (2, 3, 4, 5):\n"
	"        print(p, exact, pickle.dumps(v, p).hex(), r.encode().hex())\n";

static void test_cpython_pickles_load(void **state)
{
	mp_completed_t res;
	char **lines;
	int nl, i, proto, exact, checked = 0, exact_checked = 0;
	static char hexp[600000], hexr[600000];
	static unsigned char pk[300000], rp[300000];

	(void)state;
	NEED_PYTHON();
	python(py_make, NULL, 0, &res);
	nl = mp_bytes_lines(&res.out, &lines);
	assert_true(nl > 200);
	for (i = 0; i < nl; i++) {
		mp_obj_t *o;
		mp_bytes_t mine;
		int n, m;

		assert_int_equal(sscanf(lines[i], "%d %d %599999s %599999s", &proto,
					&exact, hexp, hexr),
				 4);
		n = unhex(hexp, strlen(hexp), pk);
		m = unhex(hexr, strlen(hexr), rp);
		rp[m] = '\0';
		int rc = load(pk, (size_t)n, &o);

		if (rc != 0)
			print_error("line %d: %s\n", i, mp_last_error());
		assert_int_equal(rc, 0);
		mp_bytes_t r;
		mpt_assert_ok(mp_obj_repr(o, &r));
		if (strcmp(r.data, (char *)rp) != 0)
			print_error("protocol %d: got %.300s\nwant %.300s\n", proto,
				    r.data, rp);
		assert_string_equal(r.data, (char *)rp);
		mp_bytes_destroy(&r);
		checked++;
		/* write it back: CPython's very bytes */
		if (exact && proto <= 4) {
			mpt_assert_ok(mp_pickle_dumps(o, proto, &mine));
			if (mine.len != (size_t)n || memcmp(mine.data, pk, (size_t)n))
				print_error("protocol %d bytes differ for %.200s\n",
					    proto, rp);
			assert_int_equal(mine.len, n);
			assert_memory_equal(mine.data, pk, (size_t)n);
			mp_bytes_destroy(&mine);
			exact_checked++;
		}
		mp_obj_free(o);
	}
	assert_int_equal(checked, nl);
	assert_true(exact_checked > 150);
	mp_buf_free(lines);
	mp_completed_destroy(&res);
}

/* Values made in C, checked in python3 against the same Python value. */
static const char *py_check =
	"import pickle, sys, collections, queue\n"
	"from multiprocessing.managers import Token, RemoteError\n"
	"want = [None, True, -5, 2**70, -(2**70), 0.25, float('-inf'),\n"
	"  'h\\u00e9llo', b'\\x00\\x80\\xff', (), (1, 'a'), [1, [2, [3]]],\n"
	"  {'a': 1, 2: [3.5], (4, 5): None}, {1, 'b'}, frozenset({2}),\n"
	"  KeyError('gone'), Token('dict', ('127.0.0.1', 6000), 'abc'),\n"
	"  RemoteError('x'), queue.Empty(), list(range(1500)),\n"
	"  b'z' * 70000]\n"
	"bad = 0\n"
	"for line in sys.stdin:\n"
	"    i, p, h = line.split()\n"
	"    i, p, data = int(i), int(p), bytes.fromhex(h)\n"
	"    v, w = pickle.loads(data), want[i]\n"
	"    if isinstance(w, (BaseException, Token)):\n"
	"        ok = type(v) is type(w) and repr(v) == repr(w)\n"
	"    else:\n"
	"        ok = type(v) is type(w) and v == w\n"
	"    same = pickle.dumps(w, p) == data or isinstance(w, (dict, set))\n"
	"    if not ok or not same:\n"
	"        bad += 1; print('FAIL', i, p, ok, same, repr(v)[:100])\n"
	"print('checked', bad)\n";

static mp_obj_t *c_value(int i)
{
	mp_obj_t *o, *l;

	switch (i) {
	case 0: return mp_obj_none();
	case 1: return mp_obj_bool(true);
	case 2: return I(-5);
	case 3: return mp_obj_bigint("\0\0\0\0\0\0\0\0\x40\0", 10);
	case 4: return mp_obj_bigint("\0\0\0\0\0\0\0\0\xc0", 9);
	case 5: return mp_obj_float(0.25);
	case 6: return mp_obj_float(-INFINITY);
	case 7: return S("h\xc3\xa9llo");
	case 8: return mp_obj_bytes("\x00\x80\xff", 3);
	case 9: return mp_obj_tuple_pack(0);
	case 10: return mp_obj_tuple_pack(2, I(1), S("a"));
	case 11:
		l = mp_obj_list();
		mp_obj_list_append(l, I(3));
		o = mp_obj_list();
		mp_obj_list_append(o, I(2));
		mp_obj_list_append(o, l);
		l = mp_obj_list();
		mp_obj_list_append(l, I(1));
		mp_obj_list_append(l, o);
		return l;
	case 12:
		o = mp_obj_dict();
		mp_obj_dict_set(o, S("a"), I(1));
		l = mp_obj_list();
		mp_obj_list_append(l, mp_obj_float(3.5));
		mp_obj_dict_set(o, I(2), l);
		mp_obj_dict_set(o, mp_obj_tuple_pack(2, I(4), I(5)), mp_obj_none());
		return o;
	case 13:
		o = mp_obj_set();
		mp_obj_set_add(o, I(1));
		mp_obj_set_add(o, S("b"));
		return o;
	case 14:
		o = mp_obj_frozenset();
		mp_obj_set_add(o, I(2));
		return o;
	case 15:
		return mp_obj_object("builtins", "KeyError",
				     mp_obj_tuple_pack(1, S("gone")), NULL, 0);
	case 16:
		return mp_obj_object(
			"multiprocessing.managers", "Token", NULL,
			mp_obj_tuple_pack(3, S("dict"),
					  mp_obj_tuple_pack(2, S("127.0.0.1"),
							    I(6000)),
					  S("abc")),
			MP_OBJ_NEWOBJ);
	case 17:
		return mp_obj_object("multiprocessing.managers", "RemoteError",
				     mp_obj_tuple_pack(1, S("x")), NULL, 0);
	case 18:
		return mp_obj_object("_queue", "Empty", NULL, NULL, 0);
	case 19:
		l = mp_obj_list();
		for (int k = 0; k < 1500; k++)
			mp_obj_list_append(l, I(k));
		return l;
	case 20: {
		char *z = malloc(70000);
		memset(z, 'z', 70000);
		o = mp_obj_bytes(z, 70000);
		free(z);
		return o;
	}
	default:
		return NULL;
	}
}

static void test_mproc_pickles_load_in_python(void **state)
{
	mp_bytes_t in = {0}, p;
	size_t cap = 0, need;
	mp_completed_t res;
	char *line;
	int i, proto, lines = 0;
	mp_obj_t *o;

	(void)state;
	NEED_PYTHON();
	for (i = 0; (o = c_value(i)) != NULL; i++) {
		for (proto = 2; proto <= 4; proto++) {
			mpt_assert_ok(mp_pickle_dumps(o, proto, &p));
			need = in.len + 2 * p.len + 32;
			if (need > cap) {
				cap = 2 * need;
				in.data = realloc(in.data, cap);
			}
			in.len += (size_t)sprintf(in.data + in.len, "%d %d ", i, proto);
			tohex(p.data, p.len, in.data + in.len);
			in.len += 2 * p.len;
			in.data[in.len++] = '\n';
			mp_bytes_destroy(&p);
			lines++;
		}
		mp_obj_free(o);
	}
	assert_int_equal(i, 21);
	python(py_check, in.data, in.len, &res);
	if (strcmp(res.out.data, "checked 0\n") != 0)
		print_error("%s", res.out.data);
	assert_string_equal(res.out.data, "checked 0\n");
	(void)line;
	(void)lines;
	free(in.data);
	mp_completed_destroy(&res);
}

/* Pickles CPython refuses or makes that we refuse, made by CPython. */
static void test_cpython_hostile_pickles(void **state)
{
	const char *script =
		"import pickle, os, subprocess, pickletools\n"
		"class Evil:\n"
		"    def __reduce__(self): return (os.system, ('echo pwned',))\n"
		"print(pickle.dumps(Evil(), 2).hex())\n"
		"print(pickle.dumps(Evil(), 4).hex())\n"
		"print(pickle.dumps(subprocess.Popen, 4).hex())\n"
		"print(pickle.dumps(eval, 3).hex())\n"
		"print(pickle.dumps(pickle.PickleBuffer(b'ab'), 5,\n"
		"      buffer_callback=lambda b: False).hex())\n"
		"print(pickle.dumps(pickletools, 4).hex() if False else\n"
		"      pickle.dumps(KeyError, 4).hex())\n";
	const struct {
		int rc;
		const char *msg;
	} want[] = {
		{-EPERM, "global 'posix.system' is not allowed"},
		{-EPERM, "global 'posix.system' is not allowed"},
		{-EPERM, "global 'subprocess.Popen' is not allowed"},
		{-EPERM, "global 'builtins.eval' is not allowed"},
		{-ENOTSUP, "out-of-band buffer"},
		{-ENOTSUP, "a class (builtins.KeyError) as a value"},
	};
	mp_completed_t res;
	char **lines;
	static unsigned char pk[4096];
	int nl, n;

	(void)state;
	NEED_PYTHON();
	python(script, NULL, 0, &res);
	nl = mp_bytes_lines(&res.out, &lines);
	assert_int_equal(nl, 6);
	for (int i = 0; i < nl; i++) {
		n = unhex(lines[i], strlen(lines[i]), pk);
		expect_load(pk, (size_t)n, want[i].rc, want[i].msg);
	}
	mp_buf_free(lines);
	mp_completed_destroy(&res);
}

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
		mp_obj_bytes("a\0b", 3), mp_obj_strn(text, 239),
		mp_obj_strn(text, 240), mp_obj_bigint(big9, 9),
		mp_obj_tuple_pack(1, I(1)),
	};
	unsigned char buf[MPI_SMALL_PICKLE];
	const unsigned char *p;
	mp_bytes_t want;
	mp_obj_t *back;
	size_t n;

	(void)state;
	memset(text, 'x', sizeof(text));
	/* rebuild the two long strings now that text is filled */
	mp_obj_free(vals[23]);
	mp_obj_free(vals[24]);
	vals[23] = mp_obj_strn(text, 239);
	vals[24] = mp_obj_strn(text, 240);
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		mpt_assert_ok(mp_pickle_dumps(vals[i], 4, &want));
		p = mpi_pickle_small(vals[i], buf, &n);
		if (i >= 24) { /* too long, big int, tuple: the general way */
			assert_null(p);
			/* a str of 240 bytes is still SHORT_BINUNICODE */
			assert_int_equal(mpi_unpickle_small(
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
		assert_int_equal(mpi_unpickle_small(p, n, &back), 1);
		assert_int_equal(mp_obj_eq(back, vals[i]), 1);
		assert_int_equal(mp_obj_kind(back), mp_obj_kind(vals[i]));
		mp_obj_free(back);
		/* a damaged copy is left to the general reader */
		buf[(size_t)(p - buf) + n - 1] = 'x';
		assert_int_equal(mpi_unpickle_small(p, n, &back), 0);
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
	mpi_lock_take(h->word, MPI_NO_DEADLINE);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		MPT(test_scalars),
		MPT(test_success_leaves_the_last_error),
		MPT(test_containers),
		MPT(test_dict_is_pythons),
		MPT(test_sets_and_equality),
		MPT(test_depth_limit),
		MPT(test_dumps_known_bytes),
		MPT(test_refuses_globals),
		MPT(test_every_prefix_is_refused),
		MPT(test_lying_lengths_allocate_nothing),
		MPT(test_bombs),
		MPT(test_refusals),
		MPT(test_out_of_memory),
		MPT(test_cpython_pickles_load),
		MPT(test_mproc_pickles_load_in_python),
		MPT(test_cpython_hostile_pickles),
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
