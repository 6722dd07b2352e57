#include "server/http_listener.h"

#include <httplib.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace kiln::serve {

namespace {

using Clock = std::chrono::steady_clock;

constexpr uint64_t kListenId = 0, kWakeId = 1;  // epoll ids below the first connection's
constexpr size_t kReadChunk = 64 << 10;

// Rounded up: a poll for the rounded-down time can end before `t`.
int millis_until(Clock::time_point t) {
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(t - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(ms, 0, 1 << 30));
}

bool iequals_prefix(std::string_view line, std::string_view name) {
  if (line.size() < name.size()) return false;
  for (size_t i = 0; i < name.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(line[i])) != name[i]) return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

enum class Arrival { kNeedMore, kWhole, kHeadTooLarge };

// Whether the bytes buffered make a request a worker can parse without waiting: the head, and
// the body up to kBufferedBodyBytes. Bodies sent in chunks, and clients that wait for
// "100 Continue" before their body, go to a worker once the head is here.
Arrival request_arrival(std::string_view bytes) {
  while (bytes.size() >= 2 && bytes[0] == '\r' && bytes[1] == '\n') bytes.remove_prefix(2);  // RFC 9112 2.2
  const size_t head_end = bytes.find("\r\n\r\n");
  if (head_end == std::string_view::npos)
    return bytes.size() > HttpListener::kMaxHeadBytes ? Arrival::kHeadTooLarge : Arrival::kNeedMore;
  if (head_end > HttpListener::kMaxHeadBytes) return Arrival::kHeadTooLarge;
  std::string_view head = bytes.substr(0, head_end + 2);
  int64_t content_length = 0;
  size_t at = head.find("\r\n");
  while (at != std::string_view::npos && at + 2 < head.size()) {
    const size_t end = head.find("\r\n", at + 2);
    const std::string_view line = head.substr(at + 2, end - at - 2);
    at = end;
    if (iequals_prefix(line, "content-length:")) {
      const std::string_view v = trim(line.substr(15));
      const auto [end, error] = std::from_chars(v.data(), v.data() + v.size(), content_length);
      if (error != std::errc() || end != v.data() + v.size() || content_length < 0) return Arrival::kWhole;  // the parser answers 400
    } else if (iequals_prefix(line, "transfer-encoding:") || iequals_prefix(line, "expect:")) {
      return Arrival::kWhole;
    }
  }
  const size_t body = bytes.size() - (head_end + 4);
  return static_cast<int64_t>(body) >= content_length || body >= HttpListener::kBufferedBodyBytes ? Arrival::kWhole
                                                                                                  : Arrival::kNeedMore;
}

std::string canned_reply(int status, const char* reason, const std::string& error) {
  const std::string body = "{\"error\":\"" + error + "\"}";
  return "HTTP/1.1 " + std::to_string(status) + " " + reason +
         "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

struct Connection {
  uint64_t id = 0;
  int fd = -1;
  std::string buffer;  // bytes read and not yet parsed: buffer[parsed, size)
  size_t parsed = 0;
  bool serving = false;       // with a worker (else with the listener thread)
  bool peer_done = false;     // the client shut its side down after sending
  int requests = 0;
  Clock::time_point last_activity;            // a byte received, or the last answer sent
  std::optional<Clock::time_point> started;   // the first byte of the request being received

  std::string_view unparsed() const { return std::string_view(buffer).substr(parsed); }
  void compact() {
    if (parsed == buffer.size()) buffer.clear(), parsed = 0;
    else if (parsed > (kReadChunk)) buffer.erase(0, parsed), parsed = 0;
  }
  // Appends what the socket has now (up to `limit` buffered); 0 if the peer closed, -1 on an
  // error, else the bytes read (EAGAIN: 0 bytes, and `again`).
  ssize_t fill(size_t limit, bool& again) {
    again = false;
    ssize_t total = 0;
    while (unparsed().size() < limit) {
      const size_t old = buffer.size();
      buffer.resize(old + kReadChunk);
      const ssize_t n = recv(fd, buffer.data() + old, kReadChunk, 0);
      buffer.resize(old + static_cast<size_t>(std::max<ssize_t>(n, 0)));
      if (n > 0) {
        total += n;
        continue;
      }
      if (n == 0) return total > 0 ? total : 0;
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        again = true;
        return total;
      }
      return total > 0 ? total : -1;
    }
    again = true;
    return total;
  }
};

// Why the request being read on this worker thread stopped arriving (empty: it did not).
thread_local std::string t_stalled;

// A connection as cpp-httplib's parser reads it: from the bytes already buffered first, then
// from the socket, never past the request's deadline; its answer is written within the same
// time again (a client that reads it a byte at a time does not keep the worker).
class ConnectionStream final : public httplib::Stream {
 public:
  ConnectionStream(Connection& c, Clock::time_point deadline, const HttpListenerOptions& o)
      : c_(c), deadline_(deadline), opt_(o), idle_ms_(o.idle_timeout_s * 1000) {
    t_stalled.clear();
  }

