// Template parsing: one left-to-right scan; at each position a '{' opens a placeholder, a
// special piece (longest match) becomes a special segment, anything else is literal text.
// Pure string work: no tokenizer here (see tokenizer.cpp for the encoding of the segments).
#include "model/prompt_template.h"

#include <algorithm>

namespace tome {
namespace {

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

}  // namespace

result<std::vector<template_segment>> parse_template(
    std::string_view text, const std::map<std::string, special_token>& specials,
    const std::string& where) {
  // Longest pieces first so "<|fim_prefix|>" wins over a hypothetical "<|fim" piece.
  std::vector<const special_token*> pieces;
  for (const auto& [role, tok] : specials) {
    if (!tok.piece.empty()) pieces.push_back(&tok);
  }
  std::stable_sort(pieces.begin(), pieces.end(),
                   [](const special_token* a, const special_token* b) {
                     return a->piece.size() > b->piece.size();
                   });

  std::vector<template_segment> out;
  auto literal = [&out]() -> std::string& {
    if (out.empty() || out.back().type != template_segment::kind::text) {
      out.push_back({template_segment::kind::text, {}, -1});
    }
    return out.back().text;
  };
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == '{') {
      size_t j = i + 1;
      while (j < text.size() && is_name_char(text[j])) ++j;
      if (j >= text.size()) {
        return error(where + ": '{' at offset " + std::to_string(i) + " is never closed");
      }
      if (text[j] != '}') {
        return error(where + ": placeholder at offset " + std::to_string(i) +
                     " must be {name} with letters, digits or '_' (no nesting, no escapes)");
      }
      if (j == i + 1)
        return error(where + ": empty placeholder '{}' at offset " + std::to_string(i));
      out.push_back(
          {template_segment::kind::placeholder, std::string(text.substr(i + 1, j - i - 1)), -1});
      i = j + 1;
      continue;
    }
    if (c == '}') return error(where + ": '}' at offset " + std::to_string(i) + " has no '{'");
    const special_token* match = nullptr;
    for (const special_token* p : pieces) {
      if (text.compare(i, p->piece.size(), p->piece) == 0) {
        match = p;
        break;
      }
    }
    if (match) {
      out.push_back({template_segment::kind::special, match->piece, match->id});
      i += match->piece.size();
      continue;
    }
    literal().push_back(c);
    ++i;
  }
  return out;
}

}  // namespace tome
