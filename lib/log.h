/* log: one logfmt line per event on stderr, or in a file (log_file).
 *
 * Every line carries ts, level, service and, inside a request, req.  Callers
 * pass the rest as "key=value" pairs; values that may hold spaces or quotes
 * go through log_q().  Never pass a password, hash or token. */
#ifndef MAGENTA_LOG_H
#define MAGENTA_LOG_H

#include <stddef.h>

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

/* Set the service name (copied) and the lowest level written. */
void log_init(const char *service, enum log_level min);

/* Change the lowest level written. */
void log_set_level(enum log_level min);

/* Parse "debug|info|warn|error"; 0 on success, -1 otherwise. */
int log_level_parse(const char *s, enum log_level *out);

/* Log to the file path (appended, created mode 0640) from now on: it
 * becomes standard error, so what libraries write there lands in it too.
 * NULL or "" goes back to the standard error the process started with.
 * path is copied.  0, or -1 with errno set (the log stays where it was). */
int log_open(const char *path);

/* Open the log file again by its name, after it was moved (log rotation,
 * SIGUSR1).  0 (also when logging to standard error), or -1 with errno. */
int log_reopen(void);

/* The file logged to, or "" for standard error. */
const char *log_path(void);

/* Attach a request id to every following line; NULL detaches. Not copied:
 * the caller keeps it alive until it detaches. */
void log_set_request_id(const char *id);

/* The request id attached, or NULL: what the registration service stores
 * with an outbox row it writes inside a request (lib/account.c). */
const char *log_request_id(void);

/* 1 when id is a request id fit to log, store and pass on: 1-64 of
 * [A-Za-z0-9._-] (an X-Request-Id received, the correlation id of a
 * message); 0 otherwise. */
int log_request_id_ok(const char *id);

/* The most a request id may be (log_request_id_ok). */
#define LOG_REQUEST_ID_MAX 64

/* Write one line: fmt expands to the key=value pairs after the fixed ones. */
void log_msg(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Like log_msg at warn level, with err=strerror(errno) appended. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Quote s for a logfmt value into buf (always NUL-terminated, truncated
 * to n); control characters become spaces.  Returns buf. */
const char *log_q(char *buf, size_t n, const char *s);

/* Write an error line and exit(1): start-up only, never in a handler. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_warnx(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)

#endif
