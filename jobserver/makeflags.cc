#include "jobserver/makeflags.h"

#include <ctype.h>
#include <stdlib.h>

#include <charconv>

namespace jobserver {
namespace {

constexpr std::string_view kAuthPrefix = "--jobserver-auth=";
constexpr std::string_view kFdsPrefix = "--jobserver-fds=";
constexpr std::string_view kFifoPrefix = "fifo:";

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\n'; }

/// Parses all of `text` as a decimal int (optionally negative).
std::optional<int> ParseInt(std::string_view text) {
  int value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || text.empty()) return std::nullopt;
  return value;
}

/// The flag letters of a first word: MAKEFLAGS writes them without a dash
/// ("ks"; make prepends '-' when decoding, unless the word has '='), MFLAGS
/// with one ("-ks"). Anything else has none.
std::string_view FlagLetters(std::string_view word) {
  if (word.empty() || word.find('=') != std::string_view::npos) return {};
  if (word[0] != '-') return word;
  std::string_view letters = word.substr(1);
  for (char c : letters) {
    if (!isalpha(static_cast<unsigned char>(c))) return {};
  }
  return letters;
}

/// Only a value that does not start with a blank has flag letters; make
/// writes " -j8 ..." when there are none.
bool FirstWordRequestsDryRun(std::string_view text) {
  if (text.empty() || IsBlank(text[0])) return false;
  const std::vector<std::string> words = SplitMakeflags(text);
  return !words.empty() && FlagLetters(words[0]).find('n') != std::string_view::npos;
}

/// Records a `-j...`/`--jobs...` word; returns false if it is not one.
bool ParseJobsWord(std::string_view word, Auth& auth) {
  std::string_view number;
  if (word.starts_with("--jobs")) {
    number = word.substr(6);
    if (!number.empty() && number[0] != '=') return false;
    if (!number.empty()) number.remove_prefix(1);
  } else if (word.starts_with("-j")) {
    number = word.substr(2);
  } else {
    return false;
  }
  auto slots = ParseInt(number);
  auth.job_slots = slots && *slots > 0 ? *slots : 0;
  return true;
}

Status ApplyAuthValue(std::string_view value, Auth& auth) {
  auth.auth_text = std::string(value);
  auth.style = AuthStyle::kNone;
  auth.read_fd = auth.write_fd = -1;
  auth.fifo_path.clear();
  auth.disabled = false;
  if (value.empty()) {
    return Error{ErrorKind::kInvalid, "empty --jobserver-auth value"};
  }
  if (value.starts_with(kFifoPrefix)) {
    auth.fifo_path = std::string(value.substr(kFifoPrefix.size()));
    if (auth.fifo_path.empty()) {
      return Error{ErrorKind::kInvalid, "--jobserver-auth=fifo: names no path"};
    }
    auth.style = AuthStyle::kFifo;
    return {};
  }
  const size_t comma = value.find(',');
  if (comma == std::string_view::npos) {
    return Error{ErrorKind::kUnusable,
                 "unsupported jobserver style '" + std::string(value) +
                     "' (expected R,W or fifo:PATH; a Windows semaphore cannot be used here)"};
  }
  auto read_fd = ParseInt(value.substr(0, comma));
  auto write_fd = ParseInt(value.substr(comma + 1));
  if (!read_fd || !write_fd) {
    return Error{ErrorKind::kInvalid, "malformed jobserver fds '" + std::string(value) +
                                          "' (expected two integers R,W)"};
  }
  if (*read_fd < 0 || *write_fd < 0) {
    auth.disabled = true;  // make 4.4: "-2,-2" for non-recursive children.
    return {};
  }
  auth.read_fd = *read_fd;
  auth.write_fd = *write_fd;
  auth.style = AuthStyle::kPipe;
  return {};
}

}  // namespace

std::vector<std::string> SplitMakeflags(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (IsBlank(c)) {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
      continue;
    }
    if (c == '\\' && i + 1 < text.size()) c = text[++i];
    word.push_back(c);
    in_word = true;
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

std::string EscapeForMakeflags(std::string_view word) {
  std::string escaped;
  escaped.reserve(word.size());
  for (char c : word) {
    if (IsBlank(c) || c == '\\') escaped.push_back('\\');
    escaped.push_back(c);
  }
  return escaped;
}

Result<Auth> ParseMakeflags(std::string_view text) {
  Auth auth;
  const std::vector<std::string> words = SplitMakeflags(text);
  // Only a raw first word that starts with a blank has no flag letters; make
  // writes " -j8 ..." in that case, which splits to "-j8".
  auth.dry_run = FirstWordRequestsDryRun(text);
  std::optional<std::string_view> last_auth;
  for (const std::string& word : words) {
    if (word == "--") break;
    std::string_view view = word;
    if (view.starts_with(kAuthPrefix)) {
      last_auth = view.substr(kAuthPrefix.size());
    } else if (view.starts_with(kFdsPrefix)) {
      last_auth = view.substr(kFdsPrefix.size());
    } else {
      ParseJobsWord(view, auth);
    }
  }
  if (last_auth) {
    Status applied = ApplyAuthValue(*last_auth, auth);
    if (!applied) return applied.error();
  }
  return auth;
}

MakeflagsEnvironment MakeflagsEnvironment::FromProcess() {
  auto get = [](const char* name) -> std::optional<std::string> {
    const char* value = getenv(name);
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
  return {get("MAKEFLAGS"), get("CARGO_MAKEFLAGS"), get("MFLAGS")};
}

bool DryRunRequested(const MakeflagsEnvironment& env) {
  // make's to say, whichever variable supplies the pool: MAKEFLAGS, or MFLAGS
  // when MAKEFLAGS is unset (cargo never sets it).
  const std::optional<std::string>& make_flags = env.makeflags ? env.makeflags : env.mflags;
  return make_flags && FirstWordRequestsDryRun(*make_flags);
}

Result<Auth> ChooseAuth(const MakeflagsEnvironment& env) {
  const std::pair<const char*, const std::optional<std::string>*> candidates[] = {
      {"MAKEFLAGS", &env.makeflags},
      {"CARGO_MAKEFLAGS", &env.cargo_makeflags},
      {"MFLAGS", &env.mflags},
  };
  const bool dry_run = DryRunRequested(env);
  for (const auto& [name, value] : candidates) {
    if (!value->has_value()) continue;
    Result<Auth> parsed = ParseMakeflags(**value);
    if (!parsed.ok()) {
      return Error{parsed.error().kind, std::string(name) + ": " + parsed.error().message};
    }
    if (parsed->style != AuthStyle::kNone || parsed->disabled) {
      parsed->variable = name;
      parsed->dry_run = dry_run;
      return parsed;
    }
  }
  Auth none;
  none.dry_run = dry_run;
  return none;
}

}  // namespace jobserver
