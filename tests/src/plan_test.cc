#include "src/plan.h"

#include <stdio.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <ostream>
#include <string>

#include <gtest/gtest.h>

#include "tests/support/scoped_temp_dir.h"

namespace tierun {

// Readable failures: a Plan prints as its JSON plus the fields JSON leaves out.
void PrintTo(const Plan& plan, std::ostream* os) {
  *os << "source=" << plan.source << " results_dir=" << plan.results_dir << " "
      << PlanToJson(plan).dump(2);
}

namespace {

using namespace std::chrono_literals;

constexpr char kSource[] = "plan.toml";

// The plan of docs/design.md section 4.2 (three tiers, a dependency and
// per-tier overrides), writing to out/.
constexpr char kFullPlan[] = R"([experiment]
name = "demo"
runs = 3                       # runs per sub-test
timeout = "10m"                # per attempt
results = "out"

[agent]
command = ["examples/agents/fake-agent", "--tier", "{tier}", "--subtest", "{subtest}"]
env = { MODEL = "small" }

[judge]
command = ["examples/agents/fake-judge", "{run_dir}"]

[retry]
attempts = 3
backoff = "1s"
transient_exit_codes = [75]
transient_stderr = ["connection reset", "rate limit"]

[[tier]]
id = "T0"
subtests = ["00-baseline", "01-terse"]

[[tier]]
id = "T1"
subtests = 24
runs = 5
timeout = "1h30m"
agent = { command = ["examples/agents/other", "{run_dir}"], env = { EFFORT = "high" } }

[[tier]]
id = "T5"
depends_on = ["T0", "T1"]
agent = { env = { SKILLS = "all", MODEL = "large" } }
judge = { env = { STRICT = "1" } }
)";

constexpr char kMinimalPlan[] = R"([experiment]
name = "mini"

[[tier]]
id = "only"
agent = { command = ["true"] }
)";

Plan ExpectedFullPlan() {
  const CommandSpec agent{
      {"examples/agents/fake-agent", "--tier", "{tier}", "--subtest", "{subtest}"},
      {{"MODEL", "small"}}};
  const CommandSpec judge{{"examples/agents/fake-judge", "{run_dir}"}, {}};
  std::vector<std::string> numbered;
  for (int i = 0; i < 24; ++i) numbered.push_back((i < 10 ? "0" : "") + std::to_string(i));
  Plan plan;
  plan.source = kSource;
  plan.name = "demo";
  plan.runs = 3;
  plan.timeout = 10min;
  plan.results_dir = "out";
  plan.retry = {3, 1s, {75}, {"connection reset", "rate limit"}};
  plan.tiers = {
      {"T0", {"00-baseline", "01-terse"}, {}, 3, 10min, agent, judge},
      {"T1",
       numbered,
       {},
       5,
       90min,
       {{"examples/agents/other", "{run_dir}"}, {{"EFFORT", "high"}, {"MODEL", "small"}}},
       judge},
      {"T5",
       {"00"},
       {"T0", "T1"},
       3,
       10min,
       {agent.argv, {{"MODEL", "large"}, {"SKILLS", "all"}}},
       CommandSpec{judge.argv, {{"STRICT", "1"}}}},
  };
  return plan;
}

// One tier as JSON, so a mismatch shows which tier and field differ.
nlohmann::json TierJson(const Tier& tier) {
  Plan plan;
  plan.tiers = {tier};
  return PlanToJson(plan)["tiers"][0];
}

Plan ParseOrDie(std::string_view text) {
  jobserver::Result<Plan> plan = ParsePlan(text, kSource);
  EXPECT_TRUE(plan.ok()) << plan.error().message;
  return plan.ok() ? *plan : Plan();
}

// The design's example, extended, comes out with defaults applied and
// overrides merged: command replaces, env merges key by key.
TEST(PlanTest, ParsesFullPlan) {
  jobserver::Result<Plan> plan = ParsePlan(kFullPlan, kSource);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  const Plan expected = ExpectedFullPlan();
  ASSERT_EQ(plan->tiers.size(), expected.tiers.size());
  for (size_t i = 0; i < expected.tiers.size(); ++i) {
    EXPECT_EQ(TierJson(plan->tiers[i]), TierJson(expected.tiers[i])) << "tier " << i;
  }
  EXPECT_EQ(*plan, expected);
}

// Everything left out takes its documented default.
TEST(PlanTest, AppliesDefaults) {
  Plan expected;
  expected.source = kSource;
  expected.name = "mini";
  expected.tiers = {{"only", {"00"}, {}, 1, 0ms, {{"true"}, {}}, std::nullopt}};
  EXPECT_EQ(ParseOrDie(kMinimalPlan), expected);
  EXPECT_EQ(expected.results_dir, "results");
  EXPECT_EQ(expected.retry, (RetryPolicy{1, 1000ms, {}, {}}));
}

