# One precompiled header of the LibTorch headers (models/precompiled_torch.h), built with
# caig_models and reused by every other Torch-using target: they all compile with the same flags
# (no -fPIC, same definitions that matter), which GCC checks (-Winvalid-pch warns on a mismatch and
# the compile falls back to the plain headers, so a mismatch is slow, never wrong).
option(CAIG_PCH "Precompile the LibTorch headers once for the Torch-using targets" ON)

# caig_torch_pch(<target> [SKIP <source>...]): <target> reuses caig_models' precompiled header;
# the SKIP sources (files that include no Torch) compile without it.
function(caig_torch_pch target)
  cmake_parse_arguments(P "" "" "SKIP" ${ARGN})
  if(NOT CAIG_PCH)
    return()
  endif()
  if(target STREQUAL "caig_models")
    target_precompile_headers(caig_models PRIVATE ${PROJECT_SOURCE_DIR}/models/precompiled_torch.h)
  else()
    target_precompile_headers(${target} REUSE_FROM caig_models)
  endif()
  if(P_SKIP)
    set_source_files_properties(${P_SKIP} PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
  endif()
endfunction()
