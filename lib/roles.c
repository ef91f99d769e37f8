/* roles: names, bits, and their PostgreSQL and JSON forms. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "roles.h"

static const struct {
	unsigned bit;
	const char *name;
} role_table[] = {
	{ ROLE_ADMIN, "admin" },
};

#define NROLES (sizeof(role_table) / sizeof(role_table[0]))

/* The table's name of a bit. */
const char *role_name(unsigned role)
{
	for (size_t i = 0; i < NROLES; i++)
		if (role_table[i].bit == role)
			return role_table[i].name;
	return NULL;
}

/* The table's bit of a name (exact bytes). */
unsigned role_bit(const char *name, size_t len)
{
	for (size_t i = 0; i < NROLES; i++)
		if (strlen(role_table[i].name) == len && memcmp(role_table[i].name, name, len) == 0)
			return role_table[i].bit;
	return 0;
}

/* Role names are plain words, so PostgreSQL never quotes them: the text
 * form is '{' name (',' name)* '}' or "{}". */
int roles_from_pg(const char *text, unsigned *roles)
{
	const char *p = text, *end;
	unsigned bit, r = 0;

	if (!p || *p++ != '{')
		return -1;
	if (*p == '}' && p[1] == '\0') {
		*roles = 0;
		return 0;
	}
	for (;;) {
		end = p + strcspn(p, ",}");
		bit = role_bit(p, (size_t)(end - p));
		if (!bit)
			return -1;
		r |= bit;
		if (*end == '}')
			break;
		if (*end != ',')
			return -1;
		p = end + 1;
	}
	if (end[1] != '\0')
		return -1;
	*roles = r;
	return 0;
}

/* "{a,b}" in the table's order. */
const char *roles_to_pg(unsigned roles, char *out, size_t cap)
{
	size_t n = 0;

	if (cap < 3) {
		if (cap)
			out[0] = '\0';
		return out;
	}
	out[n++] = '{';
	for (size_t i = 0; i < NROLES; i++) {
		size_t len = strlen(role_table[i].name);
		if (!(roles & role_table[i].bit))
			continue;
		if (n + len + 3 > cap)
			break;
		if (n > 1)
			out[n++] = ',';
		memcpy(out + n, role_table[i].name, len);
		n += len;
	}
	out[n++] = '}';
	out[n] = '\0';
	return out;
}

/* ["a","b"] in the table's order. */
struct json_object *roles_to_json(unsigned roles)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; i < NROLES; i++)
		if (roles & role_table[i].bit)
			json_object_array_add(a, json_object_new_string(role_table[i].name));
	return a;
}

/* Every element a known name. */
int roles_from_json(struct json_object *a, unsigned *roles)
{
	unsigned r = 0, bit;
	size_t n;

	if (!a || !json_object_is_type(a, json_type_array))
		return -1;
	n = json_object_array_length(a);
	for (size_t i = 0; i < n; i++) {
		struct json_object *v = json_object_array_get_idx(a, i);
		if (!v || !json_object_is_type(v, json_type_string))
			return -1;
		bit = role_bit(json_object_get_string(v), (size_t)json_object_get_string_len(v));
		if (!bit)
			return -1;
		r |= bit;
	}
	*roles = r;
	return 0;
}
