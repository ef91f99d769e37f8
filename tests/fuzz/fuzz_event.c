/* fuzz_event: the event envelope as the consumer reads it off the queue
 * (lib/event.c's event_parse), and RFC 3339 times (event_time_valid).
 *
 * Properties: a refused message names a reason (and its detail is a
 * string); an accepted one has every required member, a known type and a
 * positive version, and for created/updated events the user's state, its
 * username within USERNAME_BYTES_MAX. */
#include "config.h"

#include "conf.h"
#include "event.h"
#include "fuzz.h"
#include "validate.h"

static int show;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	conf_defaults();
	show = getenv("FUZZ_SHOW") != NULL; /* each input's verdict, to check the seeds */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct event_in ev;
	struct event_error err;
	char *s;

	if (event_parse(&ev, (const char *)data, size, &err) != 0) {
		if (show)
			printf("verdict=%s detail=%s\n", err.reason, err.detail);
		FUZZ_CHECK(err.reason != NULL);
		FUZZ_CHECK(memchr(err.detail, '\0', sizeof(err.detail)) != NULL);
		FUZZ_CHECK(ev.root == NULL);
	} else {
		if (show)
			printf("verdict=ok\n");
		FUZZ_CHECK(ev.root && ev.event_id && ev.event_type && ev.user_id && ev.occurred_at);
		FUZZ_CHECK(ev.version >= 1);
		FUZZ_CHECK(event_routing_key(ev.event_type) != NULL);
		FUZZ_CHECK(event_time_valid(ev.occurred_at));
		FUZZ_CHECK(ev.has_data == (ev.kind != EVENT_DELETED));
		if (ev.has_data) {
			FUZZ_CHECK(ev.user.username && ev.user.email && ev.user.password_hash &&
				   ev.user.security_stamp && ev.user.created_at &&
				   ev.user.updated_at);
			FUZZ_CHECK(strlen(ev.user.username) <= USERNAME_BYTES_MAX);
			FUZZ_CHECK(!ev.user.display_name ||
				   strlen(ev.user.display_name) <= EVENT_DISPLAY_NAME_MAX);
		}
		event_in_release(&ev);
		FUZZ_CHECK(ev.root == NULL);
	}

	s = fuzz_cstr(data, size);
	if (s) {
		(void)event_time_valid(s);
		free(s);
	}
	return 0;
}
