#include "core/base/version.h"

#include <mutex>

namespace caig {
namespace {

std::mutex& commitMutex() {
  static std::mutex m;
  return m;
}
std::string& commitValue() {
  static std::string commit;
  return commit;
}

}  // namespace

std::string studioVersion() {
  return CAIG_VERSION;
}

std::string studioCommit() {
  std::lock_guard lock(commitMutex());
  return commitValue();
}

void setStudioCommit(const std::string& commit) {
  std::lock_guard lock(commitMutex());
  commitValue() = commit;
}

std::string studioVersionLine() {
  const std::string commit = studioCommit();
  return commit.empty() ? studioVersion() : studioVersion() + " (git " + commit + ")";
}

}  // namespace caig
