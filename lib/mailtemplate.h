/* mailtemplate: the plain-text mail templates and the message built from
 * one (magenta-mailer).
 *
 * A template file is a "Subject: ..." line, a blank line, then the body,
 * UTF-8.  {{name}} anywhere is replaced by the value of that variable; an
 * unknown name is an error (a typo must not reach a user as text), and
 * no value may hold a CR or LF (no header can be injected). */
#ifndef MAGENTA_MAILTEMPLATE_H
#define MAGENTA_MAILTEMPLATE_H

#include <stddef.h>

struct mail_var {
	const char *name;
	const char *value;
};

/* tmpl with every {{name}} replaced from vars (n of them).  A new string
 * (caller frees), or NULL with err filled. */
char *mailtemplate_render(const char *tmpl, const struct mail_var *vars, size_t n, char *err,
			  size_t errlen);

/* The whole RFC 5322 message of a rendered template: From, To, Subject
 * (RFC 2047 encoded when not ASCII), Date, Message-ID, MIME headers, then
 * the body, every line ending in CRLF.  date is an RFC 5322 date, msgid
 * "<...>".  A new string (caller frees), or NULL with err filled (no
 * Subject line, a CR or LF in from or to). */
char *mailtemplate_message(const char *rendered, const char *from, const char *to, const char *date,
			   const char *msgid, char *err, size_t errlen);

/* The address of a From value: what lies between '<' and '>', else the
 * whole value, into out.  0, or -1 when it does not fit or is empty. */
int mailtemplate_address(const char *from, char *out, size_t outlen);

#endif
