# Where this file lives: tsan_suppressions.c sits beside it.
set(PROLETARIAT_CMAKE_DIR ${CMAKE_CURRENT_LIST_DIR})

# Warnings and sanitizers are applied per target, never as global flags, so that
# a project embedding us keeps its own settings.
function(proletariat_set_warnings target)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE
      $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wnon-virtual-dtor>
      $<$<COMPILE_LANGUAGE:C>:-Wall -Wextra -Wpedantic>)
    if(PROLETARIAT_WARNINGS_AS_ERRORS)
      target_compile_options(${target} PRIVATE -Werror)
    endif()
  endif()
endfunction()

function(proletariat_enable_sanitizers target)
  if(PROLETARIAT_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=${PROLETARIAT_SANITIZE} -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=${PROLETARIAT_SANITIZE})
    get_target_property(type ${target} TYPE)
    if(PROLETARIAT_SANITIZE MATCHES "thread" AND type STREQUAL "EXECUTABLE")
      # Every program, the daemon included: TSan reads the hook from the executable.
      target_sources(${target} PRIVATE ${PROLETARIAT_CMAKE_DIR}/tsan_suppressions.c)
    endif()
  endif()
endfunction()

function(proletariat_target target)
  target_compile_features(${target} PUBLIC cxx_std_20)
  set_target_properties(${target} PROPERTIES CXX_EXTENSIONS OFF)
  proletariat_set_warnings(${target})
  proletariat_enable_sanitizers(${target})
endfunction()
