/* roles: the roles a user may hold, one bit each.  MagentaUsers stores
 * them as a text[] column (users.roles), events carry them as
 * data.roles (a JSON array of names), access tokens as the claim "roles".
 * Only roles listed here exist: any other name is refused wherever it is
 * read, so a typo can never grant anything. */
#ifndef MAGENTA_ROLES_H
#define MAGENTA_ROLES_H

#include <json-c/json.h>

#define ROLE_ADMIN 1u /* "admin": the admin endpoints of the registration service */
#define ROLES_ALL ROLE_ADMIN

/* The name of one role bit, or NULL. */
const char *role_name(unsigned role);

/* The bit of a role name (len bytes), or 0 for an unknown name. */
unsigned role_bit(const char *name, size_t len);

/* Parse PostgreSQL's text form of a text[] ("{}", "{admin}").  0 with
 * *roles set, or -1 for an unknown role or a malformed array. */
int roles_from_pg(const char *text, unsigned *roles);

/* The text[] literal for roles, into out (cap bytes); out. */
const char *roles_to_pg(unsigned roles, char *out, size_t cap);

/* A new JSON array of the role names (never NULL). */
struct json_object *roles_to_json(unsigned roles);

/* Read a JSON array of role names.  0 with *roles set, or -1 when a is not
 * an array, an element is not a string or names an unknown role. */
int roles_from_json(struct json_object *a, unsigned *roles);

#endif
