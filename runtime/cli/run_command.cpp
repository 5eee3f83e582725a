#include "runtime/cli/run_command.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

#include "runtime/base/common.h"

namespace alisa::cli {

int run_command(const std::vector<std::string>& argv, const std::filesystem::path& stdout_path,
                const std::filesystem::path& stderr_path) {
  ALISA_ASSERT(!argv.empty());
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const int out = ::open(stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const int err = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ALISA_CHECK(out >= 0 && err >= 0, "cannot write ", stdout_path.string(), " or ",
              stderr_path.string());
  const pid_t pid = ::fork();
  if (pid == 0) {
    // The child: only async-signal-safe calls until exec.
    ::dup2(out, STDOUT_FILENO);
    ::dup2(err, STDERR_FILENO);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(out);
  ::close(err);
  ALISA_CHECK(pid > 0, "cannot start ", argv[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    ALISA_CHECK(errno == EINTR, "waiting for ", argv[0], " failed");
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// The link itself, not its target: a child execs the image this process runs, even when a
// rebuild has replaced the file since.
std::filesystem::path own_binary() {
  return "/proc/self/exe";
}

std::string last_line(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::string last;
  for (std::string line; std::getline(in, line);) {
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
  }
  return last;
}

}  // namespace alisa::cli
