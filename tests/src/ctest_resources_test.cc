#include "src/ctest_resources.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

#include <nlohmann/json.hpp>

namespace tierun {
namespace {

using ::testing::HasSubstr;

EnvironmentLookup Env(std::map<std::string, std::string> variables) {
  return [variables = std::move(variables)](const std::string& name) -> std::optional<std::string> {
    auto found = variables.find(name);
    if (found == variables.end()) return std::nullopt;
    return found->second;
  };
}

struct SlotsCase {
  const char* name;
  std::map<std::string, std::string> env;
  std::optional<int> slots;  ///< Expected cap; nullopt = none.
};

// The shapes ctest 3.25 really produces (docs/design.md section 7).
const SlotsCase kSlotsCases[] = {
    {"NoAllocation", {}, std::nullopt},
    {"CountZeroMeansNoGroupsAsked", {{"CTEST_RESOURCE_GROUP_COUNT", "0"}}, std::nullopt},
    {"OneGroup",
     {{"CTEST_RESOURCE_GROUP_COUNT", "1"},
      {"CTEST_RESOURCE_GROUP_0", "agents"},
      {"CTEST_RESOURCE_GROUP_0_AGENTS", "id:local,slots:1"}},
     1},
    {"GroupsAddUp",
     {{"CTEST_RESOURCE_GROUP_COUNT", "3"},
      {"CTEST_RESOURCE_GROUP_0", "agents"},
      {"CTEST_RESOURCE_GROUP_0_AGENTS", "id:local,slots:2"},
      {"CTEST_RESOURCE_GROUP_1", "agents"},
      {"CTEST_RESOURCE_GROUP_1_AGENTS", "id:local,slots:1"},
      {"CTEST_RESOURCE_GROUP_2", "agents"},
      {"CTEST_RESOURCE_GROUP_2_AGENTS", "id:local,slots:1"}},
     4},
    {"SortedTypeListAndRepeatedIds",
     {{"CTEST_RESOURCE_GROUP_COUNT", "2"},
      {"CTEST_RESOURCE_GROUP_0", "gpus"},
      {"CTEST_RESOURCE_GROUP_0_GPUS", "id:0,slots:2"},
      {"CTEST_RESOURCE_GROUP_1", "agents,gpus"},
      {"CTEST_RESOURCE_GROUP_1_AGENTS", "id:1,slots:1;id:1,slots:1;id:0,slots:1"},
      {"CTEST_RESOURCE_GROUP_1_GPUS", "id:1,slots:4"}},
     3},
    {"OnlyOtherTypes",
     {{"CTEST_RESOURCE_GROUP_COUNT", "1"},
      {"CTEST_RESOURCE_GROUP_0", "gpus"},
      {"CTEST_RESOURCE_GROUP_0_GPUS", "id:0,slots:2"}},
     std::nullopt},
};

class CTestResourceSlotsTest : public ::testing::TestWithParam<SlotsCase> {};

TEST_P(CTestResourceSlotsTest, AddsUpTheSlotsOfItsType) {
  auto slots = CTestResourceSlots("agents", Env(GetParam().env));
  ASSERT_TRUE(slots.ok()) << slots.error().message;
  EXPECT_EQ(*slots, GetParam().slots);
}

INSTANTIATE_TEST_SUITE_P(Shapes, CTestResourceSlotsTest, ::testing::ValuesIn(kSlotsCases),
                         [](const auto& info) { return std::string(info.param.name); });

struct MalformedCase {
  const char* name;
  std::map<std::string, std::string> env;
  const char* message;
};

const MalformedCase kMalformedCases[] = {
    {"CountNotANumber",
     {{"CTEST_RESOURCE_GROUP_COUNT", "two"}},
     "CTEST_RESOURCE_GROUP_COUNT='two': expected a non-negative integer"},
    {"NegativeCount",
     {{"CTEST_RESOURCE_GROUP_COUNT", "-1"}},
     "CTEST_RESOURCE_GROUP_COUNT='-1': expected a non-negative integer"},
    {"MissingGroup",
     {{"CTEST_RESOURCE_GROUP_COUNT", "1"}},
     "CTEST_RESOURCE_GROUP_0 is not set although CTEST_RESOURCE_GROUP_COUNT=1"},
    {"MissingSlots",
     {{"CTEST_RESOURCE_GROUP_COUNT", "1"}, {"CTEST_RESOURCE_GROUP_0", "agents"}},
     "CTEST_RESOURCE_GROUP_0_AGENTS is not set although CTEST_RESOURCE_GROUP_0=agents"},
    {"BadPair",
     {{"CTEST_RESOURCE_GROUP_COUNT", "1"},
      {"CTEST_RESOURCE_GROUP_0", "agents"},
      {"CTEST_RESOURCE_GROUP_0_AGENTS", "id:local;slots:1"}},
     "CTEST_RESOURCE_GROUP_0_AGENTS='id:local;slots:1': expected "
     "id:<id>,slots:<n>[;id:<id>,slots:<n>...]"},
    {"BadSlots",
     {{"CTEST_RESOURCE_GROUP_COUNT", "1"},
      {"CTEST_RESOURCE_GROUP_0", "agents"},
      {"CTEST_RESOURCE_GROUP_0_AGENTS", "id:local,slots:x"}},
     "CTEST_RESOURCE_GROUP_0_AGENTS='id:local,slots:x': expected "
     "id:<id>,slots:<n>[;id:<id>,slots:<n>...]"},
    // Sums past INT_MAX were signed overflow (UBSan, via fuzz/ctest_resources_fuzzer).
    {"SlotsOfOneGroupOverflow",
     {{"CTEST_RESOURCE_GROUP_COUNT", "1"},
      {"CTEST_RESOURCE_GROUP_0", "agents"},
      {"CTEST_RESOURCE_GROUP_0_AGENTS", "id:a,slots:2147483647;id:b,slots:1"}},
     "CTEST_RESOURCE_GROUP_0_AGENTS='id:a,slots:2147483647;id:b,slots:1': its slots add up to "
     "more than 2147483647"},
    {"SlotsOfTwoGroupsOverflow",
     {{"CTEST_RESOURCE_GROUP_COUNT", "2"},
      {"CTEST_RESOURCE_GROUP_0", "agents"},
      {"CTEST_RESOURCE_GROUP_0_AGENTS", "id:a,slots:2147483647"},
      {"CTEST_RESOURCE_GROUP_1", "agents"},
      {"CTEST_RESOURCE_GROUP_1_AGENTS", "id:a,slots:1"}},
     "CTEST_RESOURCE_GROUP_1_AGENTS='id:a,slots:1': the slots of the groups so far add up to "
     "more than 2147483647"},
};

class CTestResourceMalformedTest : public ::testing::TestWithParam<MalformedCase> {};

TEST_P(CTestResourceMalformedTest, NamesTheVariable) {
  auto slots = CTestResourceSlots("agents", Env(GetParam().env));
  ASSERT_FALSE(slots.ok());
  EXPECT_EQ(slots.error().kind, jobserver::ErrorKind::kInvalid);
  EXPECT_EQ(slots.error().message, GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(Shapes, CTestResourceMalformedTest, ::testing::ValuesIn(kMalformedCases),
                         [](const auto& info) { return std::string(info.param.name); });

// The spec has ctest's exact shape: version 1.0, one local entry.
TEST(ResourceSpecTest, PrintsASpecCtestAccepts) {
  auto spec = ResourceSpecJson(4, "agents", "local");
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  const auto json = nlohmann::json::parse(*spec);
  EXPECT_EQ(json["version"], (nlohmann::json{{"major", 1}, {"minor", 0}}));
  ASSERT_EQ(json["local"].size(), 1u);
  EXPECT_EQ(json["local"][0]["agents"],
            nlohmann::json::array({nlohmann::json{{"id", "local"}, {"slots", 4}}}));
}

// Names ctest would silently drop or reject are refused.
TEST(ResourceSpecTest, RefusesNamesCtestDrops) {
  EXPECT_THAT(ResourceSpecJson(4, "Agents", "local").error().message, HasSubstr("'Agents'"));
  EXPECT_THAT(ResourceSpecJson(4, "9agents", "local").error().message, HasSubstr("'9agents'"));
  EXPECT_THAT(ResourceSpecJson(4, "agent-slots", "local").error().message,
              HasSubstr("^[a-z_][a-z0-9_]*$"));
  EXPECT_THAT(ResourceSpecJson(4, "agents", "Host").error().message, HasSubstr("'Host'"));
  EXPECT_THAT(ResourceSpecJson(0, "agents", "local").error().message, HasSubstr("at least 1"));
  EXPECT_TRUE(ResourceSpecJson(1, "_agents_2", "0").ok());
}

}  // namespace
}  // namespace tierun
