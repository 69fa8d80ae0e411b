#pragma once
// Which studio this is. The version is CMake's project version (fixed at configure time); the
// git commit is written at build time into the two executables only (app/build_commit.cpp), which
// hand it over at start-up, so a new commit relinks two programs and not every test.

#include <string>

namespace caig {

std::string studioVersion();  // "0.1.0"
// The commit the running program was built from ("1a2b3c4d5e6f", "-dirty" appended when the
// tree had uncommitted changes); empty when the program did not set one (tests, a source
// tarball without git).
std::string studioCommit();
void setStudioCommit(const std::string& commit);
// "0.1.0 (git 1a2b3c4d5e6f)", or "0.1.0" without a commit: what --version, About and the
// project store show.
std::string studioVersionLine();

}  // namespace caig
