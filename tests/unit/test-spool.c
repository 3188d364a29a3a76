/* The spool: a message in memory while small, in an unlinked file past
 * SPOOL_MEMORY_MAX, read back the same whichever it is. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "spool.h"
#include "unit.h"

/* A recognisable byte at each offset. */
static char
byte_at(size_t i)
{
	return (char)('a' + (i * 7 + i / 251) % 26);
}

static char *
pattern(size_t len)
{
	char *p = malloc(len + 1);

	for (size_t i = 0; i < len; i++)
		p[i] = byte_at(i);
	return p;
}

struct sink {
	char	*buf;
	size_t	 len;
	unsigned calls;
	unsigned fail_at;	/* fail on this call (1-based); 0: never */
};

static int
sink_write(void *arg, const char *data, size_t len, struct err *e)
{
	struct sink *s = arg;

	if (++s->calls == s->fail_at)
		return err_set(e, ERR_TEMP, "sink full");
	s->buf = realloc(s->buf, s->len + len + 1);
	memcpy(s->buf + s->len, data, len);
	s->len += len;
	return 0;
}

/* Append len pattern bytes in chunks of `step`. */
static void
fill(struct spool *s, size_t len, size_t step)
{
	char *p = pattern(len);
	struct err e;

	for (size_t i = 0; i < len; i += step)
		assert_int_equal(spool_append(s, p + i, len - i < step ?
		    len - i : step, &e), 0);
	free(p);
}

static void
check_content(struct spool *s, size_t len)
{
	struct sink k = { 0 };
	char *p = pattern(len), *buf = malloc(len + 1);
	const char *map;
	size_t maplen;
	struct err e;

	assert_int_equal(spool_size(s), (off_t)len);
	assert_int_equal(spool_stream(s, 0, sink_write, &k, &e), 0);
	assert_int_equal(k.len, len);
	assert_memory_equal(k.buf, p, len);
	assert_int_equal(spool_pread(s, buf, len + 10, 0), (ssize_t)len);
	assert_memory_equal(buf, p, len);
	assert_int_equal(spool_map(s, &map, &maplen, &e), 0);
	assert_int_equal(maplen, len);
	assert_memory_equal(map, p, len);
	spool_unmap(s, map, maplen);
	free(k.buf);
	free(buf);
	free(p);
}

static void
test_small_in_memory(void **state)
{
	char *dir = unit_tmpdir();
	struct spool s;

	(void)state;
	spool_init(&s, dir);
	fill(&s, 1000, 7);
	assert_int_equal(s.fd, -1);
	check_content(&s, 1000);
	spool_free(&s);
	unit_rmtree(dir);
}

static void
test_large_spills_to_disk(void **state)
{
	size_t sizes[] = { SPOOL_MEMORY_MAX, SPOOL_MEMORY_MAX + 1,
	    2 * SPOOL_MEMORY_MAX + 12345 };
	size_t steps[] = { 65536 + 3, SPOOL_MEMORY_MAX + 5 };
	char *dir = unit_tmpdir();
	struct spool s;

	(void)state;
	spool_init(&s, dir);
	for (size_t i = 0; i < 3; i++)
		for (size_t j = 0; j < 2; j++) {
			spool_reset(&s);
			fill(&s, sizes[i], steps[j]);
			/* Memory stays bounded whatever the size. */
			assert_true(s.memcap <= SPOOL_MEMORY_MAX);
			assert_int_equal(s.fd == -1,
			    sizes[i] <= SPOOL_MEMORY_MAX);
			check_content(&s, sizes[i]);
		}
	spool_free(&s);
	/* The spill file had no name: nothing is left behind. */
	assert_int_equal(rmdir(dir), 0);
	free(dir);
}

/* Append len pattern bytes written in place, asking for `step` bytes of
 * room at a time. */
static void
fill_in_place(struct spool *s, size_t len, size_t step)
{
	char *p = pattern(len);
	struct err e;

	for (size_t i = 0; i < len;) {
		size_t room, n;
		char *out = spool_reserve(s, step, &room, &e);

		assert_non_null(out);
		assert_true(room >= 2 && room <= step);
		/* Room only ever shrinks to fill memory before spilling. */
		if (room < step)
			assert_int_equal(s->memlen + room, SPOOL_MEMORY_MAX);
		n = len - i < room ? len - i : room;
		memcpy(out, p + i, n);
		spool_commit(s, n);
		i += n;
	}
	free(p);
}

static void
test_reserve_and_commit(void **state)
{
	size_t sizes[] = { 10, SPOOL_MEMORY_MAX - 1, SPOOL_MEMORY_MAX,
	    SPOOL_MEMORY_MAX + 1, 3 * SPOOL_MEMORY_MAX + 777 };
	size_t steps[] = { 2, 4096 + 1, 128 * 1024 + 1, SPOOL_MEMORY_MAX };
	char *dir = unit_tmpdir();
	struct spool s;
	struct err e;
	size_t room;

	(void)state;
	spool_init(&s, dir);
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
		for (size_t j = 0; j < sizeof steps / sizeof steps[0]; j++) {
			if (sizes[i] / steps[j] > 100000)
				continue;
			spool_reset(&s);
			fill_in_place(&s, sizes[i], steps[j]);
			assert_true(s.memcap <= SPOOL_MEMORY_MAX);
			/* What fits in memory stays there, as with
			 * spool_append. */
			assert_int_equal(s.fd == -1,
			    sizes[i] <= SPOOL_MEMORY_MAX);
			check_content(&s, sizes[i]);
		}
	/* Less than two bytes, or more than memory holds: a bug. */
	err_clear(&e);
	assert_null(spool_reserve(&s, SPOOL_MEMORY_MAX + 1, &room, &e));
	assert_int_equal(e.cls, ERR_INTERNAL);
	assert_null(spool_reserve(&s, 1, &room, &e));
	spool_free(&s);
	unit_rmtree(dir);
}

