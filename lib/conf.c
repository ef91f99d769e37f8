/* conf: typed key table, file and environment loading. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "hostlist.h"
#include "metrics_listen.h"

struct conf_key {
	const char *name;
	unsigned programs; /* CONF_FOR_* bits of its readers */
	enum conf_type type;
	const char *def;
	long min, max;
	const char *choices; /* CONF_ENUM: "a|b|c" */
	const char *desc;
};

#define CONF_ROW(id, name, programs, type, def, min, max, choices, desc) \
	{ name, programs, type, def, min, max, choices, desc },
static const struct conf_key conf_keys[CONF__COUNT] = { CONF_KEYS(CONF_ROW) };
#undef CONF_ROW

static char *conf_val[CONF__COUNT];
static long conf_num[CONF__COUNT];
static char conf_file[1024];
static unsigned conf_for = CONF_FOR_ALL; /* the loading program */

/* The programs' names, in the order of their CONF_FOR_* bits. */
static const char *const conf_program_names[] = { "magenta-registration", "magenta-auth",
						   "magenta-relay", "magenta-consumer",
						   "magentactl", "magenta-mailer" };

/* Find a key's index by name, or -1. */
static int conf_find(const char *name)
{
	for (int i = 0; i < CONF__COUNT; i++)
		if (strcmp(conf_keys[i].name, name) == 0)
			return i;
	return -1;
}

/* Is value one of the '|'-separated choices? */
static int conf_choice_ok(const char *choices, const char *value)
{
	size_t vlen = strlen(value);
	const char *p = choices;

	for (;;) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);
		if (len == vlen && strncmp(p, value, vlen) == 0)
			return 1;
		if (!bar)
			return 0;
		p = bar + 1;
	}
}

/* Parse a boolean word; 0/1, or -1 when it is none. */
static int conf_parse_bool(const char *s)
{
	static const char *const yes[] = { "1", "true", "yes", "on" };
	static const char *const no[] = { "0", "false", "no", "off" };
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return 1;
		if (strcasecmp(s, no[i]) == 0)
			return 0;
	}
	return -1;
}

/* Validate and store value for key i. */
static int conf_store(int i, const char *value, char *err, size_t errlen)
{
	const struct conf_key *k = &conf_keys[i];
	long num = 0;
	char *copy, *end;

	switch (k->type) {
	case CONF_INT:
		errno = 0;
		num = strtol(value, &end, 10);
		if (errno || end == value || *end != '\0') {
			snprintf(err, errlen, "key '%s': '%s' is not an integer", k->name, value);
			return -1;
		}
		if (num < k->min || num > k->max) {
			snprintf(err, errlen, "key '%s': %ld is outside %ld..%ld", k->name, num, k->min,
				 k->max);
			return -1;
		}
		break;
	case CONF_BOOL:
		num = conf_parse_bool(value);
		if (num < 0) {
			snprintf(err, errlen, "key '%s': '%s' is not a boolean", k->name, value);
			return -1;
		}
		break;
	case CONF_ENUM:
		if (!conf_choice_ok(k->choices, value)) {
			snprintf(err, errlen, "key '%s': '%s' is not one of %s", k->name, value,
				 k->choices);
			return -1;
		}
		break;
	case CONF_HOSTS: {
		struct hostlist_entry hosts[HOSTLIST_MAX];
		char why[256];
		if (hostlist_parse(value, hosts, HOSTLIST_MAX, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "key '%s': %s", k->name, why);
			return -1;
		}
		break;
	}
	case CONF_LISTEN: {
		struct sockaddr_storage sa;
		socklen_t salen;
		char why[256];
		if (metrics_listen_parse(value, &sa, &salen, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "key '%s': %s", k->name, why);
			return -1;
		}
		break;
	}
	case CONF_STR:
		break;
	}
	copy = strdup(value);
	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	free(conf_val[i]);
	conf_val[i] = copy;
	conf_num[i] = num;
	return 0;
}