  bool is_readable() const override { return !c_.unparsed().empty() || wait(POLLIN, wait_ms()); }
  bool is_writable() const override { return wait(POLLOUT, idle_ms_); }
  ssize_t read(char* ptr, size_t size) override {
    while (c_.unparsed().empty()) {
      c_.compact();
      if (c_.peer_done) return 0;
      // Which bound the wait ran into is decided before it: after it, the clock may still read
      // a hair before the deadline.
      const bool deadline_first = millis_until(deadline_) <= idle_ms_;
      if (!wait(POLLIN, wait_ms())) {  // idle or past the deadline: the parser fails
        t_stalled = deadline_first
                        ? "the request did not arrive whole within " + std::to_string(opt_.receive_timeout_s) +
                              " s (the server's --receive-timeout)"
                        : "no byte of the request for " + std::to_string(opt_.idle_timeout_s) +
                              " s (the server's --idle-timeout)";
        return -1;
      }
      bool again = false;
      const ssize_t n = c_.fill(kReadChunk, again);
      if (n < 0) return -1;
      if (n == 0 && !again) return 0;
    }
    const size_t n = std::min(size, c_.unparsed().size());
    std::memcpy(ptr, c_.buffer.data() + c_.parsed, n);
    c_.parsed += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    if (!write_deadline_) write_deadline_ = Clock::now() + std::chrono::seconds(opt_.receive_timeout_s);
    size_t done = 0;
    while (done < size) {
      const ssize_t n = send(c_.fd, ptr + done, size - done, MSG_NOSIGNAL);
      if (n > 0) {
        done += static_cast<size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!wait(POLLOUT, std::min(idle_ms_, millis_until(*write_deadline_)))) return -1;  // it stopped reading
      } else {
        return -1;
      }
    }
    return static_cast<ssize_t>(size);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override { address(getpeername, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { address(getsockname, ip, port); }
  socket_t socket() const override { return c_.fd; }

 private:
  int wait_ms() const { return std::min(idle_ms_, millis_until(deadline_)); }
  bool wait(short events, int ms) const {
    pollfd p{c_.fd, events, 0};
    int r;
    while ((r = poll(&p, 1, ms)) < 0 && errno == EINTR) {
    }
    return r > 0;
  }
  void address(int (*get)(int, sockaddr*, socklen_t*), std::string& ip, int& port) const {
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    ip.clear();
    port = 0;
    if (get(c_.fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) return;
    char text[INET6_ADDRSTRLEN] = {};
    if (a.ss_family == AF_INET) {
      auto* v4 = reinterpret_cast<sockaddr_in*>(&a);
      inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
      port = ntohs(v4->sin_port);
    } else if (a.ss_family == AF_INET6) {
      auto* v6 = reinterpret_cast<sockaddr_in6*>(&a);
      inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
      port = ntohs(v6->sin6_port);
    }
    ip = text;
  }
  Connection& c_;
  Clock::time_point deadline_;
  std::optional<Clock::time_point> write_deadline_;
  const HttpListenerOptions& opt_;
  int idle_ms_;
};

}  // namespace

struct HttpListener::Impl {
  HttpListenerOptions opt;
  ServeOne serve_one;
  int listen_fd = -1, epoll_fd = -1, wake_fd = -1;
  std::atomic<bool> stopping{false};

  std::mutex mu;  // guards connections (the map) and `serving`; the queue below
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> connections;
  uint64_t next_id = 2;
  std::deque<Connection*> queue;  // whole requests waiting for a worker
  std::condition_variable queue_cv, idle_cv;
  size_t serving = 0;  // connections with a worker or queued for one

  std::atomic<uint64_t> accepted{0}, closed_idle{0}, closed_slow{0}, evicted{0}, head_too_large{0};
  bool listening = true;
  Clock::time_point listen_again;

  ~Impl() {
    for (auto& [id, c] : connections) ::close(c->fd);
    for (int fd : {listen_fd, epoll_fd, wake_fd})
      if (fd >= 0) ::close(fd);
  }

  void watch(Connection& c, int op) {
    epoll_event e{};
    e.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
    e.data.u64 = c.id;
    epoll_ctl(epoll_fd, op, c.fd, &e);
  }

  // The listener thread's connections only (not serving); mu held.
  void close_locked(Connection& c) {
    const uint64_t id = c.id;
    ::close(c.fd);  // also leaves the epoll set
    connections.erase(id);
  }
  void close_with(Connection& c, const std::string& reply) {
    if (!reply.empty()) (void)!send(c.fd, reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    std::lock_guard<std::mutex> lock(mu);
    close_locked(c);
  }

  // At the connection limit: closes the connection that has waited longest with no request
  // being answered. False if every connection is being answered.
  bool evict_one() {
    std::lock_guard<std::mutex> lock(mu);
    Connection* oldest = nullptr;
    for (auto& [id, c] : connections)
      if (!c->serving && (!oldest || c->last_activity < oldest->last_activity)) oldest = c.get();
    if (!oldest) return false;
    close_locked(*oldest);
    ++evicted;
    return true;
  }

  void pause_listening() {
    if (!listening) return;
    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, listen_fd, nullptr);
    listening = false;
    listen_again = Clock::now() + std::chrono::milliseconds(100);
  }
  void resume_listening() {
    if (listening || Clock::now() < listen_again) return;
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.u64 = kListenId;
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listen_fd, &e);
    listening = true;
  }

  void accept_all() {
    for (int k = 0; k < 512; ++k) {
      size_t open;
      {
        std::lock_guard<std::mutex> lock(mu);
        open = connections.size();
      }
      if (open >= opt.max_connections && !evict_one()) return pause_listening();
      const int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE) {
          // Out of descriptors before max_connections (other files are open): make room.
          if (!evict_one()) return pause_listening();
          continue;
        }
        return;  // EAGAIN: none left
      }
      int yes = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
      auto c = std::make_unique<Connection>();
      c->fd = fd;
      c->last_activity = Clock::now();
      std::lock_guard<std::mutex> lock(mu);
      c->id = next_id++;
      watch(*c, EPOLL_CTL_ADD);
      connections.emplace(c->id, std::move(c));
      ++accepted;
    }
  }

