#include "src/results_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <functional>

#include "src/atomic_file.h"
#include "src/reports.h"

namespace tierun {
namespace {

using jobserver::Error;
using jobserver::ErrorKind;
using jobserver::Result;
using jobserver::Status;
using jobserver::UniqueFd;
using nlohmann::json;

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

std::string Absolute(const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  char cwd[PATH_MAX];
  if (getcwd(cwd, sizeof cwd) == nullptr) return path;
  return std::string(cwd) + "/" + path;
}

/// Renames `path` to the first free `path<infix>N`; returns the new name.
Result<std::string> MoveAside(const std::string& path, const std::string& infix) {
  for (int n = 1; n < 10000; ++n) {
    const std::string target = path + infix + std::to_string(n);
    if (Exists(target)) continue;
    if (rename(path.c_str(), target.c_str()) == -1) {
      return jobserver::SystemError("cannot move " + path + " aside");
    }
    return target;
  }
  return Error{ErrorKind::kSystem, "no free name to move " + path + " aside"};
}

/// True when `dir` holds nothing but what Create() makes before plan.json
/// exists: the lock file and plan.json's temporary.
bool HoldsOnlyCreationLeftovers(const std::string& dir) {
  DIR* stream = opendir(dir.c_str());
  if (stream == nullptr) return false;
  bool only_leftovers = true;
  while (const struct dirent* entry = readdir(stream)) {
    const std::string_view name = entry->d_name;
    if (name == "." || name == ".." || name == ".lock" || name.starts_with("plan.json.tmp.")) {
      continue;
    }
    only_leftovers = false;
  }
  closedir(stream);
  return only_leftovers;
}

Result<UniqueFd> Lock(const std::string& dir) {
  const std::string path = dir + "/.lock";
  UniqueFd fd(open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd) return jobserver::SystemError("cannot open " + path);
  if (flock(fd.get(), LOCK_EX | LOCK_NB) == -1) {
    return Error{ErrorKind::kUnusable, "another tierun run is using " + dir};
  }
  return fd;
}

std::string Abbreviate(std::string text) {
  constexpr size_t kMax = 100;
  if (text.size() > kMax) text = text.substr(0, kMax - 3) + "...";
  return text;
}

json PlanFile(const Plan& plan) { return {{"hash", PlanHash(plan)}, {"plan", PlanToJson(plan)}}; }

Result<json> ReadPlanFile(const std::string& dir) {
  Result<std::string> text = ReadWholeFile(dir + "/plan.json");
  if (!text) return text.error();
  json parsed = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.contains("hash") || !parsed.contains("plan")) {
    return Error{ErrorKind::kInvalid, dir + "/plan.json is not a tierun plan record"};
  }
  return parsed;
}

/// Moves every planned run directory without a report aside.
Result<std::vector<std::string>> MoveIncompleteRuns(const std::string& dir, const Plan& plan) {
  std::vector<std::string> moved;
  for (const Tier& tier : plan.tiers) {
    for (const std::string& subtest : tier.subtests) {
      for (int run = 1; run <= tier.runs; ++run) {
        const std::string run_dir = RunDirectory(dir, tier.id, subtest, run);
        if (!Exists(run_dir) || RunIsComplete(dir, tier.id, subtest, run)) continue;
        Result<std::string> target = MoveAside(run_dir, ".incomplete.");
        if (!target) return target.error();
        moved.push_back(*target);
      }
    }
  }
  return moved;
}

Result<ResultsDirectory> Create(const Plan& plan, const std::string& dir) {
  if (Status made = MakeDirectories(dir); !made) return made.error();
  Result<UniqueFd> lock = Lock(dir);
  if (!lock) return lock.error();
  if (Status written = WriteFileAtomically(dir + "/plan.json", PlanFile(plan).dump(2) + "\n");
      !written) {
    return written.error();
  }
  ResultsDirectory results;
  results.path = dir;
  results.lock = std::move(*lock);
  return results;
}

Error PlanChanged(const std::string& dir, const json& before, const Plan& plan) {
  std::string message = dir + " holds results of a different plan; what changed:";
  for (const std::string& change : DescribePlanChanges(before, PlanToJson(plan))) {
    message += "\n  " + change;
  }
  message +=
      "\nRun with --fresh to move the old results aside and start anew, or give the "
      "experiment another name.";
  return Error{ErrorKind::kInvalid, message};
}

}  // namespace

std::string ExperimentDirectory(const Plan& plan) {
  return Absolute(plan.results_dir) + "/" + plan.name;
}

bool RunIsComplete(const std::string& dir, const std::string& tier, const std::string& subtest,
                   int run) {
  return Exists(RunDirectory(dir, tier, subtest, run) + "/report.json");
}

Result<ResultsDirectory> PrepareResultsDirectory(const Plan& plan, bool fresh) {
  const std::string dir = ExperimentDirectory(plan);
  if (!Exists(dir)) return Create(plan, dir);
  if (!Exists(dir + "/plan.json")) {
    // A runner killed between mkdir and writing plan.json leaves only these.
    if (HoldsOnlyCreationLeftovers(dir)) return Create(plan, dir);
    return Error{ErrorKind::kInvalid, dir +
                                          " exists but was not made by tierun (no plan.json); "
                                          "move it away or choose another results directory"};
  }
  Result<UniqueFd> lock = Lock(dir);
  if (!lock) return lock.error();
  Result<json> stored = ReadPlanFile(dir);
  if (!stored) return stored.error();
  const bool same_plan = (*stored)["hash"] == PlanHash(plan);
  if (fresh) {
    // Moved while still locked: the lock follows the inode, so no other
    // runner can slip in between.
    Result<std::string> old = MoveAside(dir, ".old.");
    if (!old) return old.error();
    Result<ResultsDirectory> created = Create(plan, dir);
    if (created) created->moved_aside.push_back(*old);
    return created;
  }
  if (!same_plan) return PlanChanged(dir, (*stored)["plan"], plan);
  Result<std::vector<std::string>> moved = MoveIncompleteRuns(dir, plan);
  if (!moved) return moved.error();
  ResultsDirectory results;
  results.path = dir;
  results.resumed = true;
  results.moved_aside = std::move(*moved);
  results.lock = std::move(*lock);
  return results;
}

std::vector<std::string> DescribePlanChanges(const json& before, const json& after, size_t limit) {
  std::vector<std::string> changes;
  std::function<void(const std::string&, const json&, const json&)> walk =
      [&](const std::string& where, const json& a, const json& b) {
        if (changes.size() >= limit || a == b) return;
        if (a.is_object() && b.is_object()) {
          for (const auto& [key, value] : a.items()) {
            walk(where.empty() ? key : where + "." + key, value, b.contains(key) ? b[key] : json());
          }
          for (const auto& [key, value] : b.items()) {
            if (!a.contains(key)) walk(where.empty() ? key : where + "." + key, json(), value);
          }
          return;
        }
        if (a.is_array() && b.is_array() && a.size() == b.size()) {
          for (size_t i = 0; i < a.size(); ++i)
            walk(where + "[" + std::to_string(i) + "]", a[i], b[i]);
          return;
        }
        changes.push_back(where + ": " + Abbreviate(a.dump()) + " -> " + Abbreviate(b.dump()));
      };
  walk("", before, after);
  return changes;
}

}  // namespace tierun