// `subtests = N` pads to the widest number, never below two digits.
TEST(PlanTest, CountedSubtestsAreZeroPadded) {
  const struct {
    int count;
    const char* first;
    const char* last;
  } kCases[] = {{1, "00", "00"},
                {10, "00", "09"},
                {100, "00", "99"},
                {101, "000", "100"},
                {10000, "0000", "9999"}};
  for (const auto& c : kCases) {
    const std::string text = std::string(kMinimalPlan) + "subtests = " + std::to_string(c.count);
    const Plan plan = ParseOrDie(text);
    ASSERT_EQ(plan.tiers.size(), 1u);
    const std::vector<std::string>& subtests = plan.tiers[0].subtests;
    ASSERT_EQ(subtests.size(), static_cast<size_t>(c.count)) << c.count;
    EXPECT_EQ(subtests.front(), c.first) << c.count;
    EXPECT_EQ(subtests.back(), c.last) << c.count;
  }
}

// A tier's agent command alone is enough: [agent] is optional then.
TEST(PlanTest, JudgeOnlyWhereConfigured) {
  const Plan plan = ParseOrDie(std::string(kMinimalPlan) + R"(
[[tier]]
id = "judged"
judge = { command = ["check", "{run_dir}"] }
agent = { command = ["run", "{attempt}"], env = { A = "1" } }
)");
  ASSERT_EQ(plan.tiers.size(), 2u);
  EXPECT_EQ(plan.tiers[0].judge, std::nullopt);
  EXPECT_EQ(plan.tiers[1].judge, (CommandSpec{{"check", "{run_dir}"}, {}}));
  EXPECT_EQ(plan.tiers[1].agent, (CommandSpec{{"run", "{attempt}"}, {{"A", "1"}}}));
}

struct BadPlan {
  const char* what;
  const char* text;
  const char* message;
};

