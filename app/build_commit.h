#pragma once
// The git commit this executable was built from, generated at build time
// (packaging/cmake/write_build_commit.cmake); each main() passes it to caig::setStudioCommit.

const char* caigBuildCommit();