/* Reset every key to its default. */
void conf_defaults(void)
{
	char err[256];

	for (int i = 0; i < CONF__COUNT; i++)
		if (conf_store(i, conf_keys[i].def, err, sizeof(err)) != 0)
			abort(); /* a bad default is a programming error */
	conf_file[0] = '\0';
	conf_for = CONF_FOR_ALL;
}

/* Set one key by name, if the loading program reads it. */
int conf_set(const char *name, const char *value, char *err, size_t errlen)
{
	int i = conf_find(name);

	if (i < 0) {
		snprintf(err, errlen, "unknown key '%s'", name);
		return -1;
	}
	if (!(conf_keys[i].programs & conf_for))
		return 0; /* another program's key in a shared file */
	return conf_store(i, value, err, errlen);
}

/* Trim ASCII white space at both ends, in place. */
static char *conf_trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Longest line of a file, newline excluded. */
#define CONF_LINE_MAX 4094

/* Read a key=value file.  getline, not fgets: its length counts a NUL
 * byte, which would otherwise end the line unseen (and, on a line longer
 * than the buffer, let its rest be read as a line of its own). */
int conf_load_file(const char *path, char *err, size_t errlen)
{
	char *line = NULL, sub[512];
	size_t cap = 0;
	ssize_t got;
	unsigned lineno = 0;
	int rc = -1;
	FILE *f = fopen(path, "r");

	if (!f) {
		snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
		return -1;
	}
	while ((got = getline(&line, &cap, f)) >= 0) {
		char *key, *val, *eq;
		size_t len = (size_t)got;

		lineno++;
		if (len > 0 && line[len - 1] == '\n')
			len--;
		if (len > CONF_LINE_MAX) {
			snprintf(err, errlen, "%s:%u: line too long", path, lineno);
			goto out;
		}
		if (memchr(line, '\0', len)) {
			snprintf(err, errlen, "%s:%u: NUL byte", path, lineno);
			goto out;
		}
		key = conf_trim(line);
		if (*key == '\0' || *key == '#')
			continue;
		eq = strchr(key, '=');
		if (!eq) {
			snprintf(err, errlen, "%s:%u: expected key = value", path, lineno);
			goto out;
		}
		*eq = '\0';
		key = conf_trim(key);
		val = conf_trim(eq + 1);
		if (conf_set(key, val, sub, sizeof(sub)) != 0) {
			snprintf(err, errlen, "%s:%u: %s", path, lineno, sub);
			goto out;
		}
	}
	if (ferror(f)) {
		snprintf(err, errlen, "cannot read '%s'", path);
		goto out;
	}
	snprintf(conf_file, sizeof(conf_file), "%s", path);
	rc = 0;
out:
	free(line);
	fclose(f);
	return rc;
}

/* Apply MAGENTA_<KEY> variables. */
int conf_load_env(char *err, size_t errlen)
{
	char var[96], sub[512];

	for (int i = 0; i < CONF__COUNT; i++) {
		const char *v;
		size_t o = snprintf(var, sizeof(var), "MAGENTA_");
		for (const char *p = conf_keys[i].name; *p && o < sizeof(var) - 1; p++)
			var[o++] = (char)toupper((unsigned char)*p);
		var[o] = '\0';
		v = getenv(var);
		if (!v || !(conf_keys[i].programs & conf_for))
			continue;
		if (conf_store(i, v, sub, sizeof(sub)) != 0) {
			snprintf(err, errlen, "environment %s: %s", var, sub);
			return -1;
		}
	}
	return 0;
}

/* Defaults, file, environment, as programs. */
int conf_load(const char *path, unsigned programs, char *err, size_t errlen)
{
	const char *installed = MAGENTA_SYSCONFDIR "/magenta/magenta.conf";

	conf_defaults();
	conf_for = programs;
	if (!path || !*path)
		path = getenv("MAGENTA_CONFIG");
	if (path && *path) {
		if (conf_load_file(path, err, errlen) != 0)
			return -1;
	} else {
		FILE *f = fopen(installed, "r");
		if (f) {
			fclose(f);
			if (conf_load_file(installed, err, errlen) != 0)
				return -1;
		}
	}
	return conf_load_env(err, errlen);
}