// Each malformed plan fails with exactly this message: the position of the
// node at fault and what was expected there.
const BadPlan kBadPlans[] = {
    {"toml syntax: unquoted string", R"([experiment]
name = demo
)",
     "plan.toml:2:8: Error while parsing value: could not determine value type"},
    {"toml syntax: unclosed header", R"([experiment
name = "demo"
)",
     "plan.toml:1:12: Error while parsing table header: expected ']', saw '\\n'"},
    {"no [experiment]", R"([agent]
command = ["run"]

[[tier]]
id = "T0"
)",
     "plan.toml:1:1: missing table [experiment]"},
    {"[experiment] not a table", R"(experiment = "demo"
)",
     "plan.toml:1:14: experiment: expected a table, got a string"},
    {"missing name", R"([experiment]
runs = 2

[[tier]]
id = "T0"
agent = { command = ["run"] }
)",
     "plan.toml:1:1: missing key 'name' in [experiment]"},
    {"name with a blank", R"([experiment]
name = "my demo"
)",
     "plan.toml:2:8: experiment.name: invalid character ' ' in id 'my demo'; ids match "
     "[A-Za-z0-9._-]+"},
    {"name with a slash", R"([experiment]
name = "a/b"
)",
     "plan.toml:2:8: experiment.name: invalid character '/' in id 'a/b'; ids match "
     "[A-Za-z0-9._-]+"},
    {"name is '.'", R"([experiment]
name = "."
)",
     "plan.toml:2:8: experiment.name: '.' is not a valid id"},
    {"id with '..'", R"([experiment]
name = "demo"

[[tier]]
id = "a..b"
)",
     "plan.toml:5:6: tier.id: id 'a..b' must not contain '..'"},
    {"name empty", R"([experiment]
name = ""
)",
     "plan.toml:2:8: experiment.name: expected an id, got an empty string"},
    {"runs 0", R"([experiment]
name = "demo"
runs = 0
)",
     "plan.toml:3:8: experiment.runs: expected an integer >= 1, got 0"},
    {"runs as string", R"([experiment]
name = "demo"
runs = "3"
)",
     "plan.toml:3:8: experiment.runs: expected an integer, got a string"},
    {"runs as float", R"([experiment]
name = "demo"
runs = 1.5
)",
     "plan.toml:3:8: experiment.runs: expected an integer, got a float"},
    {"bad duration", R"([experiment]
name = "demo"
timeout = "10 minutes"
)",
     "plan.toml:3:11: experiment.timeout: invalid duration '10 minutes'; expected numbers with "
     "units h, m, s, ms, such as \"90s\" or \"1h30m\""},
    {"duration as integer", R"([experiment]
name = "demo"
timeout = 600
)",
     "plan.toml:3:11: experiment.timeout: expected a duration such as \"90s\", got an integer"},
    {"results empty", R"([experiment]
name = "demo"
results = ""
)",
     "plan.toml:3:11: experiment.results: expected a non-empty string, got an empty string"},
    {"unknown key", R"([experiment]
name = "demo"
runz = 3
)",
     "plan.toml:3:1: unknown key 'runz' in [experiment]; expected one of: name, runs, timeout, "
     "results"},
    {"unknown table", R"([experiment]
name = "demo"

[agnet]
command = ["run"]
)",
     "plan.toml:4:2: unknown table [agnet]; expected one of: experiment, agent, judge, retry, "
     "tier"},
    {"top-level key", R"(name = "demo"

[experiment]
name = "demo"
)",
     "plan.toml:1:1: unknown key 'name' at top level; expected one of: experiment, agent, judge, "
     "retry, tier"},
    {"no tiers", R"([experiment]
name = "demo"

[agent]
command = ["run"]
)",
     "plan.toml:1:1: no tiers; add at least one [[tier]] table"},
    {"tier as a table", R"([experiment]
name = "demo"

[tier]
id = "T0"
)",
     "plan.toml:4:1: tier: expected an array of tables ([[tier]]), got a table"},
    {"tier without id", R"([experiment]
name = "demo"

[[tier]]
subtests = 3
)",
     "plan.toml:4:1: missing key 'id' in [[tier]]"},
    {"duplicate tier id", R"([experiment]
name = "demo"

[agent]
command = ["run"]

[[tier]]
id = "T0"

[[tier]]
id = "T0"
)",
     "plan.toml:11:6: tier.id: duplicate tier id 'T0' (first defined on line 8)"},
    {"empty subtests", R"([experiment]
name = "demo"

[[tier]]
id = "T0"
subtests = []
)",
     "plan.toml:6:12: tier.subtests: expected an array of ids or a count, got an empty array"},
    {"subtests as string", R"([experiment]
name = "demo"

[[tier]]
id = "T0"
subtests = "00"
)",
     "plan.toml:6:12: tier.subtests: expected an array of ids or a count, got a string"},
    {"duplicate subtest", R"([experiment]
name = "demo"

[[tier]]
id = "T0"
subtests = ["a", "b", "a"]
)",
     "plan.toml:6:23: tier.subtests[2]: duplicate subtest 'a'"},
    {"bad subtest id", R"([experiment]
name = "demo"

[[tier]]
id = "T0"
subtests = ["ok", "../up"]
)",
     "plan.toml:6:19: tier.subtests[1]: invalid character '/' in id '../up'; ids match "
     "[A-Za-z0-9._-]+"},
    {"subtests 0", R"([experiment]
name = "demo"

[[tier]]
id = "T0"
subtests = 0
)",
     "plan.toml:6:12: tier.subtests: expected an integer from 1 to 10000, got 0"},
    {"subtests 10001", R"([experiment]
name = "demo"

[[tier]]
id = "T0"
subtests = 10001
)",
     "plan.toml:6:12: tier.subtests: expected an integer from 1 to 10000, got 10001"},
    {"depends_on unknown tier", R"([experiment]
name = "demo"

[agent]
command = ["run"]

[[tier]]
id = "T0"

[[tier]]
id = "T1"
depends_on = ["T0", "T9"]
)",
     "plan.toml:12:21: tier.depends_on[1]: unknown tier 'T9'; expected one of: T0, T1"},
    {"self-dependency", R"([experiment]
name = "demo"

[agent]
command = ["run"]

[[tier]]
id = "T0"
depends_on = ["T0"]
)",
     "plan.toml:9:15: tier.depends_on[0]: tier 'T0' depends on itself"},
    {"duplicate dependency", R"([experiment]
name = "demo"

[agent]
command = ["run"]

[[tier]]
id = "T0"

[[tier]]
id = "T1"
depends_on = ["T0", "T0"]
)",
     "plan.toml:12:21: tier.depends_on[1]: duplicate dependency 'T0'"},
    {"3-cycle", R"([experiment]
name = "demo"

[agent]
command = ["run"]

[[tier]]
id = "T0"

[[tier]]
id = "T1"
depends_on = ["T0", "T2"]

[[tier]]
id = "T2"
depends_on = ["T3"]

[[tier]]
id = "T3"
depends_on = ["T1"]
)",
     "plan.toml:20:15: tier.depends_on[0]: dependency cycle: T1 -> T2 -> T3 -> T1"},
    {"missing agent command", R"([experiment]
name = "demo"

[agent]
env = { MODEL = "small" }

[[tier]]
id = "T0"
)",
     "plan.toml:7:1: tier 'T0' has no agent command; set command in [agent] or in the tier's agent "
     "table"},
    {"empty command", R"([experiment]
name = "demo"

[agent]
command = []
)",
     "plan.toml:5:11: agent.command: expected a non-empty array of strings, got an empty array"},
    {"command as string", R"([experiment]
name = "demo"

[agent]
command = "run --fast"
)",
     "plan.toml:5:11: agent.command: expected a non-empty array of strings, got a string"},
    {"non-string command word", R"([experiment]
name = "demo"

[agent]
command = ["run", "--runs", 3]
)",
     "plan.toml:5:29: agent.command[2]: expected a string, got an integer"},
    {"empty program", R"([experiment]
name = "demo"

[agent]
command = ["", "x"]
)",
     "plan.toml:5:12: agent.command[0]: expected a program, got an empty string"},
    {"unknown placeholder", R"([experiment]
name = "demo"

[agent]
command = ["run", "--tier={tire}"]
)",
     "plan.toml:5:19: agent.command[1]: unknown placeholder '{tire}' in '--tier={tire}'; expected "
     "one of: {experiment}, {tier}, {subtest}, {run}, {attempt}, {run_dir}"},
    {"unclosed placeholder", R"([experiment]
name = "demo"

[agent]
command = ["run", "--out={run_dir"]
)",
     "plan.toml:5:19: agent.command[1]: unclosed '{' in '--out={run_dir'"},
    {"env not a table", R"([experiment]
name = "demo"

[agent]
command = ["run"]
env = ["MODEL=small"]
)",
     "plan.toml:6:7: agent.env: expected a table of strings, got an array"},
    {"env value not a string", R"([experiment]
name = "demo"

[agent]
command = ["run"]
env = { MODEL = "small", SEED = 42 }
)",
     "plan.toml:6:33: agent.env.SEED: expected a string, got an integer"},
    {"env name with '='", R"([experiment]
name = "demo"

[agent]
command = ["run"]
env = { "A=B" = "x" }
)",
     "plan.toml:6:9: agent.env: invalid variable name 'A=B'"},
    {"judge without command", R"([experiment]
name = "demo"

[agent]
command = ["run"]

[judge]
env = { STRICT = "1" }

[[tier]]
id = "T0"
)",
     "plan.toml:10:1: tier 'T0' has no judge command; set command in [judge] or in the tier's "
     "judge table"},
    {"judge placeholder", R"([experiment]
name = "demo"

[judge]
command = ["check", "{rundir}"]
)",
     "plan.toml:5:21: judge.command[1]: unknown placeholder '{rundir}' in '{rundir}'; expected one "
     "of: {experiment}, {tier}, {subtest}, {run}, {attempt}, {run_dir}"},
    {"retry attempts 0", R"([experiment]
name = "demo"

[retry]
attempts = 0
)",
     "plan.toml:5:12: retry.attempts: expected an integer from 1 to 100, got 0"},
    {"retry backoff", R"([experiment]
name = "demo"

[retry]
backoff = "1 s"
)",
     "plan.toml:5:11: retry.backoff: invalid duration '1 s'; expected numbers with units h, m, s, "
     "ms, such as \"90s\" or \"1h30m\""},
    {"transient exit code 300", R"([experiment]
name = "demo"

[retry]
transient_exit_codes = [75, 300]
)",
     "plan.toml:5:29: retry.transient_exit_codes[1]: expected an integer from 1 to 255, got 300"},
    {"transient stderr empty", R"([experiment]
name = "demo"

[retry]
transient_stderr = ["rate limit", ""]
)",
     "plan.toml:5:35: retry.transient_stderr[1]: expected a non-empty string, got an empty string"},
    {"retry unknown key", R"([experiment]
name = "demo"

[retry]
attempts = 2
delay = "1s"
)",
     "plan.toml:6:1: unknown key 'delay' in [retry]; expected one of: attempts, backoff, "
     "transient_exit_codes, transient_stderr"},
    {"tier unknown key", R"([experiment]
name = "demo"

[[tier]]
id = "T0"
subtest = 3
)",
     "plan.toml:6:1: unknown key 'subtest' in [[tier]]; expected one of: id, subtests, depends_on, "
     "runs, timeout, agent, judge"},
    {"tier agent unknown key", R"([experiment]
name = "demo"

[[tier]]
id = "T0"
agent = { comand = ["run"] }
)",
     "plan.toml:6:11: unknown key 'comand' in [tier.agent]; expected one of: command, env"},
    {"tier agent not a table", R"([experiment]
name = "demo"

[[tier]]
id = "T0"
agent = ["run"]
)",
     "plan.toml:6:9: tier.agent: expected a table, got an array"},
    {"tier runs 0", R"([experiment]
name = "demo"

[[tier]]
id = "T0"
runs = 0
)",
     "plan.toml:6:8: tier.runs: expected an integer >= 1, got 0"},
    {"tier timeout", R"([experiment]
name = "demo"

[[tier]]
id = "T0"
timeout = "30m1h"
)",
     "plan.toml:6:11: tier.timeout: invalid duration '30m1h'; expected numbers with units h, m, s, "
     "ms, such as \"90s\" or \"1h30m\""},
};

