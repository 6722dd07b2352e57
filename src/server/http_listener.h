// The connections of kiln serve's HTTP side: accepted and watched by one thread (epoll), handed
// to a worker only once a request has arrived, so that idle and slow clients hold no worker.
//
//   HttpListener listener(options, [&](httplib::Stream& s, bool close, bool& closed) {
//     return server.process_one_request(s, close, closed);   // reads and answers one request
//   });
//   kiln::Expected<int> port = listener.bind("127.0.0.1", 0);
//   std::thread t([&] { listener.run(); });                   // until stop()
//
// Why not cpp-httplib's own loop: it gives each accepted connection a worker thread for as long
// as the connection lives, so a few hundred idle keep-alive connections, or clients sending a
// byte every few seconds, left health checks queued behind them. Here a connection costs a file
// descriptor and its read buffer until its request is whole (its head, and a body of up to
// kBufferedBodyBytes); then a worker parses and answers it through cpp-httplib.
//
// The rules a connection lives by (the counts are in stats(), the server's /metrics):
// - no byte for idle_timeout_s: closed (between requests silently; inside one, with a 408);
// - a request not whole receive_timeout_s after its first byte: 408 and closed, however
//   steadily it trickles (slow-loris);
// - max_connections open: the connection that has been waiting longest without a request being
//   answered is closed to let the new one in (a health check always gets through);
// - a request head larger than kMaxHeadBytes: 431 and closed.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "kiln/status.h"

namespace httplib { class Stream; }

namespace kiln::serve {

struct HttpListenerOptions {
  int workers = 64;             // requests parsed and answered at once
  int idle_timeout_s = 5;       // no byte for this long: the connection is closed
  int receive_timeout_s = 30;   // a request must arrive whole within this of its first byte
  int keep_alive_max_count = 1000;
  size_t max_connections = 0;   // 0: from the process's file-descriptor limit
};

struct HttpListenerStats {
  uint64_t open = 0, accepted = 0;
  uint64_t closed_idle = 0, closed_slow = 0, evicted = 0, head_too_large = 0;
  uint64_t max_connections = 0;
};

class HttpListener {
 public:
  // Reads and answers one request from the stream; false or `closed` ends the connection.
  // `close` asks for the answer to say "Connection: close" (the last request allowed, or stopping).
  using ServeOne = std::function<bool(httplib::Stream& stream, bool close, bool& closed)>;
  static constexpr size_t kMaxHeadBytes = 64 << 10;
  static constexpr size_t kBufferedBodyBytes = 256 << 10;  // a 256x256 fp32 tensor, binary

  HttpListener(HttpListenerOptions options, ServeOne serve_one);
  ~HttpListener();
  HttpListener(const HttpListener&) = delete;
  HttpListener& operator=(const HttpListener&) = delete;

  Expected<int> bind(const std::string& host, int port);  // port 0: any free port; returns the port
  void run();   // until stop(); returns once the requests being answered are answered
  void stop();  // stops accepting, closes connections with no request being answered
  HttpListenerStats stats() const;
  // On a worker, while its request is answered: why the request stopped arriving ("no byte
  // for 5 s (--idle-timeout)", "not whole within 30 s (--receive-timeout)"), or empty. The
  // error page says it with 408 instead of the parser's 400.
  static const std::string& why_request_stalled();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Raises the soft limit on open files to the hard limit (each connection is a descriptor);
// returns the limit now in force.
uint64_t raise_open_file_limit();

}  // namespace kiln::serve
