# SPDX-License-Identifier: MIT
# `make package`: one Debian package of the application (its calls are compiled in).
# Laid out as every file in deploy/ expects: the binary /usr/lib/cppapi/cppapi, the
# units in /lib/systemd/system, an example /etc/cppapi/cppapi.toml (a conffile), the
# demo page and the front-server snippets under /usr/share/cppapi. postinst creates
# the `cppapi` system user and starts nothing; dependencies come from dpkg-shlibdeps.

install(FILES deploy/systemd/cppapi.service deploy/systemd/cppapi.socket DESTINATION /lib/systemd/system)
install(FILES deploy/systemd/standalone/cppapi.service DESTINATION /lib/systemd/system
        RENAME cppapi-standalone.service)
install(FILES deploy/cppapi.toml DESTINATION /etc/cppapi)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME cppapi)
set(CPACK_PACKAGE_VENDOR cppAPI)
set(CPACK_PACKAGE_CONTACT "cppAPI developers <cppapi-developers@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "web pages call C++ functions over FastCGI (nginx, lighttpd, apache)")
set(CPACK_PACKAGE_DESCRIPTION "A pool of FastCGI responders serving the calls compiled into this build,\n\
with systemd units (socket-activated and standalone) and front-server snippets.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION httpd)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "nginx | lighttpd | apache2, spawn-fcgi")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(cppapi_conffiles "${CMAKE_CURRENT_BINARY_DIR}/debian/conffiles")
file(WRITE "${cppapi_conffiles}" "/etc/cppapi/cppapi.toml\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${PROJECT_SOURCE_DIR}/deploy/debian/postinst;${PROJECT_SOURCE_DIR}/deploy/debian/prerm;"
    "${PROJECT_SOURCE_DIR}/deploy/debian/postrm;${cppapi_conffiles}")
include(CPack)