  // A connection with bytes to read (the listener thread owns it while it is not serving).
  void on_readable(uint64_t id) {
    Connection* c;
    {
      std::lock_guard<std::mutex> lock(mu);
      auto it = connections.find(id);
      if (it == connections.end() || it->second->serving) return;
      c = it->second.get();
    }
    bool again = false;
    const ssize_t n = c->fill(kMaxHeadBytes + kBufferedBodyBytes, again);
    if (n < 0) return close_with(*c, "");
    if (n > 0) {
      c->last_activity = Clock::now();
      if (!c->started) c->started = c->last_activity;
    }
    if (n == 0 && !again) c->peer_done = true;
    switch (request_arrival(c->unparsed())) {
      case Arrival::kWhole:
        return hand_to_worker(*c);
      case Arrival::kHeadTooLarge:
        ++head_too_large;
        return close_with(*c, canned_reply(431, "Request Header Fields Too Large",
                                           "the request head is larger than " + std::to_string(kMaxHeadBytes >> 10) + " KiB"));
      case Arrival::kNeedMore:
        if (c->peer_done) return close_with(*c, "");
        watch(*c, EPOLL_CTL_MOD);
        return;
    }
  }

  void hand_to_worker(Connection& c) {
    std::lock_guard<std::mutex> lock(mu);
    c.serving = true;
    ++serving;
    queue.push_back(&c);
    queue_cv.notify_one();
  }

