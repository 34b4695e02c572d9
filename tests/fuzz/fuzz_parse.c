/*
 * Copyright (c) 2026 The mptcp-relayd authors
 * SPDX-License-Identifier: BSD-2-Clause
 */

/*
 * The value parsers of parse.c on any text (after the first byte, which
 * picks the parser and a bound). What must hold: a success stores a value
 * within its bounds and no reason, a refusal gives a reason and leaves the
 * output untouched; nothing reads past the string.
 */

#include "autoconf.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "parse.h"

#define UNTOUCHED	0x5a5a5a5a5a5a5a5aULL

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct parse_hostport	 hp;
	const char		*why;
	char			*s;
	uint64_t		 out = UNTOUCHED, max;
	bool			 b;
	int			 r;

	if (size == 0)
		return 0;
	/* The text: the rest, NUL-terminated (a value never holds one). */
	if ((s = malloc(size)) == NULL)
		abort();
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	max = (uint64_t)1 << (data[0] & 63);
	why = NULL;
	switch (data[0] >> 6) {
	case 0:
		r = parse_uint(s, 1, max, &out, &why);
		FUZZ_CHECK(r == 0 ? out >= 1 && out <= max : out == UNTOUCHED);
		break;
	case 1:
		r = parse_size(s, max, &out, &why);
		FUZZ_CHECK(r == 0 ? out <= max : out == UNTOUCHED);
		break;
	case 2:
		r = parse_duration(s, max, &out, &why);
		FUZZ_CHECK(r == 0 ? out <= max : out == UNTOUCHED);
		break;
	default:
		if (data[0] & 1) {
			b = (data[0] & 2) != 0;
			r = parse_bool(s, &b, &why);
			if (r != 0)
				FUZZ_CHECK(b == ((data[0] & 2) != 0));
			break;
		}
		memset(&hp, 0xa5, sizeof(hp));
		r = parse_hostport(s, &hp, &why);
		if (r == 0) {
			FUZZ_CHECK(hp.hp_port >= 1);
			FUZZ_CHECK(memchr(hp.hp_host, '\0',
			    sizeof(hp.hp_host)) != NULL);
			FUZZ_CHECK(hp.hp_kind == PARSE_HOST_WILDCARD ||
			    hp.hp_kind == PARSE_HOST_IPV4 ||
			    hp.hp_kind == PARSE_HOST_IPV6 ||
			    hp.hp_kind == PARSE_HOST_NAME);
		}
		break;
	}
	FUZZ_CHECK((r == 0) == (why == NULL));
	FUZZ_CHECK(r == 0 || (why[0] != '\0' && strlen(why) < 200));
	free(s);
	return 0;
}
