// A real `kiln serve` process for the server tests: started on ephemeral loopback ports
// (the ports it prints are read back), its log collected, stopped by SIGTERM.
//
//   ServeProcess s({"--repository", dir});
//   httplib::Client c = s.http();
//   auto r = c.Get("/v2/health/ready");
//   int status = s.terminate();            // SIGTERM; the exit status
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace kiln::testing {

class ServeProcess {
 public:
  explicit ServeProcess(std::vector<std::string> args, bool with_grpc = true) {
    std::vector<std::string> argv = {KILN_CLI_PATH, "serve", "--http", "127.0.0.1:0", "--grpc",
                                     with_grpc ? "127.0.0.1:0" : ""};
    // fp32 direct unless a test says otherwise: the tests compare outputs bitwise with fp32
    // in-process engines and `kiln run`, and the server's own default (auto) chooses by timing.
    if (std::find(args.begin(), args.end(), "--precision") == args.end()) argv.insert(argv.end(), {"--precision", "fp32"});
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> cargv;
    for (std::string& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    int out[2], err[2];
    if (pipe(out) != 0 || pipe(err) != 0) return;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    posix_spawn_file_actions_addclose(&fa, err[0]);
    if (posix_spawn(&pid_, cargv[0], &fa, nullptr, cargv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    close(err[1]);
    readers_.emplace_back([this, fd = out[0]] { drain(fd, out_); });
    readers_.emplace_back([this, fd = err[0]] { drain(fd, err_); });
    // The ports, from its first lines (or nothing, if it exits first).
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < until) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        http_port_ = port_after("http on port ");
        grpc_port_ = port_after("grpc on port ");
        if (http_port_ && (grpc_port_ || !with_grpc)) break;
        if (closed_ == 2) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  ~ServeProcess() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    for (auto& t : readers_) t.join();
  }
  ServeProcess(const ServeProcess&) = delete;

  bool started() const { return http_port_ > 0; }
  int http_port() const { return http_port_; }
  int grpc_port() const { return grpc_port_; }
  pid_t pid() const { return pid_; }
  httplib::Client http() const {
    httplib::Client c("127.0.0.1", http_port_);
    c.set_read_timeout(60, 0);
    c.set_write_timeout(60, 0);
    return c;
  }
  std::string log() const {
    std::lock_guard<std::mutex> lock(mu_);
    return out_ + err_;
  }
  // Whether the log shows `text` within `timeout`: the server writes a line before or as it
  // answers, but this process reads its output on another thread, so a line may lag the answer.
  bool log_shows(const std::string& text, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (log().find(text) == std::string::npos) {
      if (std::chrono::steady_clock::now() >= until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
  }
  // Polls /v2/health/ready until 200 (true) or the timeout (false); `polls` counts the requests.
  bool wait_ready(std::chrono::seconds timeout = std::chrono::seconds(60), int* polls = nullptr) const {
    httplib::Client c = http();
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      auto r = c.Get("/v2/health/ready");
      if (polls) ++*polls;
      if (r && r->status == 200) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  // SIGTERM and the exit status (-1 when killed by a signal or still running after 60 s).
  int terminate() {
    if (pid_ <= 0) return -1;
    kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 6000; ++i) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        reaped_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
  }

 private:
  void drain(int fd, std::string& into) {
    char buf[4096];
    for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) {
      std::lock_guard<std::mutex> lock(mu_);
      into.append(buf, static_cast<size_t>(n));
    }
    close(fd);
    std::lock_guard<std::mutex> lock(mu_);
    ++closed_;
  }
  int port_after(const std::string& what) const {
    size_t at = out_.find(what);
    if (at == std::string::npos) return 0;
    size_t end = out_.find('\n', at);
    if (end == std::string::npos) return 0;
    return std::atoi(out_.substr(at + what.size(), end - at - what.size()).c_str());
  }

  pid_t pid_ = -1;
  bool reaped_ = false;
  int http_port_ = 0, grpc_port_ = 0;
  mutable std::mutex mu_;
  std::string out_, err_;
  int closed_ = 0;
  std::vector<std::thread> readers_;
};

// A scratch model repository under the test's temp dir, one per process: ctest runs each
// test of a suite in a process of its own, two at a time, and a suite's setup must not
// delete the repository another process's server is reading.
inline std::filesystem::path make_repository(const std::string& name) {
  namespace fs = std::filesystem;
  fs::path p = fs::path(::testing::TempDir()) / ("kiln_repo_" + name + "_" + std::to_string(getpid()));
  // Removed when the test process ends (servers it started are stopped by then).
  static struct Cleanup {
    std::vector<fs::path> paths;
    ~Cleanup() {
      std::error_code ec;
      for (const fs::path& q : paths) fs::remove_all(q, ec);
    }
  } cleanup;
  cleanup.paths.push_back(p);
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

inline void write_file(const std::filesystem::path& p, const std::string& text) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream f(p, std::ios::binary);
  f << text;
}

}  // namespace kiln::testing