  void worker() {
    for (;;) {
      Connection* c;
      {
        std::unique_lock<std::mutex> lock(mu);
        queue_cv.wait(lock, [&] { return !queue.empty() || (stopping && serving == 0); });
        if (queue.empty()) return;
        c = queue.front();
        queue.pop_front();
      }
      bool keep = true;
      for (;;) {
        const auto deadline = c->started.value_or(Clock::now()) + std::chrono::seconds(opt.receive_timeout_s);
        ConnectionStream stream(*c, deadline, opt);
        const bool last = stopping || ++c->requests >= opt.keep_alive_max_count || c->peer_done;
        bool closed = false, ok = false;
        try {
          ok = serve_one(stream, last, closed);
        } catch (...) {
          ok = false;
        }
        c->compact();
        c->last_activity = Clock::now();
        c->started.reset();
        if (!ok || closed || last || !t_stalled.empty()) {  // (a stalled request's rest is not a request)
          keep = false;
          break;
        }
        if (c->unparsed().empty()) break;
        c->started = c->last_activity;  // pipelined: the next request is (partly) here
        if (request_arrival(c->unparsed()) != Arrival::kWhole) break;
      }
      std::lock_guard<std::mutex> lock(mu);
      c->serving = false;
      --serving;
      if (!keep || stopping) {
        close_locked(*c);
      } else {
        watch(*c, EPOLL_CTL_MOD);  // its next bytes wake the listener thread
      }
      if (stopping && serving == 0) {
        queue_cv.notify_all();
        idle_cv.notify_all();
      }
    }
  }

  // Idle, stalled and trickling connections (not serving) are closed.
  void sweep() {
    const auto now = Clock::now();
    const auto idle = std::chrono::seconds(opt.idle_timeout_s), receive = std::chrono::seconds(opt.receive_timeout_s);
    std::vector<std::pair<Connection*, std::string>> doomed;
    {
      std::lock_guard<std::mutex> lock(mu);
      for (auto& [id, c] : connections) {
        if (c->serving) continue;
        if (!c->started) {
          if (now - c->last_activity > idle) doomed.emplace_back(c.get(), "");
        } else if (now - c->last_activity > idle) {
          doomed.emplace_back(c.get(), canned_reply(408, "Request Timeout",
                                                    "no byte of the request for " + std::to_string(opt.idle_timeout_s) +
                                                        " s (the server's --idle-timeout)"));
        } else if (now - *c->started > receive) {
          doomed.emplace_back(c.get(), canned_reply(408, "Request Timeout",
                                                    "the request did not arrive whole within " +
                                                        std::to_string(opt.receive_timeout_s) +
                                                        " s (the server's --receive-timeout)"));
        }
      }
    }
    for (auto& [c, reply] : doomed) {
      (reply.empty() ? closed_idle : closed_slow)++;
      close_with(*c, reply);
    }
  }
};

HttpListener::HttpListener(HttpListenerOptions options, ServeOne serve_one) : impl_(std::make_unique<Impl>()) {
  impl_->opt = options;
  impl_->opt.workers = std::max(1, impl_->opt.workers);
  impl_->opt.idle_timeout_s = std::max(1, impl_->opt.idle_timeout_s);
  impl_->opt.receive_timeout_s = std::max(1, impl_->opt.receive_timeout_s);
  if (impl_->opt.max_connections == 0) {
    // Room for the models' files, the gRPC side and the process's own descriptors.
    const uint64_t files = raise_open_file_limit();
    impl_->opt.max_connections = files > 512 ? static_cast<size_t>(files - 256) : 256;
  }
  impl_->serve_one = std::move(serve_one);
}

HttpListener::~HttpListener() = default;

