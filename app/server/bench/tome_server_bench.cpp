// tome_server_bench: what `tome serve` adds over the in-process call. One session (a document of
// about --doc-tokens tokens, read into a scratch library) is answered N times both ways,
// alternating: in process (rewind to the document's end, prefill the question, generate K tokens:
// exactly the work of a server job) and over loopback HTTP with a keep-alive client
// (/v1/chat/completions, non-streamed and streamed, greedy, ignore_eos so every answer has K
// tokens), and GET /health (the bare HTTP round trip). Prints medians and differences
// (docs/performance.md).
//   tome_server_bench [--model DIR] [--requests N] [--max-tokens K] [--doc-tokens N] [--threads T]
//                     [--infill-window N]
// --infill-window N: the job is an editor's completion instead: POST /infill with input_prefix and
// input_suffix of about N tokens together and n_predict K (K = 1: the time to the first token),
// against the in-process fill-in-the-middle (the model's completion template) on the session.
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tome/server/server.h"
#include "tome/service/service.h"

namespace {

using clock_type = std::chrono::steady_clock;
double ms_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}
double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_dir = std::string(TOME_SOURCE_DIR) + "/resources/models/tome-25m";
  int requests = 50, max_tokens = 8, threads = 0;
  int64_t doc_tokens = 2000, infill_window = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--model")
      model_dir = v;
    else if (a == "--requests")
      requests = std::stoi(v);
    else if (a == "--max-tokens")
      max_tokens = std::stoi(v);
    else if (a == "--doc-tokens")
      doc_tokens = std::stoll(v);
    else if (a == "--threads")
      threads = std::stoi(v);
    else if (a == "--infill-window")
      infill_window = std::stoll(v);
    else {
      std::fprintf(stderr,
                   "usage: %s [--model DIR] [--requests N] [--max-tokens K] [--doc-tokens N] "
                   "[--threads T] [--infill-window N]\n",
                   argv[0]);
      return 2;
    }
  }
  auto loaded = tome::model::load(model_dir, {tome::backend_kind::automatic, threads});
  if (!loaded) {
    std::fprintf(stderr, "tome_server_bench: %s\n", loaded.message().c_str());
    return 1;
  }
  std::shared_ptr<const tome::model> m = *loaded;
  const auto dir =
      std::filesystem::temp_directory_path() / ("tome-server-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto lib = tome::store::library::open(dir / "library.db");
  if (!lib) {
    std::fprintf(stderr, "tome_server_bench: %s\n", lib.message().c_str());
    return 1;
  }
  std::string text;
  while (static_cast<int64_t>(m->tok().encode(text).size()) < doc_tokens)
    text +=
        "The keeper of the lighthouse wrote the pass key 7341 in the log, then climbed the stairs "
        "again. ";
  auto doc = m->tok().encode_template("document", {{"text", text}});
  tome::store::document_record rec{"bench", "bench.txt", "text", "h", 0, 0, "{}", "", ""};
  auto read = tome::service::read_document(**lib, m, "bench", rec, *doc);
  if (!read) {
    std::fprintf(stderr, "tome_server_bench: %s\n", read.message().c_str());
    return 1;
  }
  lib->reset();

  // In process: the same work as one server job.
  auto lib2 = tome::store::library::open(dir / "library.db");
  auto s = (*lib2)->load("bench", m);
  auto mark = (*s)->mark();
  const std::string question = "What is the pass key?";
  // The editor's local window: code around the cursor, half before and half after it.
  std::string prefix, suffix;
  if (infill_window > 0) {
    const std::string line = "    total = total + compute_step(values[i], scale) * weight  # accumulate\n";
    while (static_cast<int64_t>(m->tok().encode(prefix).size()) < infill_window / 2) prefix += line;
    suffix = prefix;
    prefix += "    result = ";
  }
  auto in_process = [&] {
    const auto t0 = clock_type::now();
    auto q = infill_window > 0
                 ? m->tok().encode_template("completion", {{"prefix", prefix}, {"suffix", suffix}})
                 : m->tok().encode_template("question", {{"question", question}});
    tome::prefill_params pp;
    pp.chunk_tokens = 1024;
    (void)(*s)->prefill(*q, pp);
    tome::generate_params gp;
    gp.max_tokens = max_tokens;
    gp.stop_at_eos = false;
    auto g = (*s)->generate(gp);
    (void)(*s)->rewind(*mark);
    return std::make_pair(ms_since(t0), g ? g->tokens.size() : 0);
  };

  tome::server::server_params sp;
  sp.port = 0;
  sp.library = dir / "library.db";
  sp.sessions = {"bench"};
  auto srv = tome::server::server::create(m, sp);
  if (!srv) {
    std::fprintf(stderr, "tome_server_bench: %s\n", srv.message().c_str());
    return 1;
  }
  std::thread runner([&] { (void)(*srv)->run(); });
  httplib::Client cli("127.0.0.1", (*srv)->port());
  cli.set_keep_alive(true);
  cli.set_tcp_nodelay(true);
  nlohmann::json body = {{"model", "tome:bench"},
                         {"messages", {{{"role", "user"}, {"content", question}}}},
                         {"max_tokens", max_tokens},
                         {"temperature", 0},
                         {"ignore_eos", true}};
  std::string plain = body.dump();
  body["stream"] = true;
  std::string streamed = body.dump();
  std::string endpoint = "/v1/chat/completions";
  if (infill_window > 0) {  // llama.vim's request
    nlohmann::json in = {{"input_prefix", prefix},   {"input_suffix", suffix}, {"input_extra", nlohmann::json::array()},
                         {"n_predict", max_tokens},   {"temperature", 0},       {"ignore_eos", true},
                         {"model", "tome:bench"}};
    plain = in.dump();
    in["stream"] = true;
    streamed = in.dump();
    endpoint = "/infill";
  }
  auto over_http = [&](const std::string& b) {
    const auto t0 = clock_type::now();
    auto r = cli.Post(endpoint, b, "application/json");
    const double t = ms_since(t0);
    if (!r || r->status != 200) {
      std::fprintf(stderr, "tome_server_bench: request failed (%s)\n",
                   r ? r->body.c_str() : httplib::to_string(r.error()).c_str());
      std::exit(1);
    }
    return t;
  };

  std::vector<double> a, b, c, h;
  auto health = [&] {
    const auto t0 = clock_type::now();
    auto r = cli.Get("/health");
    (void)r;
    return ms_since(t0);
  };
  for (int i = 0; i < 3; ++i) in_process(), over_http(plain), over_http(streamed);  // warm-up
  size_t generated = 0;
  for (int i = 0; i < requests; ++i) {
    auto [t, n] = in_process();
    a.push_back(t);
    generated = n;
    b.push_back(over_http(plain));
    c.push_back(over_http(streamed));
    h.push_back(health());
  }
  (*srv)->stop();
  runner.join();
  srv->reset();
  std::filesystem::remove_all(dir);

  const double ma = percentile(a, 0.5), mb = percentile(b, 0.5), mc = percentile(c, 0.5);
  std::printf(
      "model %s on %s; document %lld tokens; %s + %zu generated tokens; %d requests each\n",
      m->config().name.c_str(), m->backend_description().c_str(),
      static_cast<long long>(read->s ? read->s->n_tokens() : 0),
      infill_window > 0 ? ("/infill, a local window of ~" + std::to_string(infill_window) + " tokens").c_str()
                        : "question",
      generated, requests);
  std::printf("  in process           median %8.3f ms  p90 %8.3f ms\n", ma, percentile(a, 0.9));
  std::printf("  HTTP, one JSON       median %8.3f ms  p90 %8.3f ms  overhead %+.3f ms\n", mb,
              percentile(b, 0.9), mb - ma);
  std::printf("  HTTP, SSE stream     median %8.3f ms  p90 %8.3f ms  overhead %+.3f ms\n", mc,
              percentile(c, 0.9), mc - ma);
  std::printf("  GET /health          median %8.3f ms  (an HTTP round trip without a job)\n",
              percentile(h, 0.5));
  return 0;
}