TEST(PlanTest, RejectsMalformedPlans) {
  for (const BadPlan& bad : kBadPlans) {
    jobserver::Result<Plan> plan = ParsePlan(bad.text, kSource);
    ASSERT_FALSE(plan.ok()) << bad.what;
    EXPECT_EQ(plan.error().kind, jobserver::ErrorKind::kInvalid) << bad.what;
    EXPECT_EQ(plan.error().message, bad.message) << bad.what;
  }
}

// A non-ASCII character where TOML allows only blanks is a parse error, not
// undefined behaviour: toml++ 3.3 reached __builtin_unreachable() asking
// whether it is a blank (marzer/tomlplusplus#295; found by fuzz/plan_fuzzer).
// The sanitizer build (make check-sanitize) aborts on it.
TEST(PlanTest, RejectsNonAsciiWhereBlanksGo) {
  const BadPlan kCases[] = {
      {"fuzzer's input: U+031F after a key",
       "[experiment]\nname \xcc\x9f\xdd\x9b"
       "emo\"\n\n[[tier]]\nid = \"T0\"\nagent = [\"run\"]\n",
       "plan.toml:2:6: Error while parsing key-value pair: expected '=', saw '\xcc\x9f'"},
      {"U+00E9 alone", "\xc3\xa9",
       "plan.toml:1:1: Error while parsing root table: expected keys, tables, whitespace or "
       "comments, saw '\xc3\xa9'"},
      {"U+00E9 after a value", "[experiment]\nname = \"demo\" \xc3\xa9\n",
       "plan.toml:2:15: Error while parsing key-value pair: expected a comment or whitespace, "
       "saw '\xc3\xa9'"},
      {"U+0434 before a value",
       "[experiment]\nname = \"demo\"\nruns =\xd0\xb4"
       "3\n",
       "plan.toml:3:7: Error while parsing value: could not determine value type"},
      {"U+3042 after a value", "[experiment]\nname = \"demo\"\nruns = 3 \xe3\x81\x82\n",
       "plan.toml:3:10: Error while parsing key-value pair: expected a comment or whitespace, "
       "saw '\xe3\x81\x82'"},
      // Past the blanks the string is read, and the id check rejects it.
      {"U+00A7 after a line-ending backslash", "[experiment]\nname = \"\"\"\\\n\xc2\xa7\"\"\"\n",
       "plan.toml:2:8: experiment.name: invalid character '\xc2' in id '\xc2\xa7'; ids match "
       "[A-Za-z0-9._-]+"},
  };
  for (const BadPlan& bad : kCases) {
    jobserver::Result<Plan> plan = ParsePlan(bad.text, kSource);
    ASSERT_FALSE(plan.ok()) << bad.what;
    EXPECT_EQ(plan.error().kind, jobserver::ErrorKind::kInvalid) << bad.what;
    EXPECT_EQ(plan.error().message, bad.message) << bad.what;
  }
}

