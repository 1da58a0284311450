# Debian packages by CPack (issue 13, item 5), one per install component:
#
#   component  package             holds
#   daemon     proletariatd        proletariatd, proletariat-ctl, the systemd unit,
#                                  /etc/proletariat/proletariatd.conf (a conffile)
#   runtime    libproletariat0     libproletariat.so.0 and the C API's libproletariat_c.so.0
#   dev        libproletariat-dev  headers, the CMake package, proletariat.pc, the .so links
#
# Build them from a tree configured for /usr (libraries then go to lib/<multiarch>):
#   cmake -S . -B build-deb -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr
#   cmake --build build-deb -j2 && (cd build-deb && cpack -G DEB)
# tests/package/deb_test.sh builds them, unpacks them and runs what they hold.

# --- Files of the daemon package that are not targets ------------------------------

# The config file: /etc/proletariat when installing into /usr (the rule GNUInstallDirs
# applies to SYSCONFDIR), <prefix>/etc/proletariat otherwise. Decided at install time,
# so that 'cmake --install build --prefix X' keeps everything inside X whatever the
# build was configured for. An edited config is kept (dpkg does the same for the
# conffile); the new default then goes beside it as proletariatd.conf.new.
set(PROLETARIAT_CONFIG_SOURCE ${PROJECT_SOURCE_DIR}/packaging/proletariatd.conf)
if(IS_ABSOLUTE "${CMAKE_INSTALL_SYSCONFDIR}")
  set(proletariat_sysconfdir_code "set(proletariat_sysconfdir \"${CMAKE_INSTALL_SYSCONFDIR}\")")