Expected<int> HttpListener::bind(const std::string& host, int port) {
  const std::string where = host + ":" + std::to_string(port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (int e = getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found); e != 0)
    return io_error("cannot listen on " + where + ": " + gai_strerror(e));
  std::string why = "no address";
  int fd = -1;
  for (addrinfo* a = found; a && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    // SO_REUSEADDR, not SO_REUSEPORT: a second server on the same port must fail to start
    // rather than silently take half of the connections. Buffers that hold a whole 256x256
    // tensor each way let a request and its answer cross in one go (accepted sockets inherit them).
    int yes = 1, bytes = 1 << 20;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
      why = std::strerror(errno);
      ::close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  if (fd < 0) return io_error("cannot listen on " + where + ": " + why + (why == std::strerror(EADDRINUSE) ? " (another server?)" : ""));
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  const int bound = ntohs(a.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&a)->sin6_port
                                                  : reinterpret_cast<sockaddr_in*>(&a)->sin_port);
  impl_->listen_fd = fd;
  impl_->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  impl_->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (impl_->epoll_fd < 0 || impl_->wake_fd < 0) return io_error(std::string("cannot listen: epoll: ") + std::strerror(errno));
  epoll_event e{};
  e.events = EPOLLIN;
  e.data.u64 = kListenId;
  epoll_ctl(impl_->epoll_fd, EPOLL_CTL_ADD, fd, &e);
  e.data.u64 = kWakeId;
  epoll_ctl(impl_->epoll_fd, EPOLL_CTL_ADD, impl_->wake_fd, &e);
  return bound;
}

void HttpListener::run() {
  Impl& m = *impl_;
  if (m.listen_fd < 0) return;
  std::vector<std::thread> workers;
  for (int i = 0; i < m.opt.workers; ++i) workers.emplace_back([&m] { m.worker(); });
  std::vector<epoll_event> events(256);
  auto swept = Clock::now();
  while (!m.stopping) {
    const int n = epoll_wait(m.epoll_fd, events.data(), static_cast<int>(events.size()), 100);
    for (int i = 0; i < n; ++i) {
      const uint64_t id = events[static_cast<size_t>(i)].data.u64;
      if (id == kListenId) m.accept_all();
      else if (id != kWakeId) m.on_readable(id);
    }
    if (Clock::now() - swept >= std::chrono::milliseconds(100)) {
      m.sweep();
      m.resume_listening();
      swept = Clock::now();
    }
  }
  // Stopping: no new connection; those without a request being answered are closed; the
  // workers answer the requests they have (with "Connection: close") and end.
  ::close(m.listen_fd);
  m.listen_fd = -1;
  {
    std::unique_lock<std::mutex> lock(m.mu);
    std::vector<Connection*> waiting;
    for (auto& [id, c] : m.connections)
      if (!c->serving) waiting.push_back(c.get());
    for (Connection* c : waiting) m.close_locked(*c);
    m.idle_cv.wait(lock, [&] { return m.serving == 0; });
    m.queue_cv.notify_all();
  }
  for (auto& t : workers) t.join();
}

void HttpListener::stop() {
  impl_->stopping = true;
  if (impl_->wake_fd >= 0) {
    const uint64_t one = 1;
    (void)!::write(impl_->wake_fd, &one, sizeof one);
  }
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->queue_cv.notify_all();
}

HttpListenerStats HttpListener::stats() const {
  HttpListenerStats s;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    s.open = impl_->connections.size();
  }
  s.accepted = impl_->accepted;
  s.closed_idle = impl_->closed_idle;
  s.closed_slow = impl_->closed_slow;
  s.evicted = impl_->evicted;
  s.head_too_large = impl_->head_too_large;
  s.max_connections = impl_->opt.max_connections;
  return s;
}

const std::string& HttpListener::why_request_stalled() { return t_stalled; }

uint64_t raise_open_file_limit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) != 0) return 1024;
  if (r.rlim_cur < r.rlim_max) {
    rlimit wanted = r;
    wanted.rlim_cur = std::min<rlim_t>(r.rlim_max, rlim_t{1} << 20);
    if (setrlimit(RLIMIT_NOFILE, &wanted) == 0) r = wanted;
  }
  return r.rlim_cur == RLIM_INFINITY ? (uint64_t{1} << 20) : static_cast<uint64_t>(r.rlim_cur);
}

}  // namespace kiln::serve
