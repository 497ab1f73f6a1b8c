# `cmake --install <build> [--prefix P]` (default P: /usr/local) lays out a host or an
# image as ops/deploy/chat-node.ini and ops/systemd/chat-node.service expect:
#   P/bin/chat-node, chat-admin    the programs
#   P/bin/chat-node-migrate        ops/migrate (needs bash and psql)
#   P/share/chat-node/schema/      the migrations chat-node-migrate applies
#   P/share/chat-node/web/         the web client (http.static_dir), when CN_WEB is on
#   P/share/chat-node/             chat-node.ini and chat-node.service, to copy and edit
#   P/share/doc/chat-node/         docs/*.md
include(GNUInstallDirs)
install(TARGETS chat-node chat-admin RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(PROGRAMS ${PROJECT_SOURCE_DIR}/ops/migrate DESTINATION ${CMAKE_INSTALL_BINDIR}
        RENAME chat-node-migrate)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/schema/ DESTINATION ${CMAKE_INSTALL_DATADIR}/chat-node/schema
        FILES_MATCHING PATTERN "[0-9][0-9][0-9][0-9]_*.sql")
if(CN_WEB)
  install(DIRECTORY ${CMAKE_BINARY_DIR}/web/ DESTINATION ${CMAKE_INSTALL_DATADIR}/chat-node/web)
endif()
install(FILES ${PROJECT_SOURCE_DIR}/ops/deploy/chat-node.ini
              ${PROJECT_SOURCE_DIR}/ops/systemd/chat-node.service
        DESTINATION ${CMAKE_INSTALL_DATADIR}/chat-node)
file(GLOB cn_docs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/*.md)
install(FILES ${cn_docs} DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/chat-node)