else()
  set(proletariat_sysconfdir_code "
    if(CMAKE_INSTALL_PREFIX STREQUAL \"/usr\")
      set(proletariat_sysconfdir \"/etc\")
    else()
      set(proletariat_sysconfdir \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_SYSCONFDIR}\")
    endif()")
endif()
install(CODE "
  ${proletariat_sysconfdir_code}
  set(proletariat_config \"\$ENV{DESTDIR}\${proletariat_sysconfdir}/proletariat/proletariatd.conf\")
  set(proletariat_config_name proletariatd.conf)
  if(EXISTS \"\${proletariat_config}\")
    file(SHA256 \"\${proletariat_config}\" proletariat_installed)
    file(SHA256 \"${PROLETARIAT_CONFIG_SOURCE}\" proletariat_default)
    if(NOT proletariat_installed STREQUAL proletariat_default)
      message(STATUS \"Keeping the edited \${proletariat_config}; the default goes beside it as proletariatd.conf.new\")
      set(proletariat_config_name proletariatd.conf.new)
    endif()
  endif()
  file(INSTALL DESTINATION \"\${proletariat_sysconfdir}/proletariat\" TYPE FILE
       FILES \"${PROLETARIAT_CONFIG_SOURCE}\" RENAME \${proletariat_config_name})
" COMPONENT daemon)

# The systemd unit names /usr/bin/proletariatd and /etc/proletariat; a build for
# another prefix gets a unit naming its own paths.
set(PROLETARIAT_UNIT_SOURCE ${PROJECT_SOURCE_DIR}/packaging/systemd/proletariatd.service)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${PROLETARIAT_UNIT_SOURCE})
file(READ ${PROLETARIAT_UNIT_SOURCE} proletariat_unit)
string(REPLACE "/usr/bin/proletariatd" "${CMAKE_INSTALL_FULL_BINDIR}/proletariatd" proletariat_unit "${proletariat_unit}")
string(REPLACE "/etc/proletariat/" "${CMAKE_INSTALL_FULL_SYSCONFDIR}/proletariat/" proletariat_unit "${proletariat_unit}")
file(WRITE ${PROJECT_BINARY_DIR}/packaging/proletariatd.service "${proletariat_unit}")
install(FILES ${PROJECT_BINARY_DIR}/packaging/proletariatd.service DESTINATION lib/systemd/system COMPONENT daemon)
install(FILES ${PROJECT_SOURCE_DIR}/docs/OPERATIONS.md DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/proletariatd
  COMPONENT daemon)

# --- CPack ----------------------------------------------------------------------------
if(NOT PROLETARIAT_TOPLEVEL)
  return()  # a project that embeds us packages itself
endif()
if(NOT CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  message(STATUS "Debian packages (cpack -G DEB) want -DCMAKE_INSTALL_PREFIX=/usr; this tree installs into ${CMAKE_INSTALL_PREFIX}")
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME proletariat)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR proletariat)
set(PROLETARIAT_PACKAGE_CONTACT "proletariat maintainers <maintainers@proletariat.invalid>"
    CACHE STRING "Maintainer field of the Debian packages")
set(CPACK_PACKAGE_CONTACT "${PROLETARIAT_PACKAGE_CONTACT}")
set(CPACK_STRIP_FILES ON)
# Install with DESTDIR, so that the absolute /etc/proletariat lands in the package's
# root, not on the machine that builds it.
set(CPACK_SET_DESTDIR ON)

set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL daemon runtime dev)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # <package>_<version>-<release>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

# Depends: dpkg-shlibdeps for the system libraries (libzmq5, libspdlog, libstdc++ ...);
# our own libraries are found in the build tree and left to the component
# dependencies, which pin the same version: "libproletariat0 (= 0.1.0-1)".
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS ${PROJECT_BINARY_DIR}/libproletariat ${PROJECT_BINARY_DIR}/bindings/c)
set(CPACK_DEBIAN_ENABLE_COMPONENT_DEPENDS ON)
# A shlibs file, so packages built against libproletariat0 get a dependency on it.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")

set(CPACK_DEBIAN_DAEMON_PACKAGE_NAME proletariatd)
set(CPACK_DEBIAN_DAEMON_PACKAGE_SECTION net)
set(CPACK_COMPONENT_DAEMON_DEPENDS runtime)
set(CPACK_COMPONENT_DAEMON_DESCRIPTION "proletariat job manager (broker) daemon and its control tool
proletariatd receives groups of jobs from clients and spreads them over workers
on many machines, with priorities, guaranteed slots, timeouts and a journal that
keeps accepted jobs across restarts. proletariat-ctl shows its status and submits
jobs. The systemd unit runs it with /etc/proletariat/proletariatd.conf.")

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME libproletariat0)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
set(CPACK_COMPONENT_RUNTIME_DESCRIPTION "proletariat distributed job system - shared libraries
The C++ library (client, worker, embeddable manager) and its C API, for
programs that push jobs to a proletariat manager or run them.")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libproletariat-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_COMPONENT_DEV_DEPENDS runtime)
# The public headers include nlohmann/json.hpp (proletariatConfig.cmake finds it).
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "nlohmann-json3-dev")
set(CPACK_COMPONENT_DEV_DESCRIPTION "proletariat distributed job system - development files
Headers of the C++ library and the C API, the CMake package
(find_package(proletariat)) and the pkg-config file proletariat.pc.")

# The daemon package: the config is a conffile (an edited one survives upgrades), the
# maintainer scripts tell systemd about the unit (docs/OPERATIONS.md: systemd).
if(IS_ABSOLUTE "${CMAKE_INSTALL_SYSCONFDIR}")
  set(proletariat_conffile "${CMAKE_INSTALL_SYSCONFDIR}/proletariat/proletariatd.conf")
elseif(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(proletariat_conffile "/etc/proletariat/proletariatd.conf")
else()
  set(proletariat_conffile "${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_SYSCONFDIR}/proletariat/proletariatd.conf")
endif()
file(WRITE ${PROJECT_BINARY_DIR}/packaging/debian/conffiles "${proletariat_conffile}\n")
set(CPACK_DEBIAN_DAEMON_PACKAGE_CONTROL_EXTRA
  ${PROJECT_BINARY_DIR}/packaging/debian/conffiles
  ${PROJECT_SOURCE_DIR}/packaging/debian/postinst
  ${PROJECT_SOURCE_DIR}/packaging/debian/prerm
  ${PROJECT_SOURCE_DIR}/packaging/debian/postrm)

include(CPack)
