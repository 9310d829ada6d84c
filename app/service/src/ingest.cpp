// tome::service ingest (ingest.h): plan_ingest (read + tokenize + template + memory/disk/time
// plan) and read_plan (the checkpointed prefill through read_document); the source map's JSON.
#include "tome/service/ingest.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <system_error>

namespace tome::service {
namespace {

std::string base64_encode(const std::vector<uint8_t>& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  for (size_t i = 0; i < in.size(); i += 3) {
    const uint32_t n = (uint32_t{in[i]} << 16) | (i + 1 < in.size() ? uint32_t{in[i + 1]} << 8 : 0) |
                       (i + 2 < in.size() ? uint32_t{in[i + 2]} : 0);
    out += t[(n >> 18) & 63];
    out += t[(n >> 12) & 63];
    out += i + 1 < in.size() ? t[(n >> 6) & 63] : '=';
    out += i + 2 < in.size() ? t[n & 63] : '=';
  }
  return out;
}

std::optional<std::vector<uint8_t>> base64_decode(std::string_view in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (in.size() % 4) return std::nullopt;
  std::vector<uint8_t> out;
  out.reserve(in.size() / 4 * 3);
  for (size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int j = 0; j < 4; ++j) {
      const char c = in[i + j];
      if (c == '=' && i + 4 == in.size() && j >= 2) {
        v[j] = 0;
        ++pad;
      } else if (pad || (v[j] = val(c)) < 0) {
        return std::nullopt;
      }
    }
    const uint32_t n = (uint32_t(v[0]) << 18) | (uint32_t(v[1]) << 12) | (uint32_t(v[2]) << 6) | uint32_t(v[3]);
    out.push_back(static_cast<uint8_t>(n >> 16));
    if (pad < 2) out.push_back(static_cast<uint8_t>(n >> 8));
    if (pad < 1) out.push_back(static_cast<uint8_t>(n));
  }
  return out;
}

int64_t storage_bytes(store::kv_storage s) {
  switch (s) {
    case store::kv_storage::f32: return 4;
    case store::kv_storage::bf16: return 2;
    case store::kv_storage::fp8_e4m3: return 1;
  }
  return 4;
}

std::string seconds_text(double s) {
  char b[64];
  if (s < 60) std::snprintf(b, sizeof b, "%.1f s", s);
  else if (s < 3600) std::snprintf(b, sizeof b, "%d min %02d s", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
  else std::snprintf(b, sizeof b, "%d h %02d min", static_cast<int>(s) / 3600, static_cast<int>(s) / 60 % 60);
  return b;
}

}  // namespace

std::string ingest_plan::summary() const {
  std::string s = ingest::format_report(doc.report);
  s += "  " + std::to_string(tokens.size()) + " tokens with the document template\n";
  s += "  memory: " + memory.describe() + "\n";
  s += "  disk: " + format_bytes(disk_bytes);
  if (disk_free >= 0) s += " (" + format_bytes(disk_free) + " free)";
  s += "\n";
  if (expected_seconds >= 0) {
    char b[96];
    std::snprintf(b, sizeof b, "  expected time: %s (measured %.0f tokens/s on this backend)\n",
                  seconds_text(expected_seconds).c_str(), probe_tokens_per_second);
    s += b;
  }
  if (!refusal.empty()) s += "  NOT READ: " + refusal + "\n";
  return s;
}

result<ingest_plan> plan_ingest(const std::filesystem::path& path, std::shared_ptr<const model> m,
                                const plan_params& p) {
  if (!m) return error("no model");
  if (!m->has_tokenizer()) return error("the model has no tokenizer: cannot read a document");
  auto doc = ingest::ingest(path, p.ingest);
  if (!doc) return doc.error_status();
  const tokenizer& tok = m->tok();
  const model_config& c = m->config();
  // Text tokens: segments, each file of a repository introduced by "<|file|>path\n".
  ingest::tokenizer_fns fns;
  fns.encode = [&](std::string_view s) { return tok.encode(s); };
  fns.token_bytes = [&](int32_t id) { return tok.token_bytes(id); };  // exact line placement
  const int32_t file_id = c.special_id("file_start");
  fns.encode_header = [&](const ingest::segment& s) {
    std::vector<int32_t> ids;
    if (file_id >= 0) ids.push_back(file_id);
    auto rest = tok.encode(s.source.file + "\n");
    ids.insert(ids.end(), rest.begin(), rest.end());
    return ids;
  };
  ingest::tokenize_params tp;
  tp.cancel = p.ingest.cancel;
  if (file_id >= 0) tp.restate_header_every = c.file_header_every;  // the model's trained layout
  auto td = ingest::tokenize(*doc, fns, tp);
  if (!td) return td.error_status();
  ingest::update_report(doc->report, td->map);
  if (td->tokens.empty())
    return error(path.string() + ": nothing to read (every file was ignored or skipped: see the report)");

  ingest_plan plan;
  // The document template: <s><|doc|> text <|/doc|>.
  for (const char* role : {"bos", "doc_start"})
    if (c.special_id(role) >= 0) plan.tokens.push_back(c.special_id(role));
  plan.token_offset = static_cast<int64_t>(plan.tokens.size());
  plan.tokens.insert(plan.tokens.end(), td->tokens.begin(), td->tokens.end());
  if (c.special_id("doc_end") >= 0) plan.tokens.push_back(c.special_id("doc_end"));
  const int64_t n = static_cast<int64_t>(plan.tokens.size());

  plan.record.title = doc->title;
  plan.record.path = doc->path;
  plan.record.kind = std::string(ingest::format_name(doc->report.fmt));
  uint64_t h = 0;
  for (const auto& f : doc->files) h = h * 1099511628211ull ^ f.hash;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  plan.record.content_hash = hex;
  nlohmann::json sm = {{"format", "tome-token-map"},
                       {"token_offset", plan.token_offset},
                       {"map_base64", base64_encode(td->map.serialize())}};
  plan.record.source_map = sm.dump();
  nlohmann::json files = nlohmann::json::array();
  for (const auto& f : doc->files) {
    char fh[17];
    std::snprintf(fh, sizeof fh, "%016llx", static_cast<unsigned long long>(f.hash));
    files.push_back({{"path", f.path}, {"hash", fh}, {"size", f.size}});
  }
  plan.record.metadata = nlohmann::json{{"files", std::move(files)}}.dump();

  plan.memory = m->plan_memory(n, p.chunk_tokens);
  plan.disk_bytes = n * (2 * c.kv_dim() * storage_bytes(p.storage) + 4) + plan.memory.need.self_state;
  if (!p.library.empty()) {
    std::error_code ec;
    std::filesystem::path dir = p.library.parent_path();
    while (!dir.empty() && !std::filesystem::exists(dir, ec)) dir = dir.parent_path();
    const auto sp = std::filesystem::space(dir.empty() ? std::filesystem::path(".") : dir, ec);
    if (!ec) plan.disk_free = static_cast<int64_t>(sp.available);
  }
  if (n > c.max_context)
    plan.refusal = path.string() + " needs " + std::to_string(n) +
                   " tokens, more than the model's maximum context of " + std::to_string(c.max_context);
  else if (!plan.memory.fits())
    plan.refusal = "not enough memory on " + m->backend_description() + ": " + plan.memory.describe();
  else if (plan.disk_free >= 0 && plan.disk_bytes > plan.disk_free)
    plan.refusal = "not enough disk space for the session: needs " + format_bytes(plan.disk_bytes) +
                   ", " + format_bytes(plan.disk_free) + " free";

  // The time: a measured prefill of the document's first tokens on a throwaway session (YOCO's
  // prefill is linear in length, so the rate carries over), not a guess from a table.
  if (p.probe_tokens > 0 && plan.fits()) {
    const int64_t k = std::min<int64_t>(p.probe_tokens, n);
    auto s = session::create(m);
    if (!s) return s.error_status();
    prefill_params pp;
    pp.compute_logits = false;
    pp.cancel = p.ingest.cancel;
    const auto t0 = std::chrono::steady_clock::now();
    auto r = (*s)->prefill(std::span(plan.tokens).first(static_cast<size_t>(k)), pp);
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (r && !r->cancelled && sec > 0) {
      plan.probe_tokens_per_second = static_cast<double>(k) / sec;
      plan.expected_seconds = static_cast<double>(n) / plan.probe_tokens_per_second;
    }
  }
  plan.doc = std::move(*doc);
  plan.map = std::move(td->map);
  return plan;
}

result<store::checkpoint_result> read_plan(store::library& lib, std::shared_ptr<const model> m,
                                           const std::string& session, const ingest_plan& plan,
                                           const read_params& p) {
  if (!plan.fits()) return error(plan.refusal);
  return read_document(lib, std::move(m), session, plan.record, plan.tokens, p);
}

result<stored_map> parse_source_map(const store::document_record& rec) {
  const std::string where = "the source map of '" + (rec.title.empty() ? rec.path : rec.title) + "'";
  nlohmann::json j = nlohmann::json::parse(rec.source_map, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("format", "") != "tome-token-map" ||
      !j.contains("token_offset") || !j["token_offset"].is_number_integer() ||
      !j.contains("map_base64") || !j["map_base64"].is_string())
    return error(where + " is missing or not a Tome token map");
  auto bytes = base64_decode(j["map_base64"].get<std::string>());
  if (!bytes) return error(where + " is damaged (invalid base64)");
  auto map = ingest::token_map::parse(*bytes);
  if (!map) return map.error_status().with_context(where);
  stored_map out;
  out.map = std::move(*map);
  out.token_offset = j["token_offset"].get<int64_t>();
  if (out.token_offset < 0 || out.token_offset > rec.token_end - rec.token_begin)
    return error(where + " has an offset outside the document");
  return out;
}

result<std::vector<source_span>> attention_sources(const store::session_info& info,
                                                   std::span<const float> mass, size_t max_spans) {
  struct line_run {
    size_t document, segment;
    ingest::source_ref source;
    double mass = 0;
    int64_t begin = 0, end = 0;
  };
  std::vector<line_run> runs;
  double total = 0;
  const int64_t n = static_cast<int64_t>(mass.size());
  for (size_t d = 0; d < info.documents.size(); ++d) {
    const store::document_record& rec = info.documents[d];
    if (rec.token_begin >= n) continue;
    auto sm = parse_source_map(rec);
    if (!sm) return sm.error_status();
    const int64_t first = rec.token_begin + sm->token_offset;
    const int64_t last = std::min({rec.token_end, n, first + static_cast<int64_t>(sm->map.token_count())});
    for (int64_t p = first; p < last; ++p) {
      auto loc = sm->map.locate(static_cast<uint64_t>(p - first));
      if (!loc || loc->kind == ingest::segment_kind::file_header) continue;
      const float w = mass[static_cast<size_t>(p)];
      total += w;
      if (!runs.empty() && runs.back().document == d && runs.back().segment == loc->segment &&
          runs.back().source.line_begin == loc->source.line_begin && runs.back().end == p) {
        runs.back().mass += w;
        runs.back().end = p + 1;
      } else {
        runs.push_back({d, loc->segment, loc->source, w, p, p + 1});
      }
    }
  }
  // The heaviest lines (a line split into runs by other content counts each run on its own).
  std::vector<size_t> order(runs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  const size_t k = std::min(max_spans, order.size());
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                    [&](size_t a, size_t b) { return runs[a].mass > runs[b].mass; });
  order.resize(k);
  std::sort(order.begin(), order.end());  // document order, to merge neighbours
  std::vector<source_span> out;
  for (size_t idx : order) {
    const line_run& r = runs[idx];
    if (!out.empty()) {
      source_span& prev = out.back();
      if (prev.document == r.document && prev.source.file == r.source.file &&
          prev.source.page == r.source.page && r.source.line_begin <= prev.source.line_end + 1 &&
          r.source.line_begin >= prev.source.line_begin) {
        prev.source.line_end = std::max(prev.source.line_end, r.source.line_end);
        prev.mass += total > 0 ? r.mass / total : 0;
        prev.token_end = std::max(prev.token_end, r.end);
        continue;
      }
    }
    source_span sp;
    sp.document = r.document;
    sp.source = r.source;
    sp.mass = total > 0 ? r.mass / total : 0;
    sp.token_begin = r.begin;
    sp.token_end = r.end;
    out.push_back(std::move(sp));
  }
  std::stable_sort(out.begin(), out.end(), [](const source_span& a, const source_span& b) { return a.mass > b.mass; });
  return out;
}

}  // namespace tome::service
