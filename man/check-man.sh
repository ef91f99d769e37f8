#!/bin/sh
# man/check-man.sh (make check): each manual page, as built, renders with
# groff without a single warning (-ww), and has its sections.
# 77 (skip) without groff.
command -v groff >/dev/null 2>&1 || { echo "groff not found: skipped"; exit 77; }
status=0
for page in man/magenta-registration.8 man/magenta-auth.8 man/magenta-relay.8 \
	man/magenta-consumer.8 man/magenta-mailer.8 man/magentactl.1; do
	if [ ! -f "$page" ]; then
		echo "$page: not built"
		status=1
		continue
	fi
	warnings=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
	if [ -n "$warnings" ]; then
		echo "$page: groff warns:"
		echo "$warnings"
		status=1
	fi
	sections='NAME SYNOPSIS DESCRIPTION OPTIONS ENVIRONMENT FILES SEE.ALSO'
	case $page in *.8) sections="$sections SIGNALS" ;; esac
	for section in $sections; do
		grep -q "^\.SH \"*$section\"*\$" "$page" || {
			echo "$page: no $section section"
			status=1
		}
	done
	if grep -n '@[a-zA-Z]*@' "$page"; then
		echo "$page: a path left unsubstituted"
		status=1
	fi
done
exit $status
