/* test_obj.c - the value type (mp_obj_t) and the pickle subset:
 * Python's semantics in C, exact bytes against CPython, interop both ways
 * with the python3 on the machine, and a hostile peer's pickles. */
#include "mptest.h"
#include "mptest_obj.h"
#include "mptest_py.h"

#include <math.h>
#include <stdint.h>

#include "mproc/obj.h"
#include "mproc/subprocess.h"

/* ---- helpers ---- */

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
	assert_non_null(strstr(mp_last_error(), "mp_obj_list_append: argument 'item' is NULL"));
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
	" (slice(1, None, 2), 1), (slice(-3, 2**70, None), 1),\n"
	" (slice('a', 2.5, [1]), 1),\n"
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