// Units largest first, each at most once, whole non-negative numbers only.
TEST(PlanTest, ParsesDurations) {
  const struct {
    const char* text;
    std::optional<Milliseconds> expected;
  } kCases[] = {
      {"250ms", 250ms},
      {"90s", 90s},
      {"10m", 10min},
      {"2h", 2h},
      {"1h30m", 90min},
      {"1m30s", 90s},
      {"1h2m3s4ms", 1h + 2min + 3s + 4ms},
      {"0s", 0ms},
      {"007s", 7s},
      {"", std::nullopt},
      {"10", std::nullopt},
      {"s", std::nullopt},
      {"1.5s", std::nullopt},
      {"-1s", std::nullopt},
      {"+1s", std::nullopt},
      {"10 m", std::nullopt},
      {" 10m", std::nullopt},
      {"10m ", std::nullopt},
      {"1d", std::nullopt},
      {"10M", std::nullopt},
      {"1sec", std::nullopt},
      {"30m1h", std::nullopt},
      {"1m1m", std::nullopt},
      {"1h30", std::nullopt},
      {"1hms", std::nullopt},
      {"99999999999999999999s", std::nullopt},
      {"9223372036854775807h", std::nullopt},
  };
  for (const auto& c : kCases) EXPECT_EQ(ParseDuration(c.text), c.expected) << '"' << c.text << '"';
}

// Every placeholder is replaced wherever it appears; other braces stay.
TEST(PlanTest, ExpandsPlaceholders) {
  const PlaceholderValues values{"demo", "T1", "03", "2", "1", "results/demo/T1/03/2"};
  const struct {
    const char* word;
    const char* expected;
  } kCases[] = {
      {"plain", "plain"},
      {"", ""},
      {"{experiment}", "demo"},
      {"--tier={tier}", "--tier=T1"},
      {"{tier}/{subtest}/{run}#{attempt}", "T1/03/2#1"},
      {"{run_dir}/out.json", "results/demo/T1/03/2/out.json"},
      {"{run}{run}", "22"},
      {"{unknown}", "{unknown}"},
      {"{{tier}}", "{T1}"},
      {"{tier", "{tier"},
      {"}{", "}{"},
  };
  for (const auto& c : kCases) {
    EXPECT_EQ(ExpandPlaceholders(c.word, values), c.expected) << c.word;
  }
}

// The stored form: every default applied, durations in milliseconds, and no
// source or results directory.
TEST(PlanTest, NormalisedJson) {
  const nlohmann::json expected = nlohmann::json::parse(R"({
    "name": "mini", "runs": 1, "timeout_ms": 0,
    "retry": {"attempts": 1, "backoff_ms": 1000, "transient_exit_codes": [],
              "transient_stderr": []},
    "tiers": [{"id": "only", "subtests": ["00"], "depends_on": [], "runs": 1,
               "timeout_ms": 0, "agent": {"argv": ["true"], "env": {}}, "judge": null}]
  })");
  EXPECT_EQ(PlanToJson(ParseOrDie(kMinimalPlan)), expected);
}

// PlanFromJson undoes PlanToJson, except for where the plan came from.
TEST(PlanTest, JsonRoundTrip) {
  for (const char* text : {kFullPlan, kMinimalPlan}) {
    const Plan plan = ParseOrDie(text);
    Plan expected = plan;
    expected.source = "results/demo/plan.json";
    expected.results_dir = "results";
    const nlohmann::json json = nlohmann::json::parse(PlanToJson(plan).dump());
    jobserver::Result<Plan> back = PlanFromJson(json, "results/demo/plan.json");
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(*back, expected);
  }
}

