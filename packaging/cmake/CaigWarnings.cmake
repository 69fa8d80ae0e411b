# Warnings apply to the project's own targets only; third-party headers are SYSTEM includes.
function(caig_target_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow=local -Wnon-virtual-dtor)
endfunction()
