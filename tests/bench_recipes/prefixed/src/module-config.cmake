# Generated CMake package configuration for bench-mod-@N@.
set(BENCH_MOD_@N@_PREFIX "@PREFIX@")
set(BENCH_MOD_@N@_INCLUDE_DIRS "@PREFIX@/include/bench-mod-@N@")
set(BENCH_MOD_@N@_LIBRARIES "@PREFIX@/lib/libbenchprefixed.so")
set(BENCH_MOD_@N@_VERSION "1.0.@N@")

if(NOT TARGET bench::mod@N@)
  add_library(bench::mod@N@ SHARED IMPORTED)
  set_target_properties(bench::mod@N@ PROPERTIES
    IMPORTED_LOCATION "@PREFIX@/lib/libbenchprefixed.so"
    INTERFACE_INCLUDE_DIRECTORIES "@PREFIX@/include/bench-mod-@N@"
    INTERFACE_COMPILE_DEFINITIONS "BENCH_MOD=@N@")
endif()

foreach(component IN ITEMS core io extra)
  set(BENCH_MOD_@N@_${component}_FOUND TRUE)
endforeach()
