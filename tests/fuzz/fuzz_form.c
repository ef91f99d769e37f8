/* fuzz_form: application/x-www-form-urlencoded bodies (lib/form.c, the
 * OAuth endpoints' and the admin search's parser) and Content-Type
 * matching (lib/http.c's http_content_type_is).
 *
 * Properties beyond "no crash, no leak": every decoded name and value is
 * NUL-terminated at its length, holds no NUL, is valid UTF-8, and is what
 * form_get finds for its name (names are unique). */
#include "config.h"

#include "form.h"
#include "fuzz.h"
#include "http.h"
#include "validate.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct form f;
	const char *code = NULL, *message = NULL;
	char *ct;
	int rc;

	memset(&f, 0, sizeof(f));
	rc = form_parse((const char *)data, size, &f, &code, &message);
	if (rc != 0) {
		FUZZ_CHECK(code && message);
	} else {
		FUZZ_CHECK(f.n <= FORM_FIELDS_MAX);
		for (size_t i = 0; i < f.n; i++) {
			const struct form_field *x = &f.f[i];
			size_t len = (size_t)-1;
			const char *v;

			FUZZ_CHECK(x->name[x->name_len] == '\0' && strlen(x->name) == x->name_len);
			FUZZ_CHECK(x->value[x->value_len] == '\0' &&
				   strlen(x->value) == x->value_len);
			FUZZ_CHECK(utf8_codepoints(x->name, x->name_len) >= 0);
			FUZZ_CHECK(utf8_codepoints(x->value, x->value_len) >= 0);
			v = form_get(&f, x->name, &len);
			FUZZ_CHECK(v == x->value && len == x->value_len);
		}
		/* a name that is none of the fields' is absent */
		{
			static const char probe[] = "grant_type";
			int named = 0;

			for (size_t i = 0; i < f.n; i++)
				named |= strcmp(f.f[i].name, probe) == 0;
			FUZZ_CHECK(named == (form_get(&f, probe, NULL) != NULL));
		}
	}
	form_free(&f);

	/* the same bytes as a Content-Type header value */
	ct = fuzz_cstr(data, size);
	if (ct) {
		int json = http_content_type_is_json(ct);
		int form = http_content_type_is(ct, "application/x-www-form-urlencoded");

		FUZZ_CHECK(!(json && form));
		free(ct);
	}
	return 0;
}
