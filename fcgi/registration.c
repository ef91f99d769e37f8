/* magenta-registration: the registration FastCGI program. */
#include "config.h"

#include <stdio.h>

#include "conf.h"
#include "log.h"
#include "metrics.h"
#include "pwhash.h"
#include "registration.h"
#include "service.h"

struct registration reg;

/* GET /api/registration/health: the process answers. */
static void h_health(struct http_req *r)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "status", json_object_new_string("ok"));
	json_object_object_add(o, "service", json_object_new_string("registration"));
	http_reply(r, 200, NULL, o);
}

/* GET /api/registration/ready: the database answers too. */
static void h_ready(struct http_req *r)
{
	struct json_object *o = json_object_new_object();
	PGresult *res = db_exec(&reg.db, "SELECT 1", 0, NULL, 1);
	int ok = PQresultStatus(res) == PGRES_TUPLES_OK;

	PQclear(res);
	json_object_object_add(o, "status", json_object_new_string(ok ? "ready" : "unavailable"));
	json_object_object_add(o, "service", json_object_new_string("registration"));
	json_object_object_add(o, "database", json_object_new_string(ok ? "up" : "down"));
	http_reply(r, ok ? 200 : 503, ok ? NULL : "Retry-After: 5\r\n", o);
}

static const struct http_route routes[] = {
    {"POST", "/api/registration/register", h_register, 0},
    {"GET", "/api/registration/users/me", h_me_get, 0},
    {"PATCH", "/api/registration/users/me", h_me_patch, 0},
    {"DELETE", "/api/registration/users/me", h_me_delete, 0},
    {"POST", "/api/registration/users/me/password", h_me_password, 0},
    {"GET", "/api/registration/users/", h_user_get, 1},
    {"GET", "/api/registration/admin/users", h_admin_search, 0},
    {"POST", "/api/registration/admin/users/", h_admin_user_post, 1},
    {"DELETE", "/api/registration/admin/users/", h_admin_user_delete, 1},
    {"POST", "/api/registration/confirm-email", h_confirm_email, 0},
    {"POST", "/api/registration/users/me/confirm-email/resend", h_confirm_resend, 0},
    {"POST", "/api/registration/password/forgot", h_password_forgot, 0},
    {"POST", "/api/registration/password/reset", h_password_reset, 0},
    {"GET", "/api/registration/health", h_health, 0},
    {"GET", "/api/registration/ready", h_ready, 0},
    {"GET", "/api/registration/metrics", h_metrics, 0},
};

/* Hashing parameters, blocklist, database handle. */
static int reg_init(char *err, size_t errlen)
{
	const char *bl = conf_str(CONF_PASSWORD_BLOCKLIST);

	if (conf_int(CONF_PASSWORD_MIN) > conf_int(CONF_PASSWORD_MAX)) {
		snprintf(err, errlen, "key 'password_min' is larger than 'password_max'");
		return -1;
	}
	if (pwhash_configure(1, err, errlen) != 0 || metrics_allow_configure(err, errlen) != 0)
		return -1;
	/* the default names optional files; a configured list must exist */
	reg.blocked = blocklist_load(bl, conf_is_default(CONF_PASSWORD_BLOCKLIST), err, errlen);
	if (!reg.blocked)
		return -1;
	log_info("event=blocklist entries=%zu", blocklist_size(reg.blocked));
	if (token_ctx_init_verify(&reg.tok, conf_str(CONF_JWT_PUBLIC_KEYS), conf_str(CONF_JWT_ISSUER),
				  conf_str(CONF_JWT_AUDIENCE), conf_int(CONF_JWT_LEEWAY), err,
				  errlen) != 0)
		return -1;
	log_info("event=token_keys keys=%zu", reg.tok.nkeys);
	reg.proxies = clientaddr_list_parse(conf_str(CONF_TRUSTED_PROXIES), err, errlen);
	if (!reg.proxies)
		return -1;
	db_init(&reg.db, conf_str(CONF_USERS_DB), "magenta-registration");
	db_on_connect(&reg.db, DB_KEY_LOOKUPS);
	db_timeout(&reg.db, conf_int(CONF_PG_QUERY_TIMEOUT_MS));
	return 0;
}

/* What reg_init made: before a reload runs it again, and at exit. */
static void reg_release(void)
{
	db_close(&reg.db);
	blocklist_free(reg.blocked);
	reg.blocked = NULL;
	token_ctx_release(&reg.tok);
	clientaddr_list_free(reg.proxies);
	reg.proxies = NULL;
	metrics_allow_release();
}

int main(int argc, char **argv)
{
	static const struct service svc = {"registration", routes,
					   sizeof(routes) / sizeof(routes[0]), reg_init,
					   reg_release, CONF_FOR_REGISTRATION};
	int rc = service_main(&svc, argc, argv);

	reg_release();
	return rc;
}