nlohmann::json With(nlohmann::json json, const char* pointer, const nlohmann::json& value) {
  json[nlohmann::json::json_pointer(pointer)] = value;
  return json;
}

nlohmann::json Without(nlohmann::json json, const char* key) {
  json.erase(key);
  return json;
}

// A damaged plan.json is rejected with the file and the field at fault.
TEST(PlanTest, RejectsMalformedJson) {
  const nlohmann::json good = PlanToJson(ParseOrDie(kFullPlan));
  const struct {
    const char* what;
    nlohmann::json json;
    const char* message;
  } kCases[] = {
      {"not an object", nlohmann::json::array(), "p.json: expected an object, got array"},
      {"no name", nlohmann::json::object(), "p.json: missing key 'name'"},
      {"runs as string", With(good, "/runs", "3"), "p.json: runs: expected an integer >= 1"},
      {"tiers missing", Without(good, "tiers"), "p.json: missing key 'tiers'"},
      {"escaping tier id", With(good, "/tiers/1/id", "../x"),
       "p.json: tiers[1].id: invalid character '/' in id '../x'; ids match [A-Za-z0-9._-]+"},
      {"exit code 0", With(good, "/retry/transient_exit_codes/0", 0),
       "p.json: retry.transient_exit_codes[0]: expected an integer from 1 to 255"},
      {"judge argv empty", With(good, "/tiers/0/judge/argv", nlohmann::json::array()),
       "p.json: tiers[0].judge.argv: expected a non-empty array"},
      {"env value number", With(good, "/tiers/2/agent/env/MODEL", 1),
       "p.json: tiers[2].agent.env.MODEL: expected a string, got number"},
      {"subtests not array", With(good, "/tiers/0/subtests", "00"),
       "p.json: tiers[0].subtests: expected an array"},
  };
  for (const auto& c : kCases) {
    jobserver::Result<Plan> plan = PlanFromJson(c.json, "p.json");
    ASSERT_FALSE(plan.ok()) << c.what;
    EXPECT_EQ(plan.error().kind, jobserver::ErrorKind::kInvalid) << c.what;
    EXPECT_EQ(plan.error().message, c.message) << c.what;
  }
}

// The hash follows the experiment, not where its file or results live.
TEST(PlanTest, HashFollowsTheExperiment) {
  const Plan plan = ParseOrDie(kFullPlan);
  const std::string hash = PlanHash(plan);
  EXPECT_EQ(hash.size(), 16u);
  EXPECT_EQ(hash.find_first_not_of("0123456789abcdef"), std::string::npos) << hash;
  EXPECT_EQ(PlanHash(ParseOrDie(kFullPlan)), hash);

  Plan moved = plan;
  moved.source = "elsewhere/tierun.toml";
  moved.results_dir = "/tmp/other";
  EXPECT_EQ(PlanHash(moved), hash);

  Plan more_runs = plan;
  more_runs.tiers[1].runs = 6;
  Plan other_command = plan;
  other_command.tiers[0].agent.argv.push_back("--verbose");
  Plan fewer_subtests = plan;
  fewer_subtests.tiers[1].subtests.pop_back();
  Plan other_name = plan;
  other_name.name = "demo2";
  for (const Plan* changed : {&more_runs, &other_command, &fewer_subtests, &other_name}) {
    EXPECT_NE(PlanHash(*changed), hash) << PlanToJson(*changed).dump();
  }
}

// FNV-1a of the compact JSON, checked independently in Python: the same value
// in every build and process, so one tierun can resume another's results.
TEST(PlanTest, HashIsPinned) { EXPECT_EQ(PlanHash(ParseOrDie(kMinimalPlan)), "6730bafd995bc887"); }

TEST(PlanTest, LoadPlanReportsMissingFile) {
  test::ScopedTempDir dir;
  const std::string path = dir.path() + "/tierun.toml";
  jobserver::Result<Plan> plan = LoadPlan(path);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.error().kind, jobserver::ErrorKind::kInvalid);
  EXPECT_EQ(plan.error().message, path + ": No such file or directory");
}

// Errors in a loaded file name that file; a good file loads with its path.
TEST(PlanTest, LoadPlanNamesTheFile) {
  test::ScopedTempDir dir;
  const std::string path = dir.path() + "/tierun.toml";
  std::ofstream(path) << "[experiment]\nname = \"demo\"\nruns = 0\n";
  jobserver::Result<Plan> bad = LoadPlan(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, path + ":3:8: experiment.runs: expected an integer >= 1, got 0");

  std::ofstream(path) << kMinimalPlan;
  jobserver::Result<Plan> good = LoadPlan(path);
  ASSERT_TRUE(good.ok()) << good.error().message;
  EXPECT_EQ(good->source, path);
  EXPECT_EQ(good->name, "mini");
}

// ---- limits (tests/faults/plan_huge_test.sh, plan_overflow_test.sh) ----------

