// Prompt templates of config.json ("<|question|>{question}<|answer|>"): parsed into text,
// {placeholder} and special-token segments. Special pieces are recognised here and nowhere else
// (never in user text). Used by config validation (syntax) and tokenizer::encode_template.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "tome/model_config.h"
#include "tome/status.h"

namespace tome {

struct template_segment {
  enum class kind { text, placeholder, special };
  kind type = kind::text;
  std::string text;  // literal text, the placeholder's name, or the special piece
  int32_t id = -1;   // special only
};

// Syntax: "{name}" with name of [A-Za-z0-9_]+ is a placeholder; any other '{' or '}' is an
// error (there is no escape). Special pieces are matched longest first at every position of
// the literal text. Adjacent literal characters form one text segment. `where` names the
// template in messages ("config.json: template 'question'").
result<std::vector<template_segment>> parse_template(
    std::string_view text, const std::map<std::string, special_token>& specials,
    const std::string& where);

}  // namespace tome
