#pragma once
// A file that appears at its final path only when complete: bytes go to "<path>.partial",
// which is flushed to disk and renamed over the target on commit(). Destroyed without a
// commit (error, cancel, exception), it removes the partial file and leaves the target alone.

#include <filesystem>
#include <string_view>

namespace caig::io {

class AtomicFile {
 public:
  explicit AtomicFile(std::filesystem::path target);  // throws FileError
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, std::size_t bytes);  // throws FileError (e.g. disk full)
  void commit();                                    // throws FileError

 private:
  std::filesystem::path target_;
  std::filesystem::path partial_;
  int fd_ = -1;
};

// The whole of `text` through an AtomicFile: the file is either its old self or all of `text`.
void writeFileAtomically(const std::filesystem::path& target, std::string_view text);  // throws FileError

}  // namespace caig::io
