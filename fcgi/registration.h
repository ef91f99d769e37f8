/* registration: state shared by the registration service's handlers. */
#ifndef MAGENTA_REGISTRATION_H
#define MAGENTA_REGISTRATION_H

#include "db.h"
#include "http.h"
#include "validate.h"

struct registration {
	struct db db;              /* MagentaUsers */
	struct blocklist *blocked; /* common passwords */
};

extern struct registration reg;

/* POST /api/registration/register */
void h_register(struct http_req *r);

#endif
