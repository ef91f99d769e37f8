/* log: logfmt lines on stderr, which may be a log file. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static char log_service[32] = "magenta";
static enum log_level log_min = LOG_LVL_INFO;
static const char *log_req_id;
static char log_file[1024];  /* "" while on the original stderr */
static int log_orig_stderr = -2; /* its copy once a file replaced it; -1: none */

static const char *const level_names[] = { "debug", "info", "warn", "error" };

/* Remember the service name and threshold. */
void log_init(const char *service, enum log_level min)
{
	snprintf(log_service, sizeof(log_service), "%s", service);
	log_min = min;
}

/* Change the threshold. */
void log_set_level(enum log_level min)
{
	log_min = min;
}

/* Map a level name to its value. */
int log_level_parse(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

/* Open path for appending and make it standard error. */
static int log_attach(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);

	if (fd < 0)
		return -1;
	if (fd != STDERR_FILENO) {
		if (dup2(fd, STDERR_FILENO) < 0) {
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		close(fd);
	}
	return 0;
}

/* Switch the log to path, or back to the original standard error. */
int log_open(const char *path)
{
	if (!path || !*path) {
		if (log_file[0] && log_orig_stderr >= 0 && dup2(log_orig_stderr, STDERR_FILENO) < 0)
			return -1;
		log_file[0] = '\0';
		return 0;
	}
	if (strlen(path) >= sizeof(log_file)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	/* keep the standard error we started with (closed under spawn-fcgi:
	 * none), for a reload that empties log_file */
	if (log_orig_stderr == -2)
		log_orig_stderr = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	if (log_attach(path) != 0)
		return -1;
	snprintf(log_file, sizeof(log_file), "%s", path);
	return 0;
}

/* Open the same name again: a rotated file is left to its new name. */
int log_reopen(void)
{
	return log_file[0] ? log_attach(log_file) : 0;
}

/* The log file's name. */
const char *log_path(void)
{
	return log_file;
}

/* Attach (or with NULL detach) the current request id. */
void log_set_request_id(const char *id)
{
	log_req_id = id;
}

/* The current request id, or NULL. */
const char *log_request_id(void)
{
	return log_req_id;
}

/* Safe characters and a sane length only. */
int log_request_id_ok(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > LOG_REQUEST_ID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char)id[i]) || id[i] == '-' || id[i] == '_' || id[i] == '.'))
			return 0;
	return 1;
}

/* Format the fixed prefix and the caller's pairs into one write. */
static void log_vwrite(enum log_level lvl, const char *suffix, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static void log_vwrite(enum log_level lvl, const char *suffix, const char *fmt, va_list ap)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	size_t n;
	int r;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "ts=%Y-%m-%dT%H:%M:%S", &tm);
	r = snprintf(line + n, sizeof(line) - n, ".%03ldZ level=%s service=%s",
		     ts.tv_nsec / 1000000, level_names[lvl], log_service);
	if (r > 0)
		n += (size_t)r < sizeof(line) - n ? (size_t)r : sizeof(line) - n - 1;
	if (log_req_id && n < sizeof(line) - 1) {
		r = snprintf(line + n, sizeof(line) - n, " req=%s", log_req_id);
		if (r > 0)
			n += (size_t)r < sizeof(line) - n ? (size_t)r : sizeof(line) - n - 1;
	}
	if (n < sizeof(line) - 2) {
		line[n++] = ' ';
		r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		if (r > 0)
			n += (size_t)r < sizeof(line) - n ? (size_t)r : sizeof(line) - n - 1;
	}
	if (suffix && n < sizeof(line) - 1) {
		r = snprintf(line + n, sizeof(line) - n, "%s", suffix);
		if (r > 0)
			n += (size_t)r < sizeof(line) - n ? (size_t)r : sizeof(line) - n - 1;
	}
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	fwrite(line, 1, n, stderr);
	fflush(stderr);
}

/* Write one line if lvl passes the threshold. */
void log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	if (lvl < log_min)
		return;
	va_start(ap, fmt);
	log_vwrite(lvl, NULL, fmt, ap);
	va_end(ap);
}

/* Warn with the current errno appended. */
void log_warn(const char *fmt, ...)
{
	char suffix[160], q[140];
	int saved = errno;
	va_list ap;

	if (LOG_LVL_WARN < log_min)
		return;
	snprintf(suffix, sizeof(suffix), " err=%s", log_q(q, sizeof(q), strerror(saved)));
	va_start(ap, fmt);
	log_vwrite(LOG_LVL_WARN, suffix, fmt, ap);
	va_end(ap);
	errno = saved;
}

/* Quote and escape s as one logfmt value. */
const char *log_q(char *buf, size_t n, const char *s)
{
	size_t o = 0;

	if (n < 3) {
		if (n)
			buf[0] = '\0';
		return buf;
	}
	buf[o++] = '"';
	for (; s && *s && o + 3 < n; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			buf[o++] = ' ';
		} else {
			buf[o++] = (char)c;
		}
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

/* Log at error level and exit: start-up failures only. */
void fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LVL_ERROR, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}
