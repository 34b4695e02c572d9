/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * The free list of idle objects (pool.c): what it keeps, what it hands
 * out, what a trim gives back and the destroy callback. Pure.
 */

#include "autoconf.h"

#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>

#include <check.h>

#include "pool.h"
#include "testutil.h"

#ifdef POOL_ASAN
#include <sanitizer/asan_interface.h>
#endif

#define NOBJ	8

/*
 * A pooled object. Whether it was destroyed is kept outside it: an idle
 * object's bytes are the pool's (poisoned under AddressSanitizer).
 */
struct obj {
	struct pool_link	link;
	int			id;
};

static struct obj	objs[NOBJ];
static bool		gone[NOBJ];	/* objs[i] was destroyed */

/* What the destroy callback was given. */
struct seen {
	int	destroyed;
	int	bad_arg;
};

static struct seen	*seen_arg;	/* the arg every call must get */

static void
obj_destroy(struct pool_link *pl, void *arg)
{
	struct obj	*o = (struct obj *)pl;
	struct seen	*sn = arg;

	if (sn != seen_arg)
		sn->bad_arg++;
	ck_assert_msg(!gone[o->id], "object %d destroyed twice", o->id);
	gone[o->id] = true;
	sn->destroyed++;
}

static void
setup(struct pool *p, unsigned max, struct seen *sn)
{
	int	i;

#ifdef POOL_ASAN
	/* Idle in a pool of an earlier test (when Check does not fork). */
	ASAN_UNPOISON_MEMORY_REGION(objs, sizeof(objs));
#endif
	*sn = (struct seen){ 0, 0 };
	seen_arg = sn;
	for (i = 0; i < NOBJ; i++) {
		objs[i] = (struct obj){ .id = i };
		gone[i] = false;
	}
	pool_init(p, max, sizeof(struct obj), obj_destroy, sn);
}

/* Whether o is one of objs and not destroyed. */
static bool
live_obj(struct pool_link *pl)
{
	struct obj	*o = (struct obj *)pl;

	return o >= objs && o < objs + NOBJ && !gone[o - objs];
}

START_TEST(test_empty_pool_gives_nothing)
{
	struct pool	p;
	struct seen	sn;

	setup(&p, 4, &sn);
	ck_assert_ptr_null(pool_get(&p));
	ck_assert_uint_eq(p.p_nfree, 0);
	ck_assert_uint_eq(pool_trim(&p), 0);
	pool_clear(&p);
	ck_assert_int_eq(sn.destroyed, 0);
}
END_TEST

START_TEST(test_put_then_get_reuses)
{
	struct pool		 p;
	struct seen		 sn;
	struct pool_link	*a, *b;

	setup(&p, 4, &sn);
	pool_put(&p, &objs[0].link);
	pool_put(&p, &objs[1].link);
	ck_assert_uint_eq(p.p_nfree, 2);
	ck_assert_ptr_nonnull(a = pool_get(&p));
	ck_assert_ptr_nonnull(b = pool_get(&p));
	ck_assert_ptr_ne(a, b);
	ck_assert(live_obj(a));
	ck_assert(live_obj(b));
	ck_assert_uint_eq(p.p_nfree, 0);
	ck_assert_ptr_null(pool_get(&p));
	ck_assert_int_eq(sn.destroyed, 0);
	/* Given back again: the same objects are kept once more. */
	pool_put(&p, a);
	pool_put(&p, b);
	ck_assert_uint_eq(p.p_nfree, 2);
	pool_clear(&p);
	ck_assert_int_eq(sn.destroyed, 2);
	ck_assert_int_eq(sn.bad_arg, 0);
}
END_TEST

/* At most max idle objects; the others are destroyed as they come back. */
START_TEST(test_full_pool_destroys_the_rest)
{
	struct pool	p;
	struct seen	sn;
	int		i;

	setup(&p, 3, &sn);
	for (i = 0; i < NOBJ; i++)
		pool_put(&p, &objs[i].link);
	ck_assert_uint_eq(p.p_nfree, 3);
	ck_assert_int_eq(sn.destroyed, NOBJ - 3);
	for (i = 0; i < NOBJ; i++)
		ck_assert_msg(gone[i] == (i >= 3), "object %d", i);
	for (i = 0; i < 3; i++)
		ck_assert(live_obj(pool_get(&p)));
	ck_assert_ptr_null(pool_get(&p));
	ck_assert_int_eq(sn.bad_arg, 0);
}
END_TEST

START_TEST(test_max_zero_keeps_nothing)
{
	struct pool	p;
	struct seen	sn;

	setup(&p, 0, &sn);
	pool_put(&p, &objs[0].link);
	ck_assert(gone[0]);
	ck_assert_uint_eq(p.p_nfree, 0);
	ck_assert_ptr_null(pool_get(&p));
}
END_TEST

/*
 * A trim destroys as many idle objects as the pool never went below
 * since the last one: those that were not needed.
 */