std::string PlanWith(const std::string& experiment, const std::string& tier,
                     const std::string& retry = "") {
  return "[experiment]\nname = \"demo\"\n" + experiment + "[agent]\ncommand = [\"run\"]\n" + retry +
         "[[tier]]\nid = \"T0\"\n" + tier;
}

// Each limit of plan.h is a plan error naming the key, the line and column,
// and the maximum, instead of a crash or a failure at run time.
TEST(PlanTest, RejectsPlansPastTheLimits) {
  const std::string long_id(kMaxIdLength + 1, 'a');
  const struct {
    const char* what;
    std::string text;
    std::string message;
  } kCases[] = {
      {"runs x subtests past 1,000,000", PlanWith("runs = 100000000\n", "subtests = 10000\n"),
       "plan.toml:8:12: tier 'T0' brings the plan to 1000000000000 runs (sub-tests x runs, summed "
       "over tiers); tierun runs at most 1000000 in one plan"},
      {"over tiers, in 64 bits",
       PlanWith("", "subtests = 10000\nruns = 2147483647\n[[tier]]\nid = \"T1\"\nruns = 2\n"),
       "plan.toml:8:8: tier 'T0' brings the plan to 21474836470000 runs (sub-tests x runs, "
       "summed over tiers); tierun runs at most 1000000 in one plan"},
      {"second tier past it", PlanWith("runs = 500000\n", "[[tier]]\nid = \"T1\"\nruns = 500001\n"),
       "plan.toml:10:8: tier 'T1' brings the plan to 1000001 runs (sub-tests x runs, summed over "
       "tiers); tierun runs at most 1000000 in one plan"},
      {"timeout 3000000h", PlanWith("timeout = \"3000000h\"\n", ""),
       "plan.toml:3:11: experiment.timeout: duration '3000000h' is more than the maximum, 8760h "
       "(365 days)"},
      {"tier timeout 8761h", PlanWith("", "timeout = \"8761h\"\n"),
       "plan.toml:7:11: tier.timeout: duration '8761h' is more than the maximum, 8760h (365 "
       "days)"},
      {"backoff 3000000h", PlanWith("", "", "[retry]\nbackoff = \"3000000h\"\n"),
       "plan.toml:6:11: retry.backoff: duration '3000000h' is more than the maximum, 8760h (365 "
       "days)"},
      {"backoff doubled past a year",
       PlanWith("", "", "[retry]\nattempts = 40\nbackoff = \"1s\"\n"),
       "plan.toml:7:11: retry: backoff 1000 ms doubled before each of 40 attempts waits more "
       "than the maximum, 8760h (365 days); lower retry.attempts or retry.backoff"},
      {"default backoff doubled", PlanWith("", "", "[retry]\nattempts = 100\n"),
       "plan.toml:6:12: retry: backoff 1000 ms doubled before each of 100 attempts waits more "
       "than the maximum, 8760h (365 days); lower retry.attempts or retry.backoff"},
      {"attempts 101", PlanWith("", "", "[retry]\nattempts = 101\nbackoff = \"0s\"\n"),
       "plan.toml:6:12: retry.attempts: expected an integer from 1 to 100, got 101"},
      {"id of 244", PlanWith("", "subtests = [\"" + long_id + "\"]\n"),
       "plan.toml:7:13: tier.subtests[0]: id 'aaaaaaaaaaaaaaaaaaaa...' is 244 bytes long; ids are "
       "at most 243 (the names tierun makes from one, such as .<name>.setup.lock, must fit "
       "NAME_MAX, 255)"},
      {"name of 250", "[experiment]\nname = \"" + std::string(250, 'n') + "\"\n",
       "plan.toml:2:8: experiment.name: id 'nnnnnnnnnnnnnnnnnnnn...' is 250 bytes long; ids are "
       "at most 243 (the names tierun makes from one, such as .<name>.setup.lock, must fit "
       "NAME_MAX, 255)"},
  };
  for (const auto& c : kCases) {
    jobserver::Result<Plan> plan = ParsePlan(c.text, kSource);
    ASSERT_FALSE(plan.ok()) << c.what;
    EXPECT_EQ(plan.error().kind, jobserver::ErrorKind::kInvalid) << c.what;
    EXPECT_EQ(plan.error().message, c.message) << c.what;
  }
}

// Right at each limit, a plan is accepted: 1,000,000 runs, a timeout of
// 8760h, ids of 243 bytes, 17 attempts whose last wait is 962 s x 2^15 =
// 31,522,816 s, just under a year (963 s is past it).
TEST(PlanTest, AcceptsPlansAtTheLimits) {
  const std::string id(kMaxIdLength, 'a');
  const auto plan_with_backoff = [&](const std::string& backoff) {
    return PlanWith("runs = 99\ntimeout = \"8760h\"\n", "subtests = 10000\n",
                    "[retry]\nattempts = 17\nbackoff = \"" + backoff + "\"\n") +
           "[[tier]]\nid = \"" + id + "\"\nruns = 10000\n";
  };
  jobserver::Result<Plan> plan = ParsePlan(plan_with_backoff("962s"), kSource);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  EXPECT_EQ(plan->tiers[0].subtests.size() * plan->tiers[0].runs + plan->tiers[1].runs, 1000000u);
  EXPECT_EQ(plan->timeout, kMaxDuration);
  jobserver::Result<Plan> back = PlanFromJson(PlanToJson(*plan), "p.json");
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_FALSE(ParsePlan(plan_with_backoff("963s"), kSource).ok());
}

