/* ch5_pool_imap - 001 5.1.2 imap: results one by one in input order from a lazy input (bounded memory); imap_unordered: in finishing order */
#include <ctype.h>
#include <mproc.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* A lazy input, like a generator: range(n), produced as the pool asks. */
struct counter {
	long next, n, item;
};

static int count_up(void *arg, const void **in, size_t *len)
{
	struct counter *c = arg;

	if (c->next == c->n)
		return 0; /* StopIteration */
	c->item = c->next++;
	*in = &c->item; /* valid until the next call */
	*len = sizeof(c->item);
	return 1;
}

static int square(const void *in, size_t len, mp_task_out_t *out)
{
	long x;

	if (len != sizeof(x))
		return mp_task_fail(out, "want a long");
	memcpy(&x, in, sizeof(x));
	x *= x;
	return mp_task_return(out, &x, sizeof(x));
}

/* Items of any size: words in, "WORD" out; a word of n letters takes n*10 ms. */
static const char *words[] = {"multiprocessing", "pool", "imap", "unordered"};

struct word_iter {
	size_t i;
};

static int next_word(void *arg, const void **in, size_t *len)
{
	struct word_iter *w = arg;

	if (w->i == sizeof(words) / sizeof(words[0]))
		return 0;
	*in = words[w->i];
	*len = strlen(words[w->i++]);
	return 1;
}

static int shout(const void *in, size_t len, mp_task_out_t *out)
{
	char buf[64];
	struct timespec t = {0, (long)len * 10000000L};

	if (len >= sizeof(buf))
		return mp_task_fail(out, "word too long");
	nanosleep(&t, NULL);
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)toupper(((const unsigned char *)in)[i]);
	return mp_task_return(out, buf, len);
}

static int print_words(mp_pool_t *pool, bool unordered)
{
	struct word_iter w = {0};
	mp_imap_t *it;
	const mp_bytes_t *out;
	size_t index;
	int rc;

	it = mp_pool_imap(pool, shout, next_word, &w,
			  &(mp_imap_opts_t){.unordered = unordered});
	if (it == NULL)
		return -1;
	printf("%s:", unordered ? "imap_unordered" : "imap");
	while ((rc = mp_imap_next(it, MP_FOREVER, &out, &index)) == 0)
		printf(" %.*s(#%zu)", (int)out->len, out->data, index);
	printf("\n");
	mp_imap_free(it);
	return rc == MP_EEOF ? 0 : rc;
}

int main(void)
{
	struct counter c = {.n = 100000};
	long expect = 0, sum = 0;
	size_t index;
	mp_pool_t *pool;
	mp_imap_t *it;
	const mp_bytes_t *out;
	int rc;

	pool = mp_pool_new(&(mp_pool_opts_t){.processes = 4});
	if (pool == NULL)
		return fprintf(stderr, "%s\n", mp_last_error()), 1;

	/* for r in pool.imap(square, range(100000), chunksize=256): ...
	 * At most `window` items are in flight, whatever the input's length. */
	it = mp_pool_imap(pool, square, count_up, &c,
			  &(mp_imap_opts_t){.chunksize = 256});
	if (it == NULL)
		return fprintf(stderr, "%s\n", mp_last_error()), 1;
	while ((rc = mp_imap_next(it, MP_FOREVER, &out, &index)) == 0) {
		if ((long)index != expect++)
			printf("out of order at %zu\n", index);
		sum += *(const long *)out->data;
	}
	if (rc != MP_EEOF)
		return fprintf(stderr, "%s\n", mp_last_error()), 1;
	mp_imap_free(it);
	printf("imap: %ld squares in input order, sum %ld\n", expect, sum);

	/* Variable-size items; the short words finish first. */
	if (print_words(pool, false) < 0 || print_words(pool, true) < 0)
		return fprintf(stderr, "%s\n", mp_last_error()), 1;
	mp_pool_free(pool);
	return 0;
}
