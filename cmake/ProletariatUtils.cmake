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
  endif()
endfunction()

function(proletariat_target target)
  target_compile_features(${target} PUBLIC cxx_std_20)
  set_target_properties(${target} PROPERTIES CXX_EXTENSIONS OFF)
  proletariat_set_warnings(${target})
  proletariat_enable_sanitizers(${target})
endfunction()
