/* auth-hello: the smallest libfcgi responder, the baseline that GET
 * /api/auth/me and the JWKS are compared with in bench/auth.sh (same
 * lighttpd, same number of processes, deployed alike: -p N forks N
 * processes accepting from the one socket, as our programs' -p does).  It
 * answers every request with a fixed JSON body and the headers our replies
 * carry, and closes the connection as lib/http.c does (at once, its input
 * read to the end).  The children die with the first process, the one
 * lighttpd started and stops. */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <fcgiapp.h>

/* Answer every request alike until the web server stops us. */
int main(int argc, char **argv)
{
	int procs = argc == 3 && strcmp(argv[1], "-p") == 0 ? atoi(argv[2]) : 1;
	static const char reply[] = "Status: 200 OK\r\n"
				    "Content-Type: application/json\r\n"
				    "Cache-Control: no-store\r\n"
				    "X-Content-Type-Options: nosniff\r\n"
				    "\r\n"
				    "{\"hello\":\"world\"}";
	FCGX_Request req;
	char buf[1024];

	if (procs < 1 || procs > 256 || FCGX_Init() != 0 || FCGX_InitRequest(&req, 0, 0) != 0)
		return 1;
	/* the children die with this process (lighttpd stops only it) */
	for (int i = 1; i < procs; i++)
		if (fork() == 0) {
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			break;
		}
	while (FCGX_Accept_r(&req) >= 0) {
		FCGX_PutStr(reply, (int)strlen(reply), req.out);
		while (FCGX_GetStr(buf, sizeof(buf), req.in) > 0)
			;
		if (FCGX_HasSeenEOF(req.in) == EOF)
			FCGX_Detach(&req);
		FCGX_Finish_r(&req);
	}
	return 0;
}
