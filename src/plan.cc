#include "src/plan.h"

#include <inttypes.h>
#include <stdio.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <set>
#include <span>
#include <utility>

#include <toml++/toml.h>

#include "src/atomic_file.h"

namespace tierun {

using jobserver::Error;
using jobserver::ErrorKind;
using jobserver::Result;
using jobserver::Status;
using nlohmann::json;

namespace {

constexpr std::string_view kPlaceholders[] = {"experiment", "tier",    "subtest",
                                              "run",        "attempt", "run_dir"};
constexpr int64_t kMaxInt = std::numeric_limits<int>::max();
constexpr int64_t kMaxInt64 = std::numeric_limits<int64_t>::max();
constexpr int64_t kMaxSubtestCount = 10000;

template <typename Words>
std::string Join(const Words& words, std::string_view separator) {
  std::string text;
  for (const auto& word : words) {
    if (!text.empty()) text += separator;
    text += word;
  }
  return text;
}

std::string Range(int64_t min, int64_t max) {
  if (max == kMaxInt || max == kMaxInt64) return ">= " + std::to_string(min);
  return "from " + std::to_string(min) + " to " + std::to_string(max);
}

bool IsIdChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

/// Why `id` cannot name a directory under the results directory, if it
/// cannot: with no '/' and no "..", a run directory stays inside.
std::optional<std::string> IdProblem(const std::string& id) {
  if (id.empty()) return "expected an id, got an empty string";
  for (char c : id) {
    if (!IsIdChar(c)) {
      return "invalid character '" + std::string(1, c) + "' in id '" + id +
             "'; ids match [A-Za-z0-9._-]+";
    }
  }
  if (id == ".") return "'.' is not a valid id";
  // Beside the report files of its level, a run directory must not collide.
  if (id[0] == '.') return "id '" + id + "' must not start with '.'";
  for (const char* reserved :
       {"report.json", "report.md", "junit.xml", "plan.json", "events.jsonl"}) {
    if (id == reserved) return "id '" + id + "' is reserved for tierun's reports";
  }
  if (id.find("..") != std::string::npos) return "id '" + id + "' must not contain '..'";
  return std::nullopt;
}

bool IsPlaceholder(std::string_view name) {
  return std::find(std::begin(kPlaceholders), std::end(kPlaceholders), name) !=
         std::end(kPlaceholders);
}

/// Every '{' must open a known placeholder: a typo like {subtset} would
/// otherwise reach the agent as literal text, silently, in every run.
std::optional<std::string> PlaceholderProblem(const std::string& word) {
  for (size_t open = word.find('{'); open != std::string::npos; open = word.find('{', open + 1)) {
    const size_t close = word.find('}', open);
    if (close == std::string::npos) return "unclosed '{' in '" + word + "'";
    const std::string_view name = std::string_view(word).substr(open + 1, close - open - 1);
    if (!IsPlaceholder(name)) {
      std::vector<std::string> known;
      for (std::string_view placeholder : kPlaceholders) {
        known.push_back("{" + std::string(placeholder) + "}");
      }
      return "unknown placeholder '{" + std::string(name) + "}' in '" + word +
             "'; expected one of: " + Join(known, ", ");
    }
  }
  return std::nullopt;
}

/// "a string", "an empty array": what the user wrote, for "expected X, got Y".
std::string TypeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return node.as_array()->empty() ? "an empty array" : "an array";
    case toml::node_type::string:
      return node.as_string()->get().empty() ? "an empty string" : "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

std::string Child(const std::string& prefix, std::string_view key) {
  return prefix + "." + std::string(key);
}

std::string Element(const std::string& path, size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

template <typename T>
Status Assign(Result<T> value, T& out) {
  if (!value) return value.error();
  out = std::move(*value);
  return {};
}

bool Before(const toml::source_position& a, const toml::source_position& b) {
  return a.line != b.line ? a.line < b.line : a.column < b.column;
}

/// The unknown key written first in the file (tables iterate by name).
const toml::key* FirstUnknownKey(const toml::table& table,
                                 std::span<const std::string_view> allowed) {
  const toml::key* unknown = nullptr;
  for (auto&& [key, value] : table) {
    if (std::find(allowed.begin(), allowed.end(), key.str()) != allowed.end()) continue;
    if (unknown == nullptr || Before(key.source().begin, unknown->source().begin)) unknown = &key;
  }
  return unknown;
}

/// Turns toml++ nodes into plan values. Every error starts with the position
/// of the node at fault, so an editor can jump straight to it.
class TomlReader {
 public:
  explicit TomlReader(const std::string& source) : source_(source) {}

  Error At(const toml::source_region& where, const std::string& message) const {
    return Error{ErrorKind::kInvalid, source_ + ":" + std::to_string(where.begin.line) + ":" +
                                          std::to_string(where.begin.column) + ": " + message};
  }
  Error At(const toml::node& node, const std::string& message) const {
    return At(node.source(), message);
  }
  Error Expected(const toml::node& node, const std::string& path, const std::string& what) const {
    return At(node, path + ": expected " + what + ", got " + TypeName(node));
  }

  Status CheckKeys(const toml::table& table, const std::string& label,
                   std::initializer_list<std::string_view> allowed) const {
    const toml::key* unknown = FirstUnknownKey(table, allowed);
    if (unknown == nullptr) return {};
    return At(unknown->source(), "unknown key '" + std::string(unknown->str()) + "' in " + label +
                                     "; expected one of: " + Join(allowed, ", "));
  }

  /// A key the plan cannot do without; its absence is reported at the table.
  Result<const toml::node*> Required(const toml::table& table, std::string_view key,
                                     const std::string& label) const {
    const toml::node* node = table.get(key);
    if (node == nullptr) return At(table, "missing key '" + std::string(key) + "' in " + label);
    return node;
  }

  /// parent[key] as a table; nullptr when absent.
  Result<const toml::table*> Table(const toml::table& parent, std::string_view key,
                                   const std::string& path) const {
    const toml::node* node = parent.get(key);
    if (node == nullptr) return static_cast<const toml::table*>(nullptr);
    if (!node->is_table()) return Expected(*node, path, "a table");
    return node->as_table();
  }

  Result<int> Int(const toml::node& node, const std::string& path, int64_t min, int64_t max) const {
    if (!node.is_integer()) return Expected(node, path, "an integer");
    const int64_t value = node.as_integer()->get();
    if (value < min || value > max) {
      return At(node, path + ": expected an integer " + Range(min, max) + ", got " +
                          std::to_string(value));
    }
    return static_cast<int>(value);
  }

  Result<std::string> String(const toml::node& node, const std::string& path) const {
    if (!node.is_string() || node.as_string()->get().empty()) {
      return Expected(node, path, "a non-empty string");
    }
    return node.as_string()->get();
  }

  Result<std::string> Id(const toml::node& node, const std::string& path) const {
    if (!node.is_string()) return Expected(node, path, "an id");
    const std::string& id = node.as_string()->get();
    if (std::optional<std::string> problem = IdProblem(id)) return At(node, path + ": " + *problem);
    return id;
  }

  Result<Milliseconds> Duration(const toml::node& node, const std::string& path) const {
    if (!node.is_string()) return Expected(node, path, "a duration such as \"90s\"");
    const std::string& text = node.as_string()->get();
    if (std::optional<Milliseconds> duration = ParseDuration(text)) return *duration;
    return At(node, path + ": invalid duration '" + text +
                        "'; expected numbers with units h, m, s, ms, such as \"90s\" or \"1h30m\"");
  }

  /// A command word: a string whose '{' only ever opens a known placeholder.
  Result<std::string> Word(const toml::node& node, const std::string& path) const {
    if (!node.is_string()) return Expected(node, path, "a string");
    const std::string& word = node.as_string()->get();
    if (std::optional<std::string> problem = PlaceholderProblem(word)) {
      return At(node, path + ": " + *problem);
    }
    return word;
  }

  /// Reads each element of the array at `node` with `read`, as "path[i]".
  template <typename T, typename Read>
  Result<std::vector<T>> Array(const toml::node& node, const std::string& path,
                               const std::string& what, Read read) const {
    const toml::array* array = node.as_array();
    if (array == nullptr) return Expected(node, path, what);
    std::vector<T> values;
    for (size_t i = 0; i < array->size(); ++i) {
      Result<T> value = read((*array)[i], Element(path, i));
      if (!value) return value.error();
      values.push_back(std::move(*value));
    }
    return values;
  }

  // table[key] into `out` when present; an absent key keeps the default.
  Status OptionalInt(const toml::table& table, std::string_view key, const std::string& prefix,
                     int64_t min, int64_t max, int& out) const {
    const toml::node* node = table.get(key);
    return node == nullptr ? Status() : Assign(Int(*node, Child(prefix, key), min, max), out);
  }
  Status OptionalDuration(const toml::table& table, std::string_view key, const std::string& prefix,
                          Milliseconds& out) const {
    const toml::node* node = table.get(key);
    return node == nullptr ? Status() : Assign(Duration(*node, Child(prefix, key)), out);
  }
  Status OptionalString(const toml::table& table, std::string_view key, const std::string& prefix,
                        std::string& out) const {
    const toml::node* node = table.get(key);
    return node == nullptr ? Status() : Assign(String(*node, Child(prefix, key)), out);
  }

  /// Reads an [agent]-like table into `spec`: its command replaces the one
  /// in `spec`, its env is merged over `spec.env` key by key.
  Status Command(const toml::table& table, const std::string& label, const std::string& prefix,
                 CommandSpec& spec) const {
    Status status = CheckKeys(table, label, {"command", "env"});
    if (const toml::node* command = table.get("command"); status && command != nullptr) {
      status = Assign(Argv(*command, Child(prefix, "command")), spec.argv);
    }
    if (const toml::node* env = table.get("env"); status && env != nullptr) {
      status = MergeEnv(*env, Child(prefix, "env"), spec.env);
    }
    return status;
  }

 private:
  Result<std::vector<std::string>> Argv(const toml::node& node, const std::string& path) const {
    const std::string what = "a non-empty array of strings";
    if (node.is_array() && node.as_array()->empty()) return Expected(node, path, what);
    auto argv = Array<std::string>(
        node, path, what,
        [this](const toml::node& word, const std::string& at) { return Word(word, at); });
    if (argv && argv->front().empty()) {
      return At((*node.as_array())[0],
                Element(path, 0) + ": expected a program, got an empty string");
    }
    return argv;
  }

  Status MergeEnv(const toml::node& node, const std::string& path,
                  std::map<std::string, std::string>& env) const {
    if (!node.is_table()) return Expected(node, path, "a table of strings");
    for (auto&& [key, value] : *node.as_table()) {
      const std::string name(key.str());
      if (name.empty() || name.find('=') != std::string::npos) {
        return At(key.source(), path + ": invalid variable name '" + name + "'");
      }
      if (!value.is_string()) return Expected(value, Child(path, name), "a string");
      env[name] = value.as_string()->get();
    }
    return {};
  }

  std::string source_;
};

/// Where each tier's parts were written: dependency errors are found only
/// once every tier is read, and still point at the entry at fault.
struct TierNodes {
  const toml::node* id;
  std::vector<const toml::node*> depends_on;
};

enum class Mark { kNew, kOnPath, kDone };

/// Builds a Plan from a parsed document, checking everything DESIGN.md
/// section 4.2 promises; stops at the first error.
class PlanParser {
 public:
  explicit PlanParser(const std::string& source) : read_(source) { plan_.source = source; }

  Result<Plan> Parse(const toml::table& root) {
    Status status = CheckTopLevel(root);
    if (status) status = ReadExperiment(root);
    if (status) status = ReadRetry(root);
    if (status) status = ReadDefaults(root);
    if (status) status = ReadTiers(root);
    if (status) status = CheckDependencies();
    if (status) status = CheckCycles();
    if (!status) return status.error();
    return std::move(plan_);
  }

 private:
  Status CheckTopLevel(const toml::table& root) const;
  Status ReadExperiment(const toml::table& root);
  Status ReadRetry(const toml::table& root);
  Status ReadDefaults(const toml::table& root);
  Status ReadTiers(const toml::table& root);
  Status ReadTier(const toml::table& table);
  Status CheckUniqueId(const Tier& tier, const toml::node& id) const;
  Status ReadSubtests(const toml::table& table, std::vector<std::string>& subtests) const;
  Result<std::vector<std::string>> CountedSubtests(const toml::node& node) const;
  Status ReadDependsOn(const toml::table& table, Tier& tier, TierNodes& nodes) const;
  Status ReadTierCommands(const toml::table& table, Tier& tier) const;
  Status Override(const toml::table& table, const std::string& key, CommandSpec& spec) const;
  Status CheckDependencies() const;
  Status CheckCycles() const;
  Status Visit(size_t index, std::vector<Mark>& marks, std::vector<size_t>& path) const;
  size_t IndexOf(const std::string& id) const;

  TomlReader read_;
  Plan plan_;
  CommandSpec agent_;                 ///< [agent]: every tier starts from it.
  std::optional<CommandSpec> judge_;  ///< [judge], if the plan has one.
  std::vector<TierNodes> nodes_;      ///< Parallel to plan_.tiers.
};

Status PlanParser::CheckTopLevel(const toml::table& root) const {
  static constexpr std::string_view kTables[] = {"experiment", "agent", "judge", "retry", "tier"};
  const toml::key* unknown = FirstUnknownKey(root, kTables);
  if (unknown == nullptr) return {};
  const std::string name(unknown->str());
  const toml::node& node = *root.get(name);
  std::string what = "key '" + name + "' at top level";
  if (node.is_table()) what = "table [" + name + "]";
  if (node.is_array_of_tables()) what = "table [[" + name + "]]";
  return read_.At(unknown->source(),
                  "unknown " + what + "; expected one of: " + Join(kTables, ", "));
}

Status PlanParser::ReadExperiment(const toml::table& root) {
  auto table = read_.Table(root, "experiment", "experiment");
  if (!table) return table.error();
  if (*table == nullptr) return read_.At(root, "missing table [experiment]");
  const toml::table& experiment = **table;
  Status status =
      read_.CheckKeys(experiment, "[experiment]", {"name", "runs", "timeout", "results"});
  if (!status) return status;
  auto name = read_.Required(experiment, "name", "[experiment]");
  if (!name) return name.error();
  status = Assign(read_.Id(**name, "experiment.name"), plan_.name);
  if (status) status = read_.OptionalInt(experiment, "runs", "experiment", 1, kMaxInt, plan_.runs);
  if (status) status = read_.OptionalDuration(experiment, "timeout", "experiment", plan_.timeout);
  if (status) status = read_.OptionalString(experiment, "results", "experiment", plan_.results_dir);
  return status;
}

Status PlanParser::ReadRetry(const toml::table& root) {
  auto table = read_.Table(root, "retry", "retry");
  if (!table) return table.error();
  if (*table == nullptr) return {};
  const toml::table& retry = **table;
  RetryPolicy& policy = plan_.retry;
  Status status = read_.CheckKeys(
      retry, "[retry]", {"attempts", "backoff", "transient_exit_codes", "transient_stderr"});
  if (status) status = read_.OptionalInt(retry, "attempts", "retry", 1, kMaxInt, policy.attempts);
  if (status) status = read_.OptionalDuration(retry, "backoff", "retry", policy.backoff);
  if (const toml::node* codes = retry.get("transient_exit_codes"); status && codes != nullptr) {
    status = Assign(read_.Array<int>(*codes, "retry.transient_exit_codes", "an array of integers",
                                     [this](const toml::node& code, const std::string& path) {
                                       return read_.Int(code, path, 1, 255);
                                     }),
                    policy.transient_exit_codes);
  }
  if (const toml::node* texts = retry.get("transient_stderr"); status && texts != nullptr) {
    status =
        Assign(read_.Array<std::string>(*texts, "retry.transient_stderr", "an array of strings",
                                        [this](const toml::node& text, const std::string& path) {
                                          return read_.String(text, path);
                                        }),
               policy.transient_stderr);
  }
  return status;
}

Status PlanParser::ReadDefaults(const toml::table& root) {
  auto agent = read_.Table(root, "agent", "agent");
  if (!agent) return agent.error();
  if (*agent != nullptr) {
    if (Status status = read_.Command(**agent, "[agent]", "agent", agent_); !status) return status;
  }
  auto judge = read_.Table(root, "judge", "judge");
  if (!judge) return judge.error();
  if (*judge == nullptr) return {};
  judge_.emplace();
  return read_.Command(**judge, "[judge]", "judge", *judge_);
}

Status PlanParser::ReadTiers(const toml::table& root) {
  const toml::node* node = root.get("tier");
  const std::string none = "no tiers; add at least one [[tier]] table";
  if (node == nullptr) return read_.At(root, none);
  if (node->is_array() && node->as_array()->empty()) return read_.At(*node, "tier: " + none);
  if (!node->is_array_of_tables()) {
    return read_.Expected(*node, "tier", "an array of tables ([[tier]])");
  }
  for (const toml::node& tier : *node->as_array()) {
    if (Status status = ReadTier(*tier.as_table()); !status) return status;
  }
  return {};
}

Status PlanParser::ReadTier(const toml::table& table) {
  Status status = read_.CheckKeys(
      table, "[[tier]]", {"id", "subtests", "depends_on", "runs", "timeout", "agent", "judge"});
  if (!status) return status;
  auto id = read_.Required(table, "id", "[[tier]]");
  if (!id) return id.error();
  Tier tier;
  tier.subtests = {"00"};  // A tier that names no subtests runs as one.
  tier.runs = plan_.runs;
  tier.timeout = plan_.timeout;
  TierNodes nodes{*id, {}};
  status = Assign(read_.Id(**id, "tier.id"), tier.id);
  if (status) status = CheckUniqueId(tier, **id);
  if (status) status = ReadSubtests(table, tier.subtests);
  if (status) status = ReadDependsOn(table, tier, nodes);
  if (status) status = read_.OptionalInt(table, "runs", "tier", 1, kMaxInt, tier.runs);
  if (status) status = read_.OptionalDuration(table, "timeout", "tier", tier.timeout);
  if (status) status = ReadTierCommands(table, tier);
  if (!status) return status;
  plan_.tiers.push_back(std::move(tier));
  nodes_.push_back(std::move(nodes));
  return {};
}

Status PlanParser::CheckUniqueId(const Tier& tier, const toml::node& id) const {
  const size_t first = IndexOf(tier.id);
  if (first == plan_.tiers.size()) return {};
  return read_.At(id, "tier.id: duplicate tier id '" + tier.id + "' (first defined on line " +
                          std::to_string(nodes_[first].id->source().begin.line) + ")");
}

Status PlanParser::ReadSubtests(const toml::table& table,
                                std::vector<std::string>& subtests) const {
  const toml::node* node = table.get("subtests");
  if (node == nullptr) return {};
  if (node->is_integer()) return Assign(CountedSubtests(*node), subtests);
  const std::string what = "an array of ids or a count";
  if (node->is_array() && node->as_array()->empty())
    return read_.Expected(*node, "tier.subtests", what);
  auto ids = read_.Array<std::string>(
      *node, "tier.subtests", what,
      [this](const toml::node& id, const std::string& path) { return read_.Id(id, path); });
  if (!ids) return ids.error();
  std::set<std::string> seen;
  for (size_t i = 0; i < ids->size(); ++i) {
    if (!seen.insert((*ids)[i]).second) {
      return read_.At((*node->as_array())[i],
                      Element("tier.subtests", i) + ": duplicate subtest '" + (*ids)[i] + "'");
    }
  }
  subtests = std::move(*ids);
  return {};
}

/// `subtests = N` names them "00".."N-1", padded so they sort as numbers.
Result<std::vector<std::string>> PlanParser::CountedSubtests(const toml::node& node) const {
  auto count = read_.Int(node, "tier.subtests", 1, kMaxSubtestCount);
  if (!count) return count.error();
  const size_t width = std::max<size_t>(2, std::to_string(*count - 1).size());
  std::vector<std::string> subtests;
  for (int i = 0; i < *count; ++i) {
    const std::string digits = std::to_string(i);
    subtests.push_back(std::string(width - digits.size(), '0') + digits);
  }
  return subtests;
}

Status PlanParser::ReadDependsOn(const toml::table& table, Tier& tier, TierNodes& nodes) const {
  const toml::node* node = table.get("depends_on");
  if (node == nullptr) return {};
  auto ids = read_.Array<std::string>(
      *node, "tier.depends_on", "an array of tier ids",
      [this](const toml::node& id, const std::string& path) { return read_.Id(id, path); });
  if (!ids) return ids.error();
  tier.depends_on = std::move(*ids);
  for (const toml::node& id : *node->as_array()) nodes.depends_on.push_back(&id);
  return {};
}

Status PlanParser::ReadTierCommands(const toml::table& table, Tier& tier) const {
  tier.agent = agent_;
  tier.judge = judge_;
  Status status = Override(table, "agent", tier.agent);
  if (status && table.contains("judge")) {
    if (!tier.judge) tier.judge.emplace();
    status = Override(table, "judge", *tier.judge);
  }
  if (status && tier.agent.argv.empty()) {
    status = read_.At(table, "tier '" + tier.id +
                                 "' has no agent command; set command in [agent] or in the "
                                 "tier's agent table");
  }
  if (status && tier.judge && tier.judge->argv.empty()) {
    status = read_.At(table, "tier '" + tier.id +
                                 "' has no judge command; set command in [judge] or in the "
                                 "tier's judge table");
  }
  return status;
}

Status PlanParser::Override(const toml::table& table, const std::string& key,
                            CommandSpec& spec) const {
  auto override = read_.Table(table, key, "tier." + key);
  if (!override) return override.error();
  if (*override == nullptr) return {};
  return read_.Command(**override, "[tier." + key + "]", "tier." + key, spec);
}

Status PlanParser::CheckDependencies() const {
  for (size_t t = 0; t < plan_.tiers.size(); ++t) {
    const Tier& tier = plan_.tiers[t];
    for (size_t d = 0; d < tier.depends_on.size(); ++d) {
      const std::string& id = tier.depends_on[d];
      const toml::node& node = *nodes_[t].depends_on[d];
      const std::string path = Element("tier.depends_on", d);
      if (id == tier.id) return read_.At(node, path + ": tier '" + id + "' depends on itself");
      if (IndexOf(id) == plan_.tiers.size()) {
        std::vector<std::string> known;
        for (const Tier& other : plan_.tiers) known.push_back(other.id);
        return read_.At(
            node, path + ": unknown tier '" + id + "'; expected one of: " + Join(known, ", "));
      }
      if (std::find(tier.depends_on.begin(), tier.depends_on.begin() + d, id) !=
          tier.depends_on.begin() + d) {
        return read_.At(node, path + ": duplicate dependency '" + id + "'");
      }
    }
  }
  return {};
}

Status PlanParser::CheckCycles() const {
  std::vector<Mark> marks(plan_.tiers.size(), Mark::kNew);
  std::vector<size_t> path;
  for (size_t t = 0; t < plan_.tiers.size(); ++t) {
    if (marks[t] != Mark::kNew) continue;
    if (Status status = Visit(t, marks, path); !status) return status;
  }
  return {};
}

/// Depth-first search over depends_on; `path` holds the tiers being
/// visited, so an edge back into it closes a cycle, reported from its start.
Status PlanParser::Visit(size_t index, std::vector<Mark>& marks, std::vector<size_t>& path) const {
  marks[index] = Mark::kOnPath;
  path.push_back(index);
  const Tier& tier = plan_.tiers[index];
  for (size_t d = 0; d < tier.depends_on.size(); ++d) {
    const size_t next = IndexOf(tier.depends_on[d]);
    if (marks[next] == Mark::kOnPath) {
      std::vector<std::string> cycle;
      auto start = std::find(path.begin(), path.end(), next);
      for (auto it = start; it != path.end(); ++it) cycle.push_back(plan_.tiers[*it].id);
      cycle.push_back(plan_.tiers[next].id);
      return read_.At(*nodes_[index].depends_on[d],
                      Element("tier.depends_on", d) + ": dependency cycle: " + Join(cycle, " -> "));
    }
    if (marks[next] != Mark::kNew) continue;
    if (Status status = Visit(next, marks, path); !status) return status;
  }
  path.pop_back();
  marks[index] = Mark::kDone;
  return {};
}

/// plan_.tiers.size() when there is no such tier (yet).
size_t PlanParser::IndexOf(const std::string& id) const {
  for (size_t i = 0; i < plan_.tiers.size(); ++i) {
    if (plan_.tiers[i].id == id) return i;
  }
  return plan_.tiers.size();
}

Result<toml::table> ParseToml(std::string_view text, const std::string& source) {
  try {
    return toml::parse(text, std::string_view(source));
  } catch (const toml::parse_error& error) {
    const toml::source_position where = error.source().begin;
    return Error{ErrorKind::kInvalid, source + ":" + std::to_string(where.line) + ":" +
                                          std::to_string(where.column) + ": " +
                                          std::string(error.description())};
  }
}

json CommandToJson(const CommandSpec& spec) { return json{{"argv", spec.argv}, {"env", spec.env}}; }

json TierToJson(const Tier& tier) {
  return json{{"id", tier.id},
              {"subtests", tier.subtests},
              {"depends_on", tier.depends_on},
              {"runs", tier.runs},
              {"timeout_ms", tier.timeout.count()},
              {"agent", CommandToJson(tier.agent)},
              {"judge", tier.judge ? CommandToJson(*tier.judge) : json(nullptr)}};
}

/// Reads plan.json back. The first problem is kept and later reads return
/// empty values, so PlanFromJson reads as the list of fields it expects.
class JsonReader {
 public:
  bool ok() const { return !problem_.has_value(); }
  const std::string& problem() const { return *problem_; }

  void Fail(const std::string& path, const std::string& message) {
    if (ok()) problem_ = (path.empty() ? "" : path + ": ") + message;
  }

  /// object[key], or null (and a problem) when there is no such key.
  const json& Field(const json& object, const char* key, const std::string& path) {
    static const json kNull;
    if (!object.is_object()) {
      Fail(path, "expected an object, got " + std::string(object.type_name()));
      return kNull;
    }
    const auto it = object.find(key);
    if (it != object.end()) return *it;
    Fail(path, "missing key '" + std::string(key) + "'");
    return kNull;
  }

  int64_t Int(const json& object, const char* key, const std::string& parent, int64_t min,
              int64_t max) {
    const json& value = Field(object, key, parent);
    if (value.is_number_integer() && value.get<int64_t>() >= min && value.get<int64_t>() <= max) {
      return value.get<int64_t>();
    }
    if (ok()) Fail(Path(parent, key), "expected an integer " + Range(min, max));
    return min;
  }

  std::string String(const json& value, const std::string& path, bool id) {
    if (!value.is_string()) {
      Fail(path, "expected a string, got " + std::string(value.type_name()));
      return {};
    }
    const std::string& text = value.get_ref<const std::string&>();
    if (std::optional<std::string> problem = IdProblem(text); id && problem) Fail(path, *problem);
    return text;
  }

  std::vector<std::string> Strings(const json& object, const char* key, const std::string& parent,
                                   bool ids) {
    const json& array = Field(object, key, parent);
    const std::string path = Path(parent, key);
    if (!array.is_array() && ok()) Fail(path, "expected an array");
    std::vector<std::string> strings;
    for (size_t i = 0; ok() && i < array.size(); ++i) {
      strings.push_back(String(array[i], Element(path, i), ids));
    }
    return strings;
  }

  std::optional<CommandSpec> Command(const json& object, const char* key, const std::string& parent,
                                     bool optional);

  static std::string Path(const std::string& parent, std::string_view key) {
    return parent.empty() ? std::string(key) : Child(parent, key);
  }

 private:
  std::optional<std::string> problem_;
};

std::optional<CommandSpec> JsonReader::Command(const json& object, const char* key,
                                               const std::string& parent, bool optional) {
  const json& value = Field(object, key, parent);
  if (optional && value.is_null()) return std::nullopt;
  const std::string path = Path(parent, key);
  CommandSpec spec;
  spec.argv = Strings(value, "argv", path, false);
  if (ok() && spec.argv.empty()) Fail(Path(path, "argv"), "expected a non-empty array");
  const json& env = Field(value, "env", path);
  if (ok() && !env.is_object()) Fail(Path(path, "env"), "expected an object");
  for (auto it = env.begin(); ok() && env.is_object() && it != env.end(); ++it) {
    spec.env[it.key()] = String(it.value(), Child(Path(path, "env"), it.key()), false);
  }
  return spec;
}

RetryPolicy RetryFromJson(JsonReader& read, const json& plan) {
  RetryPolicy retry;
  const json& object = read.Field(plan, "retry", "");
  retry.attempts = static_cast<int>(read.Int(object, "attempts", "retry", 1, kMaxInt));
  retry.backoff = Milliseconds(read.Int(object, "backoff_ms", "retry", 0, kMaxInt64));
  const json& codes = read.Field(object, "transient_exit_codes", "retry");
  if (read.ok() && !codes.is_array()) read.Fail("retry.transient_exit_codes", "expected an array");
  for (size_t i = 0; read.ok() && codes.is_array() && i < codes.size(); ++i) {
    const json& code = codes[i];
    if (!code.is_number_integer() || code.get<int64_t>() < 1 || code.get<int64_t>() > 255) {
      read.Fail(Element("retry.transient_exit_codes", i), "expected an integer from 1 to 255");
    } else {
      retry.transient_exit_codes.push_back(code.get<int>());
    }
  }
  retry.transient_stderr = read.Strings(object, "transient_stderr", "retry", false);
  return retry;
}

Tier TierFromJson(JsonReader& read, const json& object, const std::string& path) {
  Tier tier;
  if (!read.ok()) return tier;
  tier.id = read.String(read.Field(object, "id", path), JsonReader::Path(path, "id"), true);
  tier.subtests = read.Strings(object, "subtests", path, true);
  tier.depends_on = read.Strings(object, "depends_on", path, true);
  tier.runs = static_cast<int>(read.Int(object, "runs", path, 1, kMaxInt));
  tier.timeout = Milliseconds(read.Int(object, "timeout_ms", path, 0, kMaxInt64));
  tier.agent = read.Command(object, "agent", path, false).value_or(CommandSpec());
  tier.judge = read.Command(object, "judge", path, true);
  return tier;
}

}  // namespace

Result<Plan> ParsePlan(std::string_view text, const std::string& source) {
  Result<toml::table> root = ParseToml(text, source);
  if (!root) return root.error();
  return PlanParser(source).Parse(*root);
}

Result<Plan> LoadPlan(const std::string& path) {
  Result<std::string> text = ReadWholeFile(path);
  // Unreadable counts as invalid input, like a missing file: the user's to fix.
  if (!text) return Error{ErrorKind::kInvalid, text.error().message};
  return ParsePlan(*text, path);
}

json PlanToJson(const Plan& plan) {
  json tiers = json::array();
  for (const Tier& tier : plan.tiers) tiers.push_back(TierToJson(tier));
  return json{{"name", plan.name},
              {"runs", plan.runs},
              {"timeout_ms", plan.timeout.count()},
              {"retry",
               {{"attempts", plan.retry.attempts},
                {"backoff_ms", plan.retry.backoff.count()},
                {"transient_exit_codes", plan.retry.transient_exit_codes},
                {"transient_stderr", plan.retry.transient_stderr}}},
              {"tiers", tiers}};
}

Result<Plan> PlanFromJson(const json& value, const std::string& source) {
  JsonReader read;
  Plan plan;
  plan.source = source;
  plan.name = read.String(read.Field(value, "name", ""), "name", true);
  plan.runs = static_cast<int>(read.Int(value, "runs", "", 1, kMaxInt));
  plan.timeout = Milliseconds(read.Int(value, "timeout_ms", "", 0, kMaxInt64));
  plan.retry = RetryFromJson(read, value);
  const json& tiers = read.Field(value, "tiers", "");
  if (read.ok() && !tiers.is_array()) read.Fail("tiers", "expected an array");
  for (size_t i = 0; read.ok() && tiers.is_array() && i < tiers.size(); ++i) {
    plan.tiers.push_back(TierFromJson(read, tiers[i], Element("tiers", i)));
  }
  if (!read.ok()) return Error{ErrorKind::kInvalid, source + ": " + read.problem()};
  return plan;
}

std::string PlanHash(const Plan& plan) {
  // Replacing invalid UTF-8 keeps dump() from throwing; TOML text never has any.
  const std::string text = PlanToJson(plan).dump(-1, ' ', false, json::error_handler_t::replace);
  uint64_t hash = 14695981039346656037ull;  // FNV-1a: stable across builds, unlike std::hash.
  for (unsigned char byte : text) {
    hash ^= byte;
    hash *= 1099511628211ull;
  }
  char hex[17];
  snprintf(hex, sizeof hex, "%016" PRIx64, hash);
  return hex;
}

std::optional<Milliseconds> ParseDuration(std::string_view text) {
  // Largest unit first, each at most once: "1h30m", not "30m1h" or "1m1m".
  static constexpr std::pair<std::string_view, int64_t> kUnits[] = {
      {"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};
  if (text.empty()) return std::nullopt;
  int64_t total = 0;
  size_t next_unit = 0;
  while (!text.empty()) {
    int64_t number = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (error != std::errc() || end == text.data() || text[0] == '-') return std::nullopt;
    text.remove_prefix(static_cast<size_t>(end - text.data()));
    const size_t letters = std::min(text.find_first_not_of("hms"), text.size());
    const std::string_view unit = text.substr(0, letters);
    text.remove_prefix(letters);
    size_t u = next_unit;
    while (u < std::size(kUnits) && kUnits[u].first != unit) ++u;
    if (u == std::size(kUnits)) return std::nullopt;
    next_unit = u + 1;
    int64_t part = 0;
    if (__builtin_mul_overflow(number, kUnits[u].second, &part) ||
        __builtin_add_overflow(total, part, &total)) {
      return std::nullopt;
    }
  }
  return Milliseconds(total);
}

std::string ExpandPlaceholders(std::string_view word, const PlaceholderValues& values) {
  const std::pair<std::string_view, const std::string*> known[] = {
      {"{experiment}", &values.experiment}, {"{tier}", &values.tier},
      {"{subtest}", &values.subtest},       {"{run}", &values.run},
      {"{attempt}", &values.attempt},       {"{run_dir}", &values.run_dir}};
  std::string expanded;
  while (!word.empty()) {
    auto match = std::find_if(std::begin(known), std::end(known),
                              [&](const auto& entry) { return word.starts_with(entry.first); });
    if (match != std::end(known)) {
      expanded += *match->second;
      word.remove_prefix(match->first.size());
    } else {
      expanded += word.front();
      word.remove_prefix(1);
    }
  }
  return expanded;
}

}  // namespace tierun
