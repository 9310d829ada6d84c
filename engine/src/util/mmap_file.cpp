// mmap_file: a read-only, private mapping of a whole regular file (POSIX open/fstat/mmap).
// The descriptor is closed right after mapping; the mapping lives until destruction. Files of
// size zero are not mapped (an empty span). Not for files that change while mapped.
#include "util/mmap_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

namespace tome {

mmap_file::~mmap_file() {
  if (data_ && size_ > 0) munmap(const_cast<uint8_t*>(data_), size_);
}

mmap_file::mmap_file(mmap_file&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

mmap_file& mmap_file::operator=(mmap_file&& other) noexcept {
  if (this != &other) {
    if (data_ && size_ > 0) munmap(const_cast<uint8_t*>(data_), size_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

result<mmap_file> mmap_file::open(const std::filesystem::path& path) {
  const std::string name = path.string();
  const int fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return error(name + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    return error(name + ": cannot stat: " + std::strerror(e));
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    return error(name + ": is a directory, not a file");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return error(name + ": not a regular file");
  }
  mmap_file m;
  if (st.st_size > 0) {
    void* p = mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const int e = errno;
      ::close(fd);
      return error(name + ": cannot map: " + std::strerror(e));
    }
    m.data_ = static_cast<const uint8_t*>(p);
    m.size_ = static_cast<size_t>(st.st_size);
  }
  ::close(fd);
  return m;
}

}  // namespace tome
