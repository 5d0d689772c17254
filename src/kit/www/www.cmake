# The web terminal's browser assets: xterm.js pinned by package-lock.json,
# installed with `npm ci` at build time and embedded into hoody-kit (the
# browser never fetches anything from the internet).
set(KIT_WWW_SRC ${CMAKE_SOURCE_DIR}/src/kit/www)
set(KIT_WWW_BUILD ${CMAKE_BINARY_DIR}/kit-www)
set(KIT_XTERM ${KIT_WWW_BUILD}/node_modules/@xterm/xterm)
find_program(NPM npm REQUIRED)
add_custom_command(OUTPUT ${KIT_XTERM}/lib/xterm.js ${KIT_XTERM}/css/xterm.css
  COMMAND ${CMAKE_COMMAND} -E make_directory ${KIT_WWW_BUILD}
  COMMAND ${CMAKE_COMMAND} -E copy ${KIT_WWW_SRC}/package.json ${KIT_WWW_SRC}/package-lock.json ${KIT_WWW_BUILD}/
  COMMAND ${NPM} ci --no-audit --no-fund --ignore-scripts --prefix ${KIT_WWW_BUILD}
  COMMAND ${CMAKE_COMMAND} -E touch ${KIT_XTERM}/lib/xterm.js ${KIT_XTERM}/css/xterm.css
  DEPENDS ${KIT_WWW_SRC}/package.json ${KIT_WWW_SRC}/package-lock.json
  COMMENT "Installing the pinned xterm.js (npm ci)"
  VERBATIM)
set(KIT_WWW_FILES ${KIT_WWW_SRC}/index.html ${KIT_XTERM}/lib/xterm.js ${KIT_XTERM}/css/xterm.css)
set(KIT_WWW_INDEX ${KIT_WWW_SRC}/index.html)
set(KIT_WWW_XTERM_JS ${KIT_XTERM}/lib/xterm.js)
set(KIT_WWW_XTERM_CSS ${KIT_XTERM}/css/xterm.css)
configure_file(${KIT_WWW_SRC}/assets.S.in ${CMAKE_BINARY_DIR}/kit-www-assets.S @ONLY)
set(KIT_WWW_ASM ${CMAKE_BINARY_DIR}/kit-www-assets.S)
