// kiln serve under more load than it can take: a full queue answers 503 with Retry-After, a
// request that cannot start by its deadline 504, and SIGTERM stops accepting but answers every
// request it accepted. Every loop here is bounded in count and time.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <regex>
#include <thread>

#include "server/http_listener.h"
#include "server/server_test_util.h"

namespace kiln {
namespace {

using namespace testing;

struct Tally {
  std::atomic<int> ok{0}, rejected{0}, timed_out{0}, connect_failed{0}, other{0};
  std::atomic<bool> retry_after{true};
  std::mutex mu;
  std::string other_first;
};

// `clients` threads, each sending up to `count` requests (until `stop`), counting outcomes.
void hammer(ServeProcess& s, const std::string& model, const std::string& body, size_t header_length, int clients,
            int count, std::atomic<bool>& stop, Tally& t) {
  std::vector<std::thread> threads;
  for (int k = 0; k < clients; ++k)
    threads.emplace_back([&] {
      auto c = s.http();
      const httplib::Headers h = {{"Inference-Header-Content-Length", std::to_string(header_length)}};
      for (int i = 0; i < count && !stop; ++i) {
        auto r = c.Post("/v2/models/" + model + "/infer", h, body, "application/octet-stream");
        if (!r) {
          // No answer: refused at connect, or reset in the listen queue when the server closed
          // it (never read, so never accepted: the server's own count below says so).
          ++t.connect_failed;
          continue;
        }
        if (r->status == 200) ++t.ok;
        else if (r->status == 503) {
          ++t.rejected;
          if (r->get_header_value("Retry-After").empty()) t.retry_after = false;
        } else if (r->status == 504) ++t.timed_out;
        else {
          std::lock_guard<std::mutex> lock(t.mu);
          if (t.other++ == 0) t.other_first = std::to_string(r->status) + " " + r->body;
        }
      }
    });
  for (auto& th : threads) th.join();
}

fs::path demo_repository_at(const std::string& name, int size) {
  fs::path repo = make_repository(name);
  fs::create_directories(repo / "leather");
  fs::copy_file(demo_file("unet.onnx"), repo / "leather/unet.onnx");
  fs::copy_file(demo_file("leather.safetensors"), repo / "leather/w.safetensors");
  write_file(repo / "leather/config.json", json{{"model", "unet.onnx"}, {"weights", "w.safetensors"},
                                                {"input_shape", {1, 1, size, size}}}.dump());
  return repo;
}

TEST(Overload, AFullQueueIs503WithRetryAfterAndTheRestSucceed) {
  fs::path repo = demo_repository_at("overload", 256);
  ServeProcess s({"--repository", repo.string(), "--max-queue", "1", "--runners", "1"}, false);
  ASSERT_TRUE(s.wait_ready()) << s.log();
  auto [body, n] = binary_request("image", random_image({1, 1, 256, 256}, 1));
  std::atomic<bool> stop{false};
  Tally t;
  hammer(s, "leather", body, n, 6, 20, stop, t);
  EXPECT_GT(t.ok.load(), 0);
  EXPECT_GT(t.rejected.load(), 0) << "six clients on one runner and a queue of one: some must be turned away";
  EXPECT_TRUE(t.retry_after.load());
  EXPECT_EQ(t.other.load(), 0) << t.other_first;
  EXPECT_EQ(t.timed_out.load(), 0);
  const std::string m = s.http().Get("/metrics")->body;
  EXPECT_NE(m.find("kiln_requests_total{model=\"leather\",outcome=\"rejected\"} " + std::to_string(t.rejected.load())),
            std::string::npos);
  EXPECT_EQ(s.terminate(), 0);
}

TEST(Overload, ARequestThatCannotStartByItsDeadlineIs504) {
  fs::path repo = demo_repository_at("deadline", 512);
  ServeProcess s({"--repository", repo.string(), "--request-timeout-ms", "5", "--runners", "1"}, false);
  ASSERT_TRUE(s.wait_ready()) << s.log();
  auto [body, n] = binary_request("image", random_image({1, 1, 512, 512}, 1));
  std::atomic<bool> stop{false};
  Tally t;
  hammer(s, "leather", body, n, 4, 8, stop, t);  // ~50 ms a run: waiting 5 ms is not enough
  EXPECT_GT(t.ok.load(), 0);
  EXPECT_GT(t.timed_out.load(), 0);
  EXPECT_EQ(t.other.load(), 0) << t.other_first;
  EXPECT_EQ(s.terminate(), 0);
}

TEST(Shutdown, SigtermUnderLoadAnswersEveryAcceptedRequest) {
  fs::path repo = demo_repository_at("sigterm", 128);
  ServeProcess s({"--repository", repo.string(), "--runners", "2"}, true);
  int polls = 0;
  ASSERT_TRUE(s.wait_ready(std::chrono::seconds(60), &polls)) << s.log();
  const auto request = binary_request("image", random_image({1, 1, 128, 128}, 1));  // (clang 14: no captured bindings)
  std::atomic<bool> stop{false};
  Tally t;
  std::thread load([&] { hammer(s, "leather", request.first, request.second, 4, 100000, stop, t); });
  while (t.ok.load() < 50) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const int status = s.terminate();  // while four clients keep sending
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  stop = true;
  load.join();
  EXPECT_EQ(status, 0) << s.log();
  EXPECT_GT(t.ok.load(), 50);
  EXPECT_GT(t.connect_failed.load(), 0) << "the clients went on after the server stopped: they must have been refused";
  EXPECT_EQ(t.other.load(), 0) << t.other_first;
  EXPECT_EQ(t.rejected.load() + t.timed_out.load(), 0);
  // Every request the server read was answered, and every answer reached its client.
  const std::string log = s.log();
  ASSERT_NE(log.find("received SIGTERM"), std::string::npos) << log;
  const size_t at = log.find("http: answered ");
  ASSERT_NE(at, std::string::npos) << log;
  long answered = 0, accepted = 0;
  ASSERT_EQ(std::sscanf(log.c_str() + at, "http: answered %ld of %ld", &answered, &accepted), 2) << log.substr(at, 80);
  EXPECT_EQ(answered, accepted);
  EXPECT_EQ(answered, t.ok.load() + polls) << "the readiness checks before the load, and every 200 the clients saw";
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

// A raw TCP connection to the server, for what no HTTP client sends: silence and half requests.
int connect_to(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  timeval tv{10, 0};  // a read that the server never ends fails the test instead of hanging it
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

TEST(Connections, IdleAndHalfSentConnectionsAreClosedAndOthersServed) {
  fs::path repo = demo_repository_at("idle", 64);
  ServeProcess s({"--repository", repo.string(), "--idle-timeout", "1"}, false);
  ASSERT_TRUE(s.wait_ready()) << s.log();
  const int silent = connect_to(s.http_port());
  const int half = connect_to(s.http_port());
  ASSERT_GE(silent, 0);
  ASSERT_GE(half, 0);
  const std::string partial = "POST /v2/models/leather/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"inp";
  ASSERT_EQ(send(half, partial.data(), partial.size(), 0), static_cast<ssize_t>(partial.size()));
  // Meanwhile the server answers others.
  EXPECT_EQ(s.http().Get("/v2/health/ready")->status, 200);
  const auto t0 = std::chrono::steady_clock::now();
  char buf[4096];
  EXPECT_EQ(recv(silent, buf, sizeof buf, 0), 0) << "an idle connection is closed";
  ssize_t n;
  std::string answer;
  while ((n = recv(half, buf, sizeof buf, 0)) > 0) answer.append(buf, static_cast<size_t>(n));
  EXPECT_EQ(n, 0) << "a half-sent request's connection is closed";
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(waited, 5.0) << "closed after the 1 s idle timeout, not much later";
  close(silent);
  close(half);
  EXPECT_EQ(s.http().Get("/v2/health/live")->status, 200);
  EXPECT_EQ(s.terminate(), 0);
}


// One value of the server's /metrics (-1 if absent).
double metric(ServeProcess& s, const std::string& name) {
  auto r = s.http().Get("/metrics");
  if (!r || r->status != 200) return -1;
  std::smatch m;
  const std::regex line("(^|\n)" + std::regex_replace(name, std::regex(R"([{}"])"), R"(\$&)") + " ([0-9.e+]+)");
  return std::regex_search(r->body, m, line) ? std::stod(m[2]) : -1;
}

// What the server sends on a raw connection until it closes it (or 10 s pass).
std::string read_until_closed(int fd) {
  std::string answer;
  char buf[4096];
  for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;) answer.append(buf, static_cast<size_t>(n));
  return answer;
}

TEST(Connections, TenThousandIdleConnectionsAndSlowClientsLeaveHealthChecksAnswered) {
  // Each connection is a descriptor here and one in the server.
  const uint64_t files = serve::raise_open_file_limit();
  if (files < 10600) GTEST_SKIP() << "the open-file limit here is " << files << " (ulimit -Hn): 10,000 connections need more";
  fs::path repo = demo_repository_at("abuse", 64);
  ServeProcess s({"--repository", repo.string(), "--idle-timeout", "60", "--receive-timeout", "2"}, false);
  ASSERT_TRUE(s.wait_ready()) << s.log();

  // 10,000 connections that never send a byte (with the old thread per connection, the
  // 65th and every one after it waited for a thread, health checks too).
  std::vector<int> idle;
  for (int i = 0; i < 10000; ++i) {
    const int fd = connect_to(s.http_port());
    ASSERT_GE(fd, 0) << "connection " << i << ": " << std::strerror(errno);
    idle.push_back(fd);
  }
  for (int i = 0; i < 300 && metric(s, "kiln_http_connections") < 10000; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_GE(metric(s, "kiln_http_connections"), 10000) << "the server holds them all open";

  // Slow clients: request heads sent a byte at a time (slow-loris), a body that trickles, and
  // a head larger than the server reads.
  std::vector<int> loris, trickle;
  for (int i = 0; i < 50; ++i) loris.push_back(connect_to(s.http_port()));
  for (int i = 0; i < 10; ++i) trickle.push_back(connect_to(s.http_port()));
  const int huge = connect_to(s.http_port());
  // A body too large to wait for (1 MB): its first 300 KB go to a worker, which waits for the
  // rest no longer than the receive timeout and answers 408.
  const int stalled = connect_to(s.http_port());
  const std::string stalled_request = "POST /v2/models/leather/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                      "Content-Length: 1000000\r\n\r\n" + std::string(300000, ' ');
  ASSERT_EQ(send(stalled, stalled_request.data(), stalled_request.size(), 0), static_cast<ssize_t>(stalled_request.size()));
  const std::string head = "GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(1000, 'p') + "\r\n\r\n";
  const std::string body_head = "POST /v2/models/leather/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{";
  for (int fd : trickle) ASSERT_EQ(send(fd, body_head.data(), body_head.size(), 0), static_cast<ssize_t>(body_head.size()));
  const std::string huge_head = "GET /v2 HTTP/1.1\r\nX-Pad: " + std::string(80 << 10, 'h') + "\r\n\r\n";
  ASSERT_EQ(send(huge, huge_head.data(), huge_head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(huge_head.size()));
  EXPECT_NE(read_until_closed(huge).find("431"), std::string::npos);
  close(huge);
  std::atomic<bool> done{false};
  std::thread slow([&] {
    for (size_t k = 0; k < head.size() && !done; ++k) {
      for (int fd : loris) send(fd, &head[k], 1, MSG_NOSIGNAL);
      for (int fd : trickle) send(fd, " ", 1, MSG_NOSIGNAL);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // 10 bytes a second each
    }
  });

  // Health checks and an inference answered throughout, while the slow clients run into the
  // 2 s receive timeout.
  int health = 0;
  for (int i = 0; i < 40; ++i) {
    auto r = s.http().Get("/v2/health/ready");
    ASSERT_TRUE(r) << "health check " << i << ": no answer";
    EXPECT_EQ(r->status, 200);
    ++health;
    if (i == 20) {
      auto [body, n] = binary_request("image", random_image({1, 1, 64, 64}, 3));
      auto c = s.http();
      auto infer = c.Post("/v2/models/leather/infer", {{"Inference-Header-Content-Length", std::to_string(n)}}, body,
                          "application/octet-stream");
      ASSERT_TRUE(infer);
      EXPECT_EQ(infer->status, 200) << infer->body;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(health, 40);
  for (int fd : loris) {
    const std::string answer = read_until_closed(fd);
    EXPECT_NE(answer.find("408 Request Timeout"), std::string::npos) << answer;
    EXPECT_NE(answer.find("--receive-timeout"), std::string::npos) << answer;
  }
  for (int fd : trickle) EXPECT_NE(read_until_closed(fd).find("408"), std::string::npos);
  const std::string stalled_answer = read_until_closed(stalled);
  EXPECT_NE(stalled_answer.find("408 Request Timeout"), std::string::npos) << stalled_answer;
  EXPECT_NE(stalled_answer.find("--receive-timeout"), std::string::npos) << stalled_answer;
  close(stalled);
  done = true;
  slow.join();
  EXPECT_GE(metric(s, "kiln_http_connections_closed_total{reason=\"slow_request\"}"), 60);
  EXPECT_EQ(metric(s, "kiln_http_connections_closed_total{reason=\"head_too_large\"}"), 1);
  for (int fd : loris) close(fd);
  for (int fd : trickle) close(fd);
  for (int fd : idle) close(fd);
  for (int i = 0; i < 100 && metric(s, "kiln_http_connections") > 100; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_LT(metric(s, "kiln_http_connections"), 100) << "closed by their clients, closed by the server";
  EXPECT_EQ(s.terminate(), 0);
}

TEST(Connections, AtTheConnectionLimitTheLongestIdleOneMakesRoom) {
  fs::path repo = demo_repository_at("limit", 64);
  ServeProcess s({"--repository", repo.string(), "--idle-timeout", "60", "--max-connections", "32"}, false);
  ASSERT_TRUE(s.wait_ready()) << s.log();
  std::vector<int> idle;
  for (int i = 0; i < 32; ++i) {
    idle.push_back(connect_to(s.http_port()));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // accepted in this order
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // Full: every new connection (this health check's, the metrics') closes the oldest idle one.
  auto r = s.http().Get("/v2/health/live");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_GE(metric(s, "kiln_http_connections_closed_total{reason=\"evicted\"}"), 1);
  EXPECT_EQ(metric(s, "kiln_http_connections_max"), 32);
  EXPECT_EQ(read_until_closed(idle.front()), "") << "the first connection, idle longest, was closed";
  char c;
  EXPECT_EQ(recv(idle.back(), &c, 1, MSG_DONTWAIT), -1) << "the newest is still open";
  for (int fd : idle) close(fd);
  EXPECT_EQ(s.terminate(), 0);
}

}  // namespace
}  // namespace kiln
