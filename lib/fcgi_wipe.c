/* fcgi_wipe: reading and writing a FastCGI stream so that libfcgi's own
 * buffers keep no secret: through libfcgi's public stream state only
 * (fcgiapp.h), never its private layout.  What cannot be reached so is
 * listed in docs/auth.md, "Secrets in memory". */
#include "config.h"

#include <sodium.h>

#include "fcgi_wipe.h"

/* Read up to n bytes of the request's input into dst, zeroing libfcgi's
 * copy as it goes: each fragment libfcgi offers, [rdNext, stop) of its
 * public stream state, is taken whole with FCGX_GetStr and then zeroed
 * where it lay.  When none is left, FCGX_GetChar has libfcgi refill its
 * buffer and FCGX_UnGetChar puts the byte back, so that it is taken (and
 * zeroed) with the rest of its fragment.  The bytes read, fewer at the
 * end of the input. */
size_t fcgi_read_wiped(FCGX_Stream *in, char *dst, size_t n)
{
	size_t got = 0;

	while (got < n) {
		unsigned char *src;
		size_t m;
		int c;

		if (in->rdNext == in->stop) {
			c = FCGX_GetChar(in);
			if (c == EOF || FCGX_UnGetChar(c, in) == EOF)
				break; /* end of input (the second cannot fail after the first) */
		}
		src = in->rdNext;
		m = (size_t)(in->stop - in->rdNext);
		if (m > n - got)
			m = n - got;
		if (FCGX_GetStr(dst + got, (int)m, in) != (int)m)
			break; /* not libfcgi as we read it: nothing zeroed, nothing lost */
		sodium_memzero(src, m);
		got += m;
	}
	return got;
}

/* Write n bytes of s, which hold a secret, to out and send them: each
 * part that fits the free span [wrNext, stop) of libfcgi's buffer is put
 * there, flushed, and zeroed where it lay once libfcgi counts the span
 * free again (sent) or the stream has failed (closed: the peer is gone,
 * and what libfcgi may try again may as well be zeros).  0, or -1 when
 * the stream failed. */
int fcgi_put_wiped(FCGX_Stream *out, const char *s, size_t n)
{
	while (n > 0) {
		unsigned char *dst = out->wrNext;
		size_t m = (size_t)(out->stop - out->wrNext);

		if (m == 0) { /* full of what was written before: send that first */
			if (FCGX_FFlush(out) != 0 || out->wrNext == out->stop)
				return -1;
			continue;
		}
		if (m > n)
			m = n;
		if (FCGX_PutStr(s, (int)m, out) != (int)m)
			return -1;
		(void)FCGX_FFlush(out);
		if (dst + m <= out->stop && (out->wrNext <= dst || out->isClosed))
			sodium_memzero(dst, m);
		if (out->isClosed)
			return -1;
		s += m;
		n -= m;
	}
	return 0;
}

/* 1 when the request's input has been read to its end (reading what is
 * left of it, a bounded amount): the web server then has nothing more to
 * send on this connection. */
int fcgi_input_drained(FCGX_Stream *in)
{
	char buf[1024];
	size_t left = 64 * 1024, n;

	while (FCGX_HasSeenEOF(in) != EOF && left > 0) {
		n = fcgi_read_wiped(in, buf, sizeof(buf) < left ? sizeof(buf) : left);
		if (n == 0)
			break;
		left -= n;
	}
	sodium_memzero(buf, sizeof(buf)); /* an unread body may hold a password */
	return FCGX_HasSeenEOF(in) == EOF;
}
