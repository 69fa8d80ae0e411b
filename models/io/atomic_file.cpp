#include "models/io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "models/io/errors.h"

namespace caig::io {
namespace {
std::string reason() { return std::strerror(errno); }
}  // namespace

AtomicFile::AtomicFile(std::filesystem::path target)
    : target_(std::move(target)), partial_(target_.string() + ".partial") {
  fd_ = ::open(partial_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw FileError("cannot create '" + partial_.string() + "': " + reason());
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(partial_.c_str());
  }
}

void AtomicFile::write(const void* data, std::size_t bytes) {
  if (fd_ < 0) throw FileError("write to '" + target_.string() + "' after commit");
  const auto* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::write(fd_, p, bytes);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw FileError("cannot write '" + target_.string() + "': " + reason());
    p += n;
    bytes -= static_cast<std::size_t>(n);
  }
}

void AtomicFile::commit() {
  if (fd_ < 0) throw FileError("'" + target_.string() + "' committed twice");
  // Close (and so the destructor's cleanup) only after fsync succeeded: a failed flush
  // is still a failed write, and the previous target must survive it.
  if (::fsync(fd_) != 0) throw FileError("cannot flush '" + target_.string() + "': " + reason());
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    ::unlink(partial_.c_str());
    throw FileError("cannot close '" + target_.string() + "': " + reason());
  }
  if (std::rename(partial_.c_str(), target_.c_str()) != 0) {
    const std::string why = reason();
    ::unlink(partial_.c_str());
    throw FileError("cannot replace '" + target_.string() + "': " + why);
  }
}

void writeFileAtomically(const std::filesystem::path& target, std::string_view text) {
  AtomicFile file(target);
  file.write(text.data(), text.size());
  file.commit();
}

}  // namespace caig::io
