# Program entry points. Binaries land in ${CMAKE_BINARY_DIR}/bin.
set(CN_BIN_DIR ${CMAKE_BINARY_DIR}/bin)

add_executable(chat-node chat-node.c)
target_link_libraries(chat-node PRIVATE cn_node cn_chat cn_io cn_runtime cn_proto cn_base)
# jemalloc replaces malloc; sanitizer builds keep the sanitizer's allocator,
# which must see every allocation to find leaks and misuse.
if(CN_SANITIZE STREQUAL "")
  target_link_libraries(chat-node PRIVATE PkgConfig::JEMALLOC)
endif()
set_target_properties(chat-node PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CN_BIN_DIR})

add_executable(chat-kafka-dev chat-kafka-dev.c)
target_link_libraries(chat-kafka-dev PRIVATE cn_base PkgConfig::RDKAFKA)
set_target_properties(chat-kafka-dev PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CN_BIN_DIR})

add_executable(chat-admin chat-admin.c node/admin_cli_args.c node/admin_cli_print.c
               node/admin_cli_completion.c)
target_link_libraries(chat-admin PRIVATE cn_io cn_base PkgConfig::JANSSON PkgConfig::INIH)
set_target_properties(chat-admin PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CN_BIN_DIR})