START_TEST(test_trim_gives_back_what_was_not_needed)
{
	struct pool		 p;
	struct seen		 sn;
	struct pool_link	*a, *b;
	int			 i;

	setup(&p, NOBJ, &sn);
	for (i = 0; i < 5; i++)
		pool_put(&p, &objs[i].link);
	/* Since the start the pool held none at some point: all needed. */
	ck_assert_uint_eq(pool_trim(&p), 5);
	ck_assert_int_eq(sn.destroyed, 0);

	/* Two were taken at once, then given back: three not needed. */
	a = pool_get(&p);
	b = pool_get(&p);
	pool_put(&p, a);
	pool_put(&p, b);
	ck_assert_uint_eq(pool_trim(&p), 2);
	ck_assert_int_eq(sn.destroyed, 3);
	ck_assert_uint_eq(p.p_nfree, 2);

	/* Idle since: the next trim empties the pool. */
	ck_assert_uint_eq(pool_trim(&p), 0);
	ck_assert_int_eq(sn.destroyed, 5);
	ck_assert_ptr_null(pool_get(&p));
	ck_assert_int_eq(sn.bad_arg, 0);
}
END_TEST

/* An idle pool is empty within two trims, whatever it held. */
START_TEST(test_idle_pool_empty_within_two_trims)
{
	struct pool	p;
	struct seen	sn;
	unsigned	left;
	int		i, trims;

	setup(&p, NOBJ, &sn);
	for (i = 0; i < NOBJ; i++)
		pool_put(&p, &objs[i].link);
	pool_trim(&p);		/* the owner's periodic trim */
	for (trims = 0, left = 1; left > 0 && trims < 10; trims++)
		left = pool_trim(&p);
	ck_assert_uint_eq(left, 0);
	ck_assert_int_le(trims, 2);
	ck_assert_int_eq(sn.destroyed, NOBJ);
	for (i = 0; i < NOBJ; i++)
		ck_assert(gone[i]);
}
END_TEST

/* A pool in steady use keeps what it uses, trim after trim. */
START_TEST(test_trim_keeps_what_is_in_use)
{
	struct pool		 p;
	struct seen		 sn;
	struct pool_link	*a;
	int			 round;

	setup(&p, NOBJ, &sn);
	pool_put(&p, &objs[0].link);
	for (round = 0; round < 5; round++) {
		ck_assert_ptr_nonnull(a = pool_get(&p));
		pool_put(&p, a);
		ck_assert_uint_eq(pool_trim(&p), 1);
	}
	ck_assert_int_eq(sn.destroyed, 0);
}
END_TEST

START_TEST(test_clear_destroys_every_idle_object)
{
	struct pool		 p;
	struct seen		 sn;
	struct pool_link	*held;
	int			 i;

	setup(&p, NOBJ, &sn);
	for (i = 0; i < 4; i++)
		pool_put(&p, &objs[i].link);
	ck_assert_ptr_nonnull(held = pool_get(&p));
	pool_clear(&p);
	ck_assert_int_eq(sn.destroyed, 3);
	ck_assert_uint_eq(p.p_nfree, 0);
	ck_assert_ptr_null(pool_get(&p));
	/* The object handed out is the holder's: untouched. */
	ck_assert(live_obj(held));
	/* The pool serves on after a clear. */
	pool_put(&p, held);
	ck_assert_ptr_eq(pool_get(&p), held);
	ck_assert_int_eq(sn.bad_arg, 0);
}
END_TEST

#ifdef POOL_ASAN
/*
 * Built with AddressSanitizer: an idle object's bytes past its link are
 * poisoned (a use after pool_put() is reported), and a taken one's not.
 */
START_TEST(test_idle_object_is_poisoned)
{
	struct pool		 p;
	struct seen		 sn;
	struct pool_link	*a;

	setup(&p, 4, &sn);
	pool_put(&p, &objs[0].link);
	ck_assert(__asan_address_is_poisoned(&objs[0].id));
	ck_assert(!__asan_address_is_poisoned(&objs[0].link));
	ck_assert_ptr_eq(a = pool_get(&p), &objs[0].link);
	ck_assert(!__asan_address_is_poisoned(&objs[0].id));
	/* Destroyed by a trim or a clear: unpoisoned for its destructor. */
	pool_put(&p, a);
	pool_clear(&p);
	ck_assert(!__asan_address_is_poisoned(&objs[0].id));
	ck_assert(gone[0]);
}
END_TEST

/* Given back twice: two holders would share it. Abort. */
START_TEST(test_double_put_aborts)
{
	struct pool	p;
	struct seen	sn;

	setup(&p, 4, &sn);
	pool_put(&p, &objs[1].link);
	pool_put(&p, &objs[2].link);
	pool_put(&p, &objs[1].link);
}
END_TEST
#endif

int
main(void)
{
	Suite	*s = suite_create("pool");
	TCase	*tc = tcase_create("pure");

	tcase_add_test(tc, test_empty_pool_gives_nothing);
	tcase_add_test(tc, test_put_then_get_reuses);
	tcase_add_test(tc, test_full_pool_destroys_the_rest);
	tcase_add_test(tc, test_max_zero_keeps_nothing);
	tcase_add_test(tc, test_trim_gives_back_what_was_not_needed);
	tcase_add_test(tc, test_idle_pool_empty_within_two_trims);
	tcase_add_test(tc, test_trim_keeps_what_is_in_use);
	tcase_add_test(tc, test_clear_destroys_every_idle_object);
#ifdef POOL_ASAN
	tcase_add_test(tc, test_idle_object_is_poisoned);
	tcase_add_test_raise_signal(tc, test_double_put_aborts, SIGABRT);
#endif
	suite_add_tcase(s, tc);
	return testutil_run(srunner_create(s));
}