// Every tier holds its own copy of [agent]: 100 tiers of a 100 KB command
// would make a plan.json of 10 MB, past what tierun stores and reads back.
TEST(PlanTest, RejectsANormalisedPlanPastItsBound) {
  std::string text =
      "[experiment]\nname = \"demo\"\n[agent]\ncommand = [\"" + std::string(100000, 'x') + "\"]\n";
  for (int tier = 0; tier < 100; ++tier)
    text += "[[tier]]\nid = \"T" + std::to_string(tier) + "\"\n";
  jobserver::Result<Plan> plan = ParsePlan(text, kSource);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.error().message,
            "plan.toml:171:1: tier 'T83' brings the normalised plan (plan.json) past 8 MiB, the "
            "most tierun stores; use fewer tiers or sub-tests, or shorter commands (every tier "
            "holds its own copy of [agent] and [judge])");
}

// plan.json is checked against the same limits: an edited one cannot make
// `tierun report` or a resume allocate for 10^12 runs or overflow the clock.
TEST(PlanTest, RejectsJsonPastTheLimits) {
  const nlohmann::json good = PlanToJson(ParseOrDie(kFullPlan));
  const struct {
    const char* what;
    nlohmann::json json;
    const char* message;
  } kCases[] = {
      {"runs", With(good, "/tiers/1/runs", 100000000),
       "p.json: tiers[1]: tier 'T1' brings the plan to 2400000006 runs (sub-tests x runs, summed "
       "over tiers); tierun runs at most 1000000 in one plan"},
      {"timeout", With(good, "/tiers/0/timeout_ms", int64_t{10800000000000}),
       "p.json: tiers[0].timeout_ms: expected an integer from 0 to 31536000000"},
      {"attempts", With(good, "/retry/attempts", 101),
       "p.json: retry.attempts: expected an integer from 1 to 100"},
      {"backoff doubled", With(good, "/retry/attempts", 100),
       "p.json: retry: backoff 1000 ms doubled before each of 100 attempts waits more than the "
       "maximum, 8760h (365 days); lower retry.attempts or retry.backoff"},
      {"long id", With(good, "/tiers/0/id", std::string(300, 'a')),
       "p.json: tiers[0].id: id 'aaaaaaaaaaaaaaaaaaaa...' is 300 bytes long; ids are at most 243 "
       "(the names tierun makes from one, such as .<name>.setup.lock, must fit NAME_MAX, 255)"},
  };
  for (const auto& c : kCases) {
    jobserver::Result<Plan> plan = PlanFromJson(c.json, "p.json");
    ASSERT_FALSE(plan.ok()) << c.what;
    EXPECT_EQ(plan.error().message, c.message) << c.what;
  }
}

// A plan file past 4 MiB is refused by its size, before a byte is read (a
// sparse file: nothing is on the disk).
TEST(PlanTest, LoadPlanRefusesAHugeFile) {
  test::ScopedTempDir dir;
  const std::string path = dir.path() + "/tierun.toml";
  std::ofstream(path) << kMinimalPlan;
  ASSERT_EQ(truncate(path.c_str(), off_t{3} << 30), 0);
  jobserver::Result<Plan> plan = LoadPlan(path);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.error().kind, jobserver::ErrorKind::kInvalid);
  EXPECT_EQ(plan.error().message, path + ": 3221225472 bytes, more than the 4 MiB tierun reads");
}

// The deepest path, <dir>/<tier>/<subtest>/run_NN/report.json.tmp.<pid>.<n>,
// must fit PATH_MAX: checked before anything is written.
TEST(PlanTest, CheckResultPathsAgainstPathMax) {
  Plan plan = ParseOrDie(kMinimalPlan);
  const std::string short_dir = "/results/mini";
  EXPECT_TRUE(CheckResultPaths(plan, short_dir).ok());
  // Below the directory: 2 ids of 243, "run_01", the file's 47, 4 slashes:
  // 543 bytes, so a directory of 3552 makes 4095, with the NUL PATH_MAX.
  const std::string id(kMaxIdLength, 'i');
  plan.tiers[0].id = id;
  plan.tiers[0].subtests = {id};
  const std::string fits = "/" + std::string(4095 - 543 - 1, 'd');
  EXPECT_TRUE(CheckResultPaths(plan, fits).ok());
  const jobserver::Status too_long = CheckResultPaths(plan, fits + "d");
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.error().kind, jobserver::ErrorKind::kInvalid);
  EXPECT_EQ(too_long.error().message, fits + "d/" + id + "/" + id +
                                          "/run_01/report.json.tmp.<pid>.<n>: 4096 bytes, more "
                                          "than a path may have (PATH_MAX 4096); use a shorter "
                                          "results directory (--results) or shorter ids");
}

}  // namespace
}  // namespace tierun
