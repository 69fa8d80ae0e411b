# `cmake --install` layout and the Debian package (`bash packaging/deb.sh`, or `cpack` in the
# build folder). Binaries go to bin/; data to share/caig-studio, where resourceDir() looks beside
# an installed binary (core/base/resources.cpp); the desktop entry, icon, AppStream metadata, man
# pages, copyright and changelog where Debian expects them.
include(GNUInstallDirs)
set(CAIG_APP_ID io.github.caigstudio.CaigStudio)
set(CAIG_DOC_DIR ${CMAKE_INSTALL_DATADIR}/doc/caig-studio)

install(TARGETS caig-studio caig RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/resources/ DESTINATION ${CMAKE_INSTALL_DATADIR}/caig-studio)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/${CAIG_APP_ID}.desktop DESTINATION ${CMAKE_INSTALL_DATADIR}/applications)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/${CAIG_APP_ID}.metainfo.xml DESTINATION ${CMAKE_INSTALL_DATADIR}/metainfo)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/caig-studio.svg
        DESTINATION ${CMAKE_INSTALL_DATADIR}/icons/hicolor/scalable/apps)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/debian/copyright DESTINATION ${CAIG_DOC_DIR})

# Man pages from the programs' own --help (help2man), and the changelog, gzipped reproducibly
# (gzip -n) as Debian policy asks. Built with `all` so that cpack and `cmake --install` find them.
find_program(HELP2MAN help2man)
find_program(GZIP gzip REQUIRED)
set(CAIG_PKG_DIR ${PROJECT_BINARY_DIR}/packaging)
add_custom_command(OUTPUT ${CAIG_PKG_DIR}/changelog.gz
  COMMAND ${CMAKE_COMMAND} -E make_directory ${CAIG_PKG_DIR}
  COMMAND ${GZIP} -9 -n -c ${PROJECT_SOURCE_DIR}/packaging/debian/changelog > ${CAIG_PKG_DIR}/changelog.gz
  DEPENDS ${PROJECT_SOURCE_DIR}/packaging/debian/changelog VERBATIM)
set(CAIG_PKG_OUTPUTS ${CAIG_PKG_DIR}/changelog.gz)
install(FILES ${CAIG_PKG_DIR}/changelog.gz DESTINATION ${CAIG_DOC_DIR})
if(HELP2MAN)
  foreach(prog caig caig-studio)
    if(prog STREQUAL "caig")
      set(what "command line of CAIG Studio: CTR-driven advertising backgrounds for product photos")
    else()
      set(what "CTR-driven advertising backgrounds for product photos")
    endif()
    add_custom_command(OUTPUT ${CAIG_PKG_DIR}/${prog}.1.gz
      COMMAND ${CMAKE_COMMAND} -E make_directory ${CAIG_PKG_DIR}
      COMMAND ${HELP2MAN} --no-info --no-discard-stderr --section 1 --name ${what} --output ${CAIG_PKG_DIR}/${prog}.1
              $<TARGET_FILE:${prog}>
      COMMAND ${GZIP} -9 -n -f ${CAIG_PKG_DIR}/${prog}.1
      DEPENDS ${prog} VERBATIM)
    list(APPEND CAIG_PKG_OUTPUTS ${CAIG_PKG_DIR}/${prog}.1.gz)
    install(FILES ${CAIG_PKG_DIR}/${prog}.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
  endforeach()
else()
  message(STATUS "help2man not found: the install and the package have no man pages (apt-get install help2man)")
endif()
add_custom_target(caig_package_files ALL DEPENDS ${CAIG_PKG_OUTPUTS})

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME caig-studio)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "CAIG Studio developers")
set(CPACK_PACKAGE_CONTACT "CAIG Studio developers <caig-studio@users.noreply.github.com>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "advertising backgrounds for product photos, ranked by predicted CTR")
# The long description; CPack puts the summary above it as the synopsis and indents each line.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "CAIG Studio generates background variants for product shots (built-in
procedural backdrops, Stable Diffusion 1.5 with ControlNet inpainting),
ranks them by predicted click-through rate against the original, and
fine-tunes its reward model on a team's own click data. The method is
CAIG (CTR-driven Advertising Image Generation with Multimodal LLMs).

This package holds the desktop studio (caig-studio) and the command line
(caig). Models are installed separately; see caig(1).")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION graphics)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# Loaded at run time rather than linked, so dpkg-shlibdeps cannot see them: LibTorch's fast BLAS
# (without it matmul is ~90x slower), Qt's X11 platform plugin and its SVG icon engine (the
# toolbar icons).
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libopenblas0-openmp, qt6-qpa-plugins, libqt6svg6")
include(CPack)
