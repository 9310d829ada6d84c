// A libFuzzer stand-in for builds without -fsanitize=fuzzer: replays seed files and folders,
// then a fixed number of deterministic mutations (bit flips, interesting bytes and integers,
// dictionary tokens, inserts, deletes, splices). No coverage guidance: a smoke test for every
// build. A crashing input (signal or sanitizer report) is saved to ./crash-<iteration>.
//   fuzz_x [--mutations=N] [--seed=S] [--max-len=N] [--dict=FILE] SEED_FILE_OR_DIR...
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
// Provided by the sanitizer runtimes (ASan, UBSan) when linked in; null otherwise.
extern "C" void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

namespace {

using bytes = std::vector<uint8_t>;

// The input being run, for the crash handlers (plain globals: read only in a signal handler).
const uint8_t* g_current = nullptr;
size_t g_current_size = 0;
char g_crash_path[64] = "crash-input";

void save_current_input() {
  if (!g_current) return;
  const int fd = ::open(g_crash_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return;
  size_t done = 0;
  while (done < g_current_size) {
    const ssize_t n = ::write(fd, g_current + done, g_current_size - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  const char msg[] = "\nstandalone driver: the crashing input was written to ";
  (void)!::write(2, msg, sizeof msg - 1);
  (void)!::write(2, g_crash_path, std::strlen(g_crash_path));
  (void)!::write(2, "\n", 1);
}

extern "C" void on_signal(int sig) {
  save_current_input();
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

void run_one(const bytes& input, size_t iteration) {
  // An exactly sized heap copy (as libFuzzer makes), so that reading one byte past the end is
  // caught by ASan; new[0] gives a valid pointer to no bytes.
  std::unique_ptr<uint8_t[]> copy(new uint8_t[input.size()]);
  if (!input.empty()) std::memcpy(copy.get(), input.data(), input.size());
  g_current = copy.get();
  g_current_size = input.size();
  std::snprintf(g_crash_path, sizeof g_crash_path, "crash-%zu", iteration);
  LLVMFuzzerTestOneInput(copy.get(), input.size());
  g_current = nullptr;
}

// libFuzzer dictionary lines: name="value" or "value", with \\, \" and \xNN escapes.
std::vector<bytes> read_dict(const std::string& path) {
  std::vector<bytes> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    const size_t q = line.find('"');
    if (line.empty() || line[0] == '#' || q == std::string::npos || line.back() != '"' ||
        line.size() < q + 2)
      continue;
    const std::string body = line.substr(q + 1, line.size() - q - 2);
    bytes b;
    for (size_t i = 0; i < body.size(); ++i) {
      if (body[i] == '\\' && i + 1 < body.size()) {
        if (body[i + 1] == 'x' && i + 3 < body.size()) {
          b.push_back(
              static_cast<uint8_t>(std::strtoul(body.substr(i + 2, 2).c_str(), nullptr, 16)));
          i += 3;
        } else {
          b.push_back(static_cast<uint8_t>(body[++i]));
        }
      } else {
        b.push_back(static_cast<uint8_t>(body[i]));
      }
    }
    out.push_back(std::move(b));
  }
  return out;
}

class mutator {
 public:
  mutator(uint64_t seed, std::vector<bytes> dict, size_t max_len)
      : rng_(seed), dict_(std::move(dict)), max_len_(max_len) {}

  bytes mutate(const std::vector<bytes>& seeds) {
    bytes b = seeds[pick(seeds.size())];
    const int n = 1 + static_cast<int>(pick(5));
    for (int i = 0; i < n; ++i) step(b, seeds);
    if (b.size() > max_len_) b.resize(max_len_);
    return b;
  }

 private:
  size_t pick(size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng_() % n); }

  void step(bytes& b, const std::vector<bytes>& seeds) {
    static const uint8_t k_bytes[] = {0,   1,   0x7f, 0x80, 0xff, '{', '}', '[', ']',
                                      '"', ',', ':',  '-',  '0',  '9', 'e', '.', '\\'};
    static const char* k_numbers[] = {"0",
                                      "1",
                                      "-1",
                                      "2",
                                      "7",
                                      "64",
                                      "65535",
                                      "4294967296",
                                      "9223372036854775807",
                                      "9223372036854775808",
                                      "18446744073709551615",
                                      "18446744073709551616",
                                      "1e999",
                                      "2.5",
                                      "-0",
                                      "1e-400",
                                      ""};
    switch (pick(10)) {
      case 0:  // flip a bit
        if (!b.empty()) b[pick(b.size())] ^= static_cast<uint8_t>(1u << pick(8));
        break;
      case 1:  // an interesting byte
        if (!b.empty()) b[pick(b.size())] = k_bytes[pick(sizeof k_bytes)];
        break;
      case 2: {  // delete a range
        if (b.empty()) break;
        const size_t at = pick(b.size()), n = 1 + pick(std::min<size_t>(16, b.size() - at));
        b.erase(b.begin() + static_cast<ptrdiff_t>(at), b.begin() + static_cast<ptrdiff_t>(at + n));
        break;
      }
      case 3: {  // insert random bytes
        const size_t at = pick(b.size() + 1), n = 1 + pick(8);
        bytes r(n);
        for (auto& x : r) x = static_cast<uint8_t>(rng_());
        b.insert(b.begin() + static_cast<ptrdiff_t>(at), r.begin(), r.end());
        break;
      }
      case 4: {  // duplicate a chunk somewhere else
        if (b.empty()) break;
        const size_t from = pick(b.size()), n = 1 + pick(std::min<size_t>(64, b.size() - from));
        const bytes chunk(b.begin() + static_cast<ptrdiff_t>(from),
                          b.begin() + static_cast<ptrdiff_t>(from + n));
        b.insert(b.begin() + static_cast<ptrdiff_t>(pick(b.size() + 1)), chunk.begin(),
                 chunk.end());
        break;
      }
      case 5: {  // splice with another seed
        const bytes& o = seeds[pick(seeds.size())];
        const size_t cut = pick(b.size() + 1), from = pick(o.size() + 1);
        b.resize(cut);
        b.insert(b.end(), o.begin() + static_cast<ptrdiff_t>(from), o.end());
        break;
      }
      case 6: {  // replace a run of digits (or insert) with an interesting number
        const std::string num = k_numbers[pick(std::size(k_numbers))];
        size_t at = pick(b.size() + 1);
        for (size_t k = 0; k < b.size(); ++k) {  // prefer a digit run near `at`
          const size_t i = (at + k) % b.size();
          if (b[i] >= '0' && b[i] <= '9') {
            at = i;
            break;
          }
        }
        size_t end = at;
        while (end < b.size() &&
               ((b[end] >= '0' && b[end] <= '9') || b[end] == '-' || b[end] == '.'))
          ++end;
        b.erase(b.begin() + static_cast<ptrdiff_t>(at), b.begin() + static_cast<ptrdiff_t>(end));
        b.insert(b.begin() + static_cast<ptrdiff_t>(at), num.begin(), num.end());
        break;
      }
      case 7:  // a dictionary token
        if (!dict_.empty()) {
          const bytes& t = dict_[pick(dict_.size())];
          b.insert(b.begin() + static_cast<ptrdiff_t>(pick(b.size() + 1)), t.begin(), t.end());
        }
        break;
      case 8: {  // a little-endian integer, often at offset 0 (safetensors' header length)
        const uint64_t values[] = {0,
                                   1,
                                   2,
                                   7,
                                   8,
                                   b.size(),
                                   b.size() - 8,
                                   b.size() + 1,
                                   100'000'001,
                                   ~uint64_t{0},
                                   static_cast<uint64_t>(rng_())};
        const uint64_t v = values[pick(std::size(values))];
        const size_t at = pick(2) ? 0 : pick(b.size() + 1);
        for (size_t i = 0; i < 8 && at + i < b.size(); ++i)
          b[at + i] = static_cast<uint8_t>(v >> (8 * i));
        break;
      }
      default:  // truncate
        b.resize(pick(b.size() + 1));
        break;
    }
  }

  std::mt19937_64 rng_;
  std::vector<bytes> dict_;
  size_t max_len_;
};

bytes read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

int main(int argc, char** argv) {
  size_t mutations = 10000, max_len = 1 << 16;
  uint64_t seed = 1;
  std::string dict_path;
  std::vector<bytes> seeds;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--mutations=", 0) == 0) {
      mutations = std::strtoull(a.c_str() + 12, nullptr, 10);
    } else if (a.rfind("--seed=", 0) == 0) {
      seed = std::strtoull(a.c_str() + 7, nullptr, 10);
    } else if (a.rfind("--max-len=", 0) == 0) {
      max_len = std::strtoull(a.c_str() + 10, nullptr, 10);
    } else if (a.rfind("--dict=", 0) == 0) {
      dict_path = a.substr(7);
    } else if (a.rfind("-", 0) == 0) {
      std::fprintf(stderr,
                   "usage: %s [--mutations=N] [--seed=S] [--max-len=N] [--dict=FILE] SEEDS...\n",
                   argv[0]);
      return 2;
    } else if (std::filesystem::is_directory(a)) {
      std::vector<std::filesystem::path> files;
      for (const auto& e : std::filesystem::directory_iterator(a)) {
        if (e.is_regular_file()) files.push_back(e.path());
      }
      std::sort(files.begin(), files.end());  // deterministic order
      for (const auto& f : files) seeds.push_back(read_file(f));
    } else if (std::filesystem::is_regular_file(a)) {
      seeds.push_back(read_file(a));
    } else {
      std::fprintf(stderr, "%s: no such seed file or directory: %s\n", argv[0], a.c_str());
      return 2;
    }
  }
  if (seeds.empty()) seeds.emplace_back();

  if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(save_current_input);
  for (int sig : {SIGSEGV, SIGABRT, SIGBUS, SIGILL, SIGFPE}) std::signal(sig, on_signal);

  const auto start = std::chrono::steady_clock::now();
  size_t iteration = 0;
  for (const bytes& s : seeds) run_one(s, iteration++);
  mutator m(seed, dict_path.empty() ? std::vector<bytes>{} : read_dict(dict_path), max_len);
  for (size_t i = 0; i < mutations; ++i) run_one(m.mutate(seeds), iteration++);
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%s: %zu seeds + %zu mutated inputs (seed %llu) in %.2f s: no crash\n", argv[0],
              seeds.size(), mutations, static_cast<unsigned long long>(seed), secs);
  return 0;
}
