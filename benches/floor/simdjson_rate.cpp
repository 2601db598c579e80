// The research floor for "validate a whole JSONL line": simdjson's DOM parser (full validation,
// UTF-8 included, with its best kernel for this CPU) over every line of FILE's first MIB MiB,
// one thread, best of 7. Built and run beside our scanner by run.sh (needs libsimdjson-dev).
// Modes: "lines" parses each line on its own, as our scanner does; "many" is simdjson's
// batched ndjson reader (parse_many), its fastest way through a JSONL file.
#include <simdjson.h>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>
using namespace simdjson;
int main(int argc, char** argv) {
  std::ifstream in(argv[1], std::ios::binary);
  size_t mb = atol(argv[2]);
  std::string data(mb << 20, '\0');
  in.read(&data[0], data.size());
  data.resize(in.gcount());
  while (!data.empty() && data.back() != '\n') data.pop_back();
  std::string mode = argv[3];
  padded_string padded(data);
  double best = 1e9; size_t ok = 0;
  dom::parser parser;
  for (int r = 0; r < 7; r++) {
    auto t = std::chrono::steady_clock::now();
    ok = 0;
    if (mode == "lines") {
      const char* p = padded.data(); const char* end = p + padded.size();
      while (p < end) {
        const char* nl = (const char*)memchr(p, '\n', end - p);
        size_t len = nl - p;
        // padded_string_view: the buffer has SIMDJSON_PADDING readable bytes after each line.
        auto doc = parser.parse(p, len, false);
        if (!doc.error()) ok++;
        p = nl + 1;
      }
    } else {
      dom::document_stream stream;
      auto err = parser.parse_many(padded, 4 << 20).get(stream);
      if (err) { printf("err\n"); return 1; }
      for (auto doc : stream) { if (!doc.error()) ok++; }
    }
    double e = std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
    if (e < best) best = e;
  }
  printf("simdjson %s: %.1f ms best of 7 for %zu MB -> %.2f GB/s (ok %zu) impl %s\n", mode.c_str(), best * 1e3, data.size() >> 20,
         data.size() / best / 1e9, ok, simdjson::get_active_implementation()->name().c_str());
}