static void
test_pread_across_file_and_memory(void **state)
{
	size_t len = SPOOL_MEMORY_MAX + 5000;
	char *dir = unit_tmpdir(), *p = pattern(len), buf[300];
	struct spool s;

	(void)state;
	spool_init(&s, dir);
	/* The last 5000 bytes stay in memory behind the file. */
	fill(&s, SPOOL_MEMORY_MAX, SPOOL_MEMORY_MAX);
	assert_int_equal(spool_append(&s, p + SPOOL_MEMORY_MAX, 5000,
	    &(struct err){ 0 }), 0);
	assert_int_not_equal(s.fd, -1);
	assert_int_equal(s.memlen, 5000);
	for (size_t off = SPOOL_MEMORY_MAX - 400; off < len; off += 97) {
		ssize_t n = spool_pread(&s, buf, sizeof buf, (off_t)off);
		size_t want = len - off < sizeof buf ? len - off : sizeof buf;

		assert_int_equal(n, (ssize_t)want);
		assert_memory_equal(buf, p + off, want);
	}
	assert_int_equal(spool_pread(&s, buf, sizeof buf, (off_t)len), 0);
	assert_int_equal(spool_pread(&s, buf, sizeof buf, (off_t)len + 9), 0);
	free(p);
	spool_free(&s);
	unit_rmtree(dir);
}

static void
test_stream_from_offset(void **state)
{
	size_t lens[] = { 100, 2 * SPOOL_MEMORY_MAX + 1 };
	char *dir = unit_tmpdir();
	struct spool s;

	(void)state;
	spool_init(&s, dir);
	for (size_t i = 0; i < 2; i++) {
		size_t len = lens[i];
		char *p = pattern(len);
		size_t offs[] = { 0, 1, len / 2, len - 1, len, len + 5 };

		spool_reset(&s);
		fill(&s, len, 999);
		for (size_t j = 0; j < 6; j++) {
			struct sink k = { 0 };
			size_t want = offs[j] < len ? len - offs[j] : 0;

			assert_int_equal(spool_stream(&s, (off_t)offs[j],
			    sink_write, &k, &(struct err){ 0 }), 0);
			assert_int_equal(k.len, want);
			if (want > 0)
				assert_memory_equal(k.buf, p + offs[j], want);
			free(k.buf);
		}
		free(p);
	}
	spool_free(&s);
	unit_rmtree(dir);
}

static void
test_writer_failure_passed_on(void **state)
{
	char *dir = unit_tmpdir();
	struct sink k = { .fail_at = 2 };
	struct spool s;
	struct err e;

	(void)state;
	spool_init(&s, dir);
	fill(&s, 2 * SPOOL_MEMORY_MAX, 65536);
	err_clear(&e);
	assert_int_equal(spool_stream(&s, 0, sink_write, &k, &e), -1);
	assert_string_equal(e.msg, "sink full");
	assert_int_equal(k.calls, 2);
	free(k.buf);
	spool_free(&s);
	unit_rmtree(dir);
}

static void
test_empty(void **state)
{
	char *dir = unit_tmpdir(), buf[4];
	struct sink k = { 0 };
	const char *map;
	size_t maplen;
	struct spool s;
	struct err e;

	(void)state;
	spool_init(&s, dir);
	assert_int_equal(spool_append(&s, NULL, 0, &e), 0);
	assert_int_equal(spool_size(&s), 0);
	assert_int_equal(spool_stream(&s, 0, sink_write, &k, &e), 0);
	assert_int_equal(k.calls, 0);
	assert_int_equal(spool_pread(&s, buf, sizeof buf, 0), 0);
	assert_int_equal(spool_map(&s, &map, &maplen, &e), 0);
	assert_int_equal(maplen, 0);
	assert_non_null(map);
	spool_unmap(&s, map, maplen);
	spool_free(&s);
	unit_rmtree(dir);
}

static void
test_unwritable_dir(void **state)
{
	char *dir = unit_tmpdir(), *missing, *p;
	struct spool s;
	struct err e;

	(void)state;
	if (asprintf(&missing, "%s/no/such/dir", dir) < 0)
		abort();
	spool_init(&s, missing);
	/* Small messages never need the directory... */
	fill(&s, 100, 100);
	/* ...a large one says where it could not spill. */
	p = pattern(SPOOL_MEMORY_MAX);
	err_clear(&e);
	assert_int_equal(spool_append(&s, p, SPOOL_MEMORY_MAX, &e), -1);
	free(p);
	assert_int_equal(e.cls, ERR_TEMP);
	assert_non_null(strstr(e.msg, missing));
	spool_free(&s);
	free(missing);
	unit_rmtree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_in_memory),
		cmocka_unit_test(test_large_spills_to_disk),
		cmocka_unit_test(test_reserve_and_commit),
		cmocka_unit_test(test_pread_across_file_and_memory),
		cmocka_unit_test(test_stream_from_offset),
		cmocka_unit_test(test_writer_failure_passed_on),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_unwritable_dir),
	};

	return cmocka_run_group_tests_name("spool", tests, NULL, NULL);
}
