// `tierun list [PLAN]`: the experiment's tiers and runs, for scripts.

#include <stdio.h>

#include "src/commands.h"
#include "src/results_dir.h"

namespace tierun {

std::string RenderRunList(const Plan& plan, const std::string& experiment_dir) {
  std::string text = "experiment " + plan.name + " " + experiment_dir + "\n";
  for (const Tier& tier : plan.tiers) {
    std::string depends_on;
    for (const std::string& dependency : tier.depends_on) {
      depends_on += (depends_on.empty() ? "" : ",") + dependency;
    }
    text += "tier " + tier.id + " " +
            std::to_string(tier.runs * static_cast<int>(tier.subtests.size())) + " " +
            (depends_on.empty() ? "-" : depends_on) + "\n";
  }
  for (const Tier& tier : plan.tiers) {
    for (const std::string& subtest : tier.subtests) {
      for (int run = 1; run <= tier.runs; ++run) {
        text += "run " + tier.id + "/" + subtest + "/" + std::to_string(run) + "\n";
      }
    }
  }
  return text;
}

int ListExperiment(const ListOptions& options) {
  jobserver::Result<Plan> plan = LoadPlan(options.plan_path);
  if (!plan) {
    fprintf(stderr, "%s\n", plan.error().message.c_str());
    return kExitUsage;
  }
  if (!options.results_dir.empty()) plan->results_dir = options.results_dir;
  printf("%s", RenderRunList(*plan, ExperimentDirectory(*plan)).c_str());
  return kExitOk;
}

}  // namespace tierun
