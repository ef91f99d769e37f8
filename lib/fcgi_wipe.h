/* fcgi_wipe: libfcgi's copies of a request's body and of a reply that holds
 * a secret, zeroed as they are read and sent (lib/http.c uses these). */
#ifndef MAGENTA_FCGI_WIPE_H
#define MAGENTA_FCGI_WIPE_H

#include <stddef.h>

#include <fcgiapp.h>

/* Read up to n bytes of in into dst, zeroing libfcgi's copy of each; the
 * bytes read, fewer at the end of the input. */
size_t fcgi_read_wiped(FCGX_Stream *in, char *dst, size_t n);

/* Write and send the n bytes of s (a secret), zeroing libfcgi's copy once
 * sent (or once the stream failed).  0, or -1 when the stream failed. */
int fcgi_put_wiped(FCGX_Stream *out, const char *s, size_t n);

/* 1 when in has been read to its end, reading (and zeroing) what is left
 * of it, at most 64 KiB. */
int fcgi_input_drained(FCGX_Stream *in);

#endif
