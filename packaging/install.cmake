# `cmake --install` layout: binaries in bin/, data in share/caig-studio (found by resourceDir()).
include(GNUInstallDirs)
install(TARGETS caig-studio caig RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/resources/ DESTINATION ${CMAKE_INSTALL_DATADIR}/caig-studio)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/caig-studio.desktop DESTINATION ${CMAKE_INSTALL_DATADIR}/applications)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME caig-studio)
set(CPACK_PACKAGE_CONTACT "CAIG Studio maintainers")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libopenblas0-openmp")
include(CPack)
