# data/: the common-password blocklist shipped with Magenta.
dist_pkgdata_DATA += data/common-passwords.txt

# A commented configuration file with every key and its default.
magentaconfdir = $(sysconfdir)/magenta
magentaconf_DATA = data/magenta.conf.sample
CLEANFILES += data/magenta.conf.sample
data/magenta.conf.sample: ctl/magentactl$(EXEEXT)
	$(AM_V_GEN)$(MKDIR_P) data && ctl/magentactl sample-config >$@
