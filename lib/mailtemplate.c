/* mailtemplate: rendering templates and building the message. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "mailtemplate.h"
#include "strbuf.h"

/* The buffer's string, or NULL (freed) when it ran out of memory. */
static char *mt_take(struct strbuf *b, char *err, size_t errlen)
{
	if (b->oom || !b->s) {
		strbuf_release(b);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	return b->s;
}

/* Replace each {{name}}. */
char *mailtemplate_render(const char *tmpl, const struct mail_var *vars, size_t n, char *err,
			  size_t errlen)
{
	struct strbuf b = {0};
	const char *p = tmpl;

	for (size_t i = 0; i < n; i++) {
		if (strpbrk(vars[i].value, "\r\n")) {
			snprintf(err, errlen, "variable '%s' holds a line break", vars[i].name);
			return NULL;
		}
	}
	strbuf_add(&b, "", 0);
	for (;;) {
		const char *open = strstr(p, "{{"), *close;
		size_t i, nlen;

		if (!open) {
			strbuf_addstr(&b, p);
			break;
		}
		strbuf_add(&b, p, (size_t)(open - p));
		close = strstr(open + 2, "}}");
		if (!close) {
			snprintf(err, errlen, "'{{' without '}}'");
			free(b.s);
			return NULL;
		}
		nlen = (size_t)(close - open - 2);
		for (i = 0; i < n; i++)
			if (strlen(vars[i].name) == nlen &&
			    memcmp(vars[i].name, open + 2, nlen) == 0)
				break;
		if (i == n) {
			snprintf(err, errlen, "unknown variable '{{%.*s}}'",
				 nlen > 40 ? 40 : (int)nlen, open + 2);
			free(b.s);
			return NULL;
		}
		strbuf_addstr(&b, vars[i].value);
		p = close + 2;
	}
	return mt_take(&b, err, errlen);
}

/* Append s, encoded as RFC 2047 words when it is not printable ASCII. */
static void mt_header_text(struct strbuf *b, const char *s)
{
	int ascii = 1;

	for (const unsigned char *c = (const unsigned char *)s; *c; c++)
		if (*c < 0x20 || *c > 0x7e)
			ascii = 0;
	if (ascii) {
		strbuf_addstr(b, s);
		return;
	}
	/* 45 bytes a word: 60 base64 characters, within the 75 of a word */
	for (size_t off = 0, len = strlen(s); off < len;) {
		size_t take = len - off > 45 ? 45 : len - off;
		char enc[64];

		/* never split a UTF-8 sequence */
		while (take > 1 && off + take < len &&
		       ((unsigned char)s[off + take] & 0xc0) == 0x80)
			take--;
		sodium_bin2base64(enc, sizeof(enc), (const unsigned char *)s + off, take,
				  sodium_base64_VARIANT_ORIGINAL);
		strbuf_addstr(b, off ? "\r\n =?UTF-8?B?" : "=?UTF-8?B?");
		strbuf_addstr(b, enc);
		strbuf_addstr(b, "?=");
		off += take;
	}
}

/* Headers, then the body with CRLF line ends. */
char *mailtemplate_message(const char *rendered, const char *from, const char *to, const char *date,
			   const char *msgid, char *err, size_t errlen)
{
	struct strbuf b = {0};
	const char *subj, *eol, *body;
	char *subject;

	if (strncmp(rendered, "Subject:", 8) != 0) {
		snprintf(err, errlen, "the template does not start with a Subject: line");
		return NULL;
	}
	if (strpbrk(from, "\r\n") || strpbrk(to, "\r\n") || strpbrk(date, "\r\n") ||
	    strpbrk(msgid, "\r\n")) {
		snprintf(err, errlen, "a header value holds a line break");
		return NULL;
	}
	subj = rendered + 8;
	while (*subj == ' ' || *subj == '\t')
		subj++;
	eol = strchr(subj, '\n');
	if (!eol) {
		snprintf(err, errlen, "the template has no body after its Subject: line");
		return NULL;
	}
	body = eol + 1;
	if (eol > subj && eol[-1] == '\r')
		eol--;
	/* the blank line that ends the headers of the template */
	if (body[0] == '\r' && body[1] == '\n')
		body += 2;
	else if (body[0] == '\n')
		body++;
	subject = strndup(subj, (size_t)(eol - subj));
	if (!subject) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	strbuf_addstr(&b, "From: ");
	strbuf_addstr(&b, from);
	strbuf_addstr(&b, "\r\nTo: ");
	strbuf_addstr(&b, to);
	strbuf_addstr(&b, "\r\nSubject: ");
	mt_header_text(&b, subject);
	strbuf_addstr(&b, "\r\nDate: ");
	strbuf_addstr(&b, date);
	strbuf_addstr(&b, "\r\nMessage-ID: ");
	strbuf_addstr(&b, msgid);
	strbuf_addstr(&b, "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
		   "Content-Transfer-Encoding: 8bit\r\nAuto-Submitted: auto-generated\r\n\r\n");
	free(subject);
	for (const char *p = body; *p; p++) {
		if (*p == '\r' && p[1] == '\n')
			continue; /* written with its LF */
		if (*p == '\n')
			strbuf_add(&b, "\r\n", 2);
		else
			strbuf_add(&b, p, 1);
	}
	if (b.len < 2 || memcmp(b.s + b.len - 2, "\r\n", 2) != 0)
		strbuf_add(&b, "\r\n", 2);
	return mt_take(&b, err, errlen);
}

/* Between '<' and '>', else all of it. */
int mailtemplate_address(const char *from, char *out, size_t outlen)
{
	const char *lt = strrchr(from, '<'), *gt;
	size_t n;

	if (lt && (gt = strchr(lt, '>')) != NULL) {
		lt++;
		n = (size_t)(gt - lt);
	} else {
		lt = from;
		n = strlen(from);
	}
	while (n && (*lt == ' ' || *lt == '\t')) {
		lt++;
		n--;
	}
	while (n && (lt[n - 1] == ' ' || lt[n - 1] == '\t'))
		n--;
	if (n == 0 || n >= outlen || memchr(lt, '\r', n) || memchr(lt, '\n', n))
		return -1;
	memcpy(out, lt, n);
	out[n] = '\0';
	return 0;
}
