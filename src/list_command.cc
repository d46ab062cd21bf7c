// `tierun list [PLAN]`: the experiment's tiers and runs, for scripts.

#include <stdio.h>

#include <cstdint>
#include <string_view>

#include "src/commands.h"
#include "src/results_dir.h"

namespace tierun {

namespace {

/// Gives the listing to `emit` line by line: a plan may have 1,000,000 runs
/// (kMaxPlanRuns), and `tierun list` streams them rather than build the
/// whole text first.
template <typename Emit>
void EmitRunList(const Plan& plan, const std::string& experiment_dir, Emit emit) {
  emit("experiment " + plan.name + " " + experiment_dir + "\n");
  for (const Tier& tier : plan.tiers) {
    std::string depends_on;
    for (const std::string& dependency : tier.depends_on) {
      depends_on += (depends_on.empty() ? "" : ",") + dependency;
    }
    // 64 bits: 10,000 sub-tests x INT_MAX runs is no int.
    const int64_t runs = static_cast<int64_t>(tier.subtests.size()) * int64_t{tier.runs};
    emit("tier " + tier.id + " " + std::to_string(runs) + " " +
         (depends_on.empty() ? "-" : depends_on) + "\n");
  }
  std::string line;
  for (const Tier& tier : plan.tiers) {
    for (const std::string& subtest : tier.subtests) {
      for (int run = 1; run <= tier.runs; ++run) {
        line.assign("run ").append(tier.id).append("/").append(subtest).append("/");
        line.append(std::to_string(run)).append("\n");
        emit(line);
      }
    }
  }
}

}  // namespace

std::string RenderRunList(const Plan& plan, const std::string& experiment_dir) {
  std::string text;
  EmitRunList(plan, experiment_dir, [&](std::string_view line) { text += line; });
  return text;
}

int ListExperiment(const ListOptions& options) {
  jobserver::Result<Plan> plan = LoadPlan(options.plan_path);
  if (!plan) {
    fprintf(stderr, "%s\n", plan.error().message.c_str());
    return kExitUsage;
  }
  if (!options.results_dir.empty()) plan->results_dir = options.results_dir;
  bool written = true;
  EmitRunList(*plan, ExperimentDirectory(*plan), [&](std::string_view line) {
    written = written && fwrite(line.data(), 1, line.size(), stdout) == line.size();
  });
  if (fflush(stdout) != 0 || !written) {
    perror("tierun list: cannot write the list");
    return kExitInfrastructure;
  }
  return kExitOk;
}

}  // namespace tierun