/* The loading program's bits. */
unsigned conf_programs(void)
{
	return conf_for;
}

/* Does the loading program read the key? */
int conf_reads(enum conf_id id)
{
	return (conf_keys[id].programs & conf_for) != 0;
}

/* Stop on a read of a key the table does not give the loading program:
 * its value would silently be the default. */
static void conf_check_reads(enum conf_id id)
{
	if (conf_reads(id))
		return;
	fprintf(stderr, "conf: key '%s' is read by a program the key table does not name\n",
		conf_keys[id].name);
	abort();
}

/* Compare a value with its default. */
int conf_is_default(enum conf_id id)
{
	return strcmp(conf_str(id), conf_keys[id].def) == 0;
}

/* The file conf_load read. */
const char *conf_path(void)
{
	return conf_file;
}

/* String value of a key. */
const char *conf_str(enum conf_id id)
{
	conf_check_reads(id);
	return conf_val[id] ? conf_val[id] : conf_keys[id].def;
}

/* Integer value of a key. */
long conf_int(enum conf_id id)
{
	conf_check_reads(id);
	return conf_num[id];
}

/* Boolean value of a key. */
int conf_bool(enum conf_id id)
{
	conf_check_reads(id);
	return conf_num[id] != 0;
}

static const char *const type_names[] = { "string", "integer", "boolean", "choice",
					   "host:port list", "address:port or empty" };

/* Write the type of key k, with its bounds or choices. */
static void conf_print_type(FILE *out, const struct conf_key *k)
{
	fputs(type_names[k->type], out);
	if (k->type == CONF_INT)
		fprintf(out, " %ld..%ld", k->min, k->max);
	else if (k->type == CONF_ENUM)
		fprintf(out, " %s", k->choices);
}

/* Describe the keys of programs for --help. */
void conf_print_help(FILE *out, unsigned programs)
{
	fprintf(out, "configuration keys (file key = value, or environment MAGENTA_<KEY>):\n");
	for (int i = 0; i < CONF__COUNT; i++) {
		const struct conf_key *k = &conf_keys[i];
		if (!(k->programs & programs))
			continue;
		fprintf(out, "  %-22s ", k->name);
		conf_print_type(out, k);
		fprintf(out, ", default '%s'\n      %s\n", k->def, k->desc);
	}
}

/* Name the programs whose bits are set, or "every program". */
static void conf_print_readers(FILE *out, unsigned programs)
{
	size_t n = sizeof(conf_program_names) / sizeof(conf_program_names[0]);
	const char *sep = "";

	if (programs == CONF_FOR_ALL) {
		fputs("every program", out);
		return;
	}
	for (size_t p = 0; p < n; p++) {
		if (programs & (1u << p)) {
			fprintf(out, "%s%s", sep, conf_program_names[p]);
			sep = ", ";
		}
	}
}

/* Write a sample file with the defaults of programs' keys commented out. */
void conf_print_sample(FILE *out, unsigned programs)
{
	fprintf(out, "# magenta.conf: each key with its default and the programs that read it;\n"
		     "# uncomment to change.  Each key can also be set by the environment as\n"
		     "# MAGENTA_<KEY>.  A program ignores the keys of the others.\n");
	for (int i = 0; i < CONF__COUNT; i++) {
		const struct conf_key *k = &conf_keys[i];
		if (!(k->programs & programs))
			continue;
		fprintf(out, "\n# %s (", k->desc);
		conf_print_type(out, k);
		fprintf(out, ")\n# read by ");
		conf_print_readers(out, k->programs);
		fprintf(out, "\n#%s = %s\n", k->name, k->def);
	}
}
