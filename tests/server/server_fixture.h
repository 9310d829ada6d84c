// Shared by the tome serve tests: the embedded default model (resources/models/tome-25m), a
// scratch library holding a tiny repository read as one document (session "repo", the layout
// `tome ingest` writes: <s><|doc|> <|file|>path\ntext ... <|/doc|>), an in-process server on a
// free loopback port, and a raw HTTP/1.1 client over a socket (for SSE streams and for clients
// that hang up mid-request).
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tome/server/server.h"
#include "tome/service/service.h"

namespace tome::server::testing {

inline const std::string k_geometry =
    "import math\n\n\ndef circle_area(radius):\n    return math.pi * radius * radius\n";
inline const std::string k_main =
    "from geometry import circle_area\n\n\ndef report(r):\n    print(\"circle\", circle_area(r))\n";

inline std::shared_ptr<const model> default_model() {
  static std::shared_ptr<const model> m = [] {
    auto r = model::load(std::filesystem::path(TOME_SOURCE_DIR) / "resources/models/tome-25m",
                         load_params{backend_kind::cpu, 2});
    if (!r) ADD_FAILURE() << r.message();
    return r ? std::shared_ptr<const model>(*r) : nullptr;
  }();
  return m;
}

// The repository document's tokens, as `tome ingest` builds them.
inline std::vector<int32_t> repo_tokens(const model& m) {
  const auto& c = m.config();
  std::vector<int32_t> t = {c.special_id("bos"), c.special_id("doc_start")};
  for (const auto& [path, text] :
       {std::pair{"src/geometry.py", k_geometry}, std::pair{"src/main.py", k_main}}) {
    t.push_back(c.special_id("file_start"));
    auto body = m.tok().encode(std::string(path) + "\n" + text);
    t.insert(t.end(), body.begin(), body.end());
  }
  t.push_back(c.special_id("doc_end"));
  return t;
}

// A raw HTTP/1.1 exchange: the status, headers and the de-chunked body.
struct raw_response {
  int status = 0;
  std::string headers, body;
};

class raw_client {
 public:
  explicit raw_client(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) close();
    int one = 1;
    if (fd_ >= 0) ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~raw_client() { close(); }
  bool ok() const { return fd_ >= 0; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  bool send_all(const std::string& s) {
    size_t done = 0;
    while (fd_ >= 0 && done < s.size()) {
      const ssize_t n = ::send(fd_, s.data() + done, s.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return done == s.size();
  }
  bool post(const std::string& path, const std::string& body,
            const std::string& extra_headers = "") {
    return send_all("POST " + path +
                    " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                    "Content-Type: application/json\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n" + extra_headers + "\r\n" + body);
  }
  // Reads until `until` returns true for the raw bytes so far, or EOF.
  std::string read_until(const std::function<bool(const std::string&)>& until) {
    std::string got;
    char buf[4096];
    while (fd_ >= 0 && !until(got)) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
    return got;
  }
  raw_response read_response() {
    return parse(read_until([](const std::string&) { return false; }));
  }
  static raw_response parse(const std::string& raw) {
    raw_response r;
    const size_t hdr_end = raw.find("\r\n\r\n");
    if (raw.rfind("HTTP/1.1 ", 0) != 0 || hdr_end == std::string::npos) return r;
    r.status = std::atoi(raw.c_str() + 9);
    r.headers = raw.substr(0, hdr_end);
    std::string rest = raw.substr(hdr_end + 4);
    if (r.headers.find("Transfer-Encoding: chunked") == std::string::npos) {
      r.body = rest;
      return r;
    }
    size_t pos = 0;
    while (pos < rest.size()) {
      const size_t eol = rest.find("\r\n", pos);
      if (eol == std::string::npos) break;
      const size_t n = std::strtoul(rest.substr(pos, eol - pos).c_str(), nullptr, 16);
      if (n == 0) break;
      r.body += rest.substr(eol + 2, n);
      pos = eol + 2 + n + 2;
    }
    return r;
  }

 private:
  int fd_ = -1;
};

// The data: payloads of an SSE body, in order.
inline std::vector<std::string> sse_data(const std::string& body) {
  std::vector<std::string> out;
  size_t pos = 0;
  while ((pos = body.find("data: ", pos)) != std::string::npos) {
    const size_t end = body.find("\n\n", pos);
    out.push_back(
        body.substr(pos + 6, end == std::string::npos ? std::string::npos : end - pos - 6));
    pos = end == std::string::npos ? body.size() : end + 2;
  }
  return out;
}

// A scratch library with session "repo" and a running server over it.
class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m_ = default_model();
    ASSERT_TRUE(m_);
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::path(TOME_BINARY_DIR) / "server-tests" /
           (std::string(info->test_suite_name()) + "." + info->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto lib = store::library::open(dir_ / "library.db");
    ASSERT_TRUE(lib.ok()) << lib.message();
    lib_ = std::move(*lib);
    doc_ = repo_tokens(*m_);
    store::document_record rec{"repo", "/tmp/repo", "repo", "h1", 0, 0, "{}", "", ""};
    auto r = service::read_document(*lib_, m_, "repo", rec, doc_);
    ASSERT_TRUE(r.ok()) << r.message();
  }
  void TearDown() override {
    stop();
    lib_.reset();
    std::filesystem::remove_all(dir_);
  }

  void start(server_params p = {}) {
    p.port = 0;
    p.library = dir_ / "library.db";
    if (p.sessions.empty()) p.sessions = {"repo"};
    p.prefill_chunk = 256;
    auto s = server::create(m_, p);
    ASSERT_TRUE(s.ok()) << s.message();
    srv_ = std::move(*s);
    runner_ = std::thread([this] { (void)srv_->run(); });
  }
  void stop() {
    if (srv_) srv_->stop();
    if (runner_.joinable()) runner_.join();
    srv_.reset();
  }
  int port() const { return srv_->port(); }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port());
    c.set_read_timeout(120, 0);
    return c;
  }
  // Waits (up to `seconds`) for `pred` over the server's counters.
  bool wait_for(const std::function<bool(const server_stats&)>& pred, double seconds = 60) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
      if (pred(srv_->stats())) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return pred(srv_->stats());
  }

  std::shared_ptr<const model> m_;
  std::filesystem::path dir_;
  std::unique_ptr<store::library> lib_;
  std::vector<int32_t> doc_;
  std::unique_ptr<server> srv_;
  std::thread runner_;
};

}  // namespace tome::server::testing
