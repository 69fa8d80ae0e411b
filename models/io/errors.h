#pragma once
// Errors raised by weight and config I/O. Every message names the file and what is wrong with it.

#include <stdexcept>
#include <string>

namespace caig::io {

// The bytes on disk are not what the format promises (bad header, bad offsets, bad JSON...).
class FormatError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The file system refused: missing file, permission, full disk, short write.
class FileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace caig::io
