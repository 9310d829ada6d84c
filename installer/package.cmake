# installer/package.cmake: the Debian package of Tome (CPack DEB), included last from the top-level
# CMakeLists.txt so that every target exists. Packaging only: the binaries' install() rules live
# with their targets (app/cli, ingest, app/desktop); here are the files that belong to no target
# (the default model, the sample document, the desktop entry and icon) and the package metadata.
# Build it with `scripts/setup.sh package` (the `package` preset + `cmake --build … --target
# package`); installer/test-deb.sh installs it into a clean Debian 12 root and uses it.

# The embedded default model and the sample document. The CLI (app/cli, default_model_dir) and the
# desktop app find the model at <prefix>/share/tome/models/tome-25m without --model.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/resources/models/tome-25m
  DESTINATION share/tome/models)
install(FILES ${PROJECT_SOURCE_DIR}/resources/sample/keeper.md DESTINATION share/tome/sample)

# The desktop app (its binary is installed by app/desktop): the menu entry and the icon. No
# maintainer scripts: dpkg triggers of desktop-file-utils and hicolor-icon-theme refresh the menu
# and icon caches where those packages are installed.
set(TOME_DESKTOP_RESOURCES ${PROJECT_SOURCE_DIR}/app/desktop/resources)
if(TARGET tome-desktop)
  foreach(f tome.desktop tome.svg)
    if(NOT EXISTS ${TOME_DESKTOP_RESOURCES}/${f})
      message(FATAL_ERROR "installer: tome-desktop is built but ${TOME_DESKTOP_RESOURCES}/${f} is missing")
    endif()
  endforeach()
  install(FILES ${TOME_DESKTOP_RESOURCES}/tome.desktop DESTINATION share/applications)
  install(FILES ${TOME_DESKTOP_RESOURCES}/tome.svg DESTINATION share/icons/hicolor/scalable/apps)
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME tome)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Whole-document YOCO reader: ask a book or a repository")
set(TOME_PACKAGE_PROGRAMS "the tome command line")
if(TARGET tome-desktop)
  set(TOME_PACKAGE_PROGRAMS "the tome command line, the desktop app")
endif()
set(CPACK_PACKAGE_DESCRIPTION
  "Tome reads a whole book, PDF, EPUB or code repository into one long-context prefill of a YOCO
language model, keeps the model's global KV cache on disk and answers questions or completes
code against it. This package holds ${TOME_PACKAGE_PROGRAMS} and the default
model (tome-25m). It runs on any x86-64 CPU, and on an NVIDIA GPU where the driver and cuBLAS
are installed.")
set(CPACK_PACKAGE_CONTACT "Tome developers <tome@localhost>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # tome_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Dependencies: dpkg-shlibdeps reads them off the binaries (Qt 6, Poppler, SQLite, SentencePiece,
# OpenBLAS, libzip, libgit2, …). The CUDA runtime is linked statically and cuBLAS is dlopen'ed
# (engine/src/backend/cuda), so nothing of CUDA is required: a machine without a GPU runs on the CPU.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
if(TARGET tome-desktop)
  # What dpkg-shlibdeps cannot see. Needed ones come along already: the X11 (xcb) and offscreen
  # platform plugins ship in libqt6gui6, which depends on fontconfig and so on a font. Wanted
  # ones: the Wayland platform plugin, the SVG image/icon plugins (the icon), the icon theme.
  set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "qt6-wayland, libqt6svg6, hicolor-icon-theme")
endif()
# The GPU path: the NVIDIA driver and cuBLAS 13 (NVIDIA's CUDA repository) or 12 (Debian non-free).
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "libcublas-13-0 | libcublas12")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
