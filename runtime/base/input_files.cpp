#include "runtime/base/input_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "runtime/base/common.h"

namespace alisa {
namespace {

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a regular file";
}

[[noreturn]] void fail_mode(const std::filesystem::path& path, const std::string& what,
                            mode_t mode) {
  throw Error(str(what, " ", path.string(), " is ", kind_of(mode), ", not a regular file"));
}

}  // namespace

void check_regular_file(const std::filesystem::path& path, const std::string& what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int error = errno;
    ALISA_CHECK(error != ENOENT, what, " ", path.string(), " does not exist");
    throw Error(str("cannot read ", what, " ", path.string(), ": ", errno_text(error)));
  }
  if (!S_ISREG(st.st_mode)) fail_mode(path, what, st.st_mode);
}

int open_regular_file(const std::filesystem::path& path, const std::string& what) {
  check_regular_file(path, what);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    throw Error(str("cannot open ", what, " ", path.string(), ": ", errno_text(errno)));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    const mode_t mode = st.st_mode;
    ::close(fd);
    fail_mode(path, what, mode);
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

void check_output_path(const std::filesystem::path& path, const std::string& what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) {
      throw Error(str("cannot write ", what, " ", path.string(), ": ", errno_text(EISDIR)));
    }
    ALISA_CHECK(S_ISREG(st.st_mode) || S_ISCHR(st.st_mode), "cannot write ", what, " ",
                path.string(), ": it is ", kind_of(st.st_mode));
    if (::access(path.c_str(), W_OK) != 0) {
      throw Error(str("cannot write ", what, " ", path.string(), ": ", errno_text(errno)));
    }
    return;
  }
  if (errno != ENOENT) {
    throw Error(str("cannot write ", what, " ", path.string(), ": ", errno_text(errno)));
  }
  const std::filesystem::path folder =
      path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  if (::stat(folder.c_str(), &st) != 0) {
    throw Error(str("cannot write ", what, " ", path.string(), ": folder ", folder.string(), ": ",
                    errno_text(errno)));
  }
  if (!S_ISDIR(st.st_mode)) {
    throw Error(str("cannot write ", what, " ", path.string(), ": ", folder.string(), ": ",
                    errno_text(ENOTDIR)));
  }
  if (::access(folder.c_str(), W_OK | X_OK) != 0) {
    throw Error(str("cannot write ", what, " ", path.string(), ": folder ", folder.string(), ": ",
                    errno_text(errno)));
  }
}

bool same_file(const std::filesystem::path& a, const std::filesystem::path& b) {
  struct stat sa {};
  struct stat sb {};
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

std::string read_text_file(const std::filesystem::path& path, const std::string& what) {
  const int fd = open_regular_file(path, what);
  std::string text;
  char buffer[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      throw Error(str("cannot read ", what, " ", path.string(), ": ", errno_text(error)));
    }
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return text;
}

}  // namespace alisa
