# data/: the common-password blocklist shipped with Magenta.
dist_pkgdata_DATA += data/common-passwords.txt
