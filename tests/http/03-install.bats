#!/usr/bin/env bats
# What make install puts besides the programs: the manual pages, and the
# lighttpd sample with configure's paths filled in (never a hard-coded
# /usr/local).

load ../lib/common

PAGES=(man8/magenta-registration.8 man8/magenta-auth.8 man8/magenta-relay.8
	man8/magenta-consumer.8 man1/magentactl.1)

# render PAGE: groff's warnings (-ww) about PAGE, none when it is clean.
render() { groff -man -Tutf8 -ww -z "$1" 2>&1; }

# includes FILE: the paths FILE's include lines name.
includes() { sed -n 's/^include "\(.*\)"$/\1/p' "$1"; }

@test "install: the five manual pages are under share/man, render without a warning, and name this prefix's files" {
	local p
	for p in "${PAGES[@]}"; do
		[ -f "$MAGENTA_PREFIX/share/man/$p" ]
		run render "$MAGENTA_PREFIX/share/man/$p"
		[ "$status" = 0 ]
		[ -z "$output" ]
		run grep -c '@[a-z]*@' "$MAGENTA_PREFIX/share/man/$p"
		[ "$output" = 0 ]
	done
	run man -l "$MAGENTA_PREFIX/share/man/man8/magenta-relay.8"
	[ "$status" = 0 ]
	[[ "$output" == *"$MAGENTA_PREFIX/etc/magenta/magenta.conf"* ]]
	[[ "$output" == *SIGNALS* ]]
	# every command of magentactl has its entry
	run man -l "$MAGENTA_PREFIX/share/man/man1/magentactl.1"
	for p in sample-config migrate keygen hash-password status dlq resync user; do
		[[ "$output" == *"
       $p"* ]]
	done
}

@test "install: lighttpd.conf.sample names the installed programs and files of this prefix" {
	local s=$MAGENTA_PREFIX/etc/magenta/lighttpd.conf.sample f n=0
	grep -qx "var.magenta_sbindir = \"$MAGENTA_PREFIX/sbin\"" "$s"
	[ -x "$MAGENTA_PREFIX/sbin/magenta-registration" ]
	grep -qx "var.magenta_config  = \"$MAGENTA_PREFIX/etc/magenta/magenta.conf\"" "$s"
	grep -qx "var.magenta_datadir = \"$MAGENTA_PREFIX/share/magenta\"" "$s"
	[ -d "$MAGENTA_PREFIX/share/magenta/lighttpd-errors" ]
	while read -r f; do
		[ -f "$f" ]
		n=$((n + 1))
	done < <(includes "$s")
	[ "$n" = 4 ]
	run grep -n '/usr/local\|@[a-z]*@' "$s"
	[ "$status" = 1 ]
}

@test "install: the web page in share/magenta/web, and its lighttpd and Apache includes naming this prefix" {
	local f
	for f in index.html app.css app.js; do
		[ -s "$MAGENTA_PREFIX/share/magenta/web/$f" ]
	done
	[ -f "$MAGENTA_PREFIX/etc/magenta/lighttpd-magenta-web.conf" ]
	grep -qx "	Define MAGENTA_WEBDIR $MAGENTA_PREFIX/share/magenta/web" "$MAGENTA_PREFIX/etc/magenta/apache-magenta-web.conf"
	grep -qx "var.magenta_webdir = \"$MAGENTA_PREFIX/share/magenta/web\"" "$MAGENTA_PREFIX/etc/magenta/lighttpd.conf.sample"
	run grep -n '@[a-z]*@' "$MAGENTA_PREFIX/etc/magenta/apache-magenta-web.conf"
	[ "$status" = 1 ]
}

@test "configure --prefix=/usr: the sample and the pages name /usr and /etc, never /usr/local; DESTDIR installs the pages under usr/share/man; the default prefix is /usr/local" {
	local b=$BATS_TEST_TMPDIR/usr d=$BATS_TEST_TMPDIR/dest p
	mkdir -p "$b"
	(cd "$b" && "$MAGENTA_SRC/configure" --prefix=/usr --sysconfdir=/etc >configure.out 2>&1)
	make -s -C "$b" lighttpd/lighttpd.conf.sample man/magenta-registration.8 man/magentactl.1
	grep -qx 'var.magenta_sbindir = "/usr/sbin"' "$b/lighttpd/lighttpd.conf.sample"
	grep -qx 'var.magenta_config  = "/etc/magenta/magenta.conf"' "$b/lighttpd/lighttpd.conf.sample"
	grep -qx 'var.magenta_datadir = "/usr/share/magenta"' "$b/lighttpd/lighttpd.conf.sample"
	[ "$(includes "$b/lighttpd/lighttpd.conf.sample")" = "/etc/magenta/lighttpd-magenta.conf
/etc/magenta/lighttpd-magenta-errors.conf
/etc/magenta/lighttpd-magenta-limits.conf
/etc/magenta/lighttpd-magenta-web.conf" ]
	grep -q '^\.I /etc/magenta/magenta.conf$' "$b/man/magenta-registration.8"
	grep -q '^\.I /usr/share/magenta/common\\-passwords.txt$' "$b/man/magenta-registration.8"
	run grep -n '/usr/local\|\${\|@[a-z]*@' "$b/lighttpd/lighttpd.conf.sample" \
		"$b/man/magenta-registration.8" "$b/man/magentactl.1"
	[ "$status" = 1 ]
	make -s -C "$b" install-man DESTDIR="$d"
	for p in "${PAGES[@]}"; do
		[ -f "$d/usr/share/man/$p" ]
	done

	rm -rf "$b" && mkdir -p "$b"
	(cd "$b" && "$MAGENTA_SRC/configure" >configure.out 2>&1)
	make -s -C "$b" lighttpd/lighttpd.conf.sample
	grep -qx 'var.magenta_sbindir = "/usr/local/sbin"' "$b/lighttpd/lighttpd.conf.sample"
	grep -qx 'include "/usr/local/etc/magenta/lighttpd-magenta.conf"' "$b/lighttpd/lighttpd.conf.sample"
}
