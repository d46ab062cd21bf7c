#pragma once

/// CTest resource allocation, the runner's side (docs/design.md section 7).
///
/// When ctest runs a test with a resource spec, it tells the test which slots
/// it was given:
///
///     CTEST_RESOURCE_GROUP_COUNT=2
///     CTEST_RESOURCE_GROUP_0=agents                 CTEST_RESOURCE_GROUP_0_AGENTS=id:host,slots:2
///     CTEST_RESOURCE_GROUP_1=agents,gpus
///     CTEST_RESOURCE_GROUP_1_AGENTS=id:host,slots:1;id:host,slots:1
///
/// Types in a group's list are sorted; a requirement's pairs are not merged,
/// so one id can repeat. `tierun run` adds up the slots of its type and runs
/// at most that many agents (the smaller of this and any jobserver limit).
/// No CTEST_RESOURCE_GROUP_COUNT means no allocation; a count of 0 -- a test
/// without RESOURCE_GROUPS under a spec -- or no group of our type means the
/// test asked for none of them, so no cap comes from ctest either.

#include <functional>
#include <optional>
#include <string>

#include "jobserver/error.h"

namespace tierun {

/// Looks up an environment variable; nullopt when unset.
using EnvironmentLookup = std::function<std::optional<std::string>(const std::string&)>;
/// The process environment.
EnvironmentLookup ProcessEnvironment();

/// The slots of `type` ctest gave this test, or nullopt when it gave no cap.
/// A malformed variable is kInvalid, naming it and what was expected.
jobserver::Result<std::optional<int>> CTestResourceSlots(const std::string& type,
                                                         const EnvironmentLookup& lookup);

/// A resource spec ctest accepts: one instance `id` of `type` with `slots`.
/// Names follow ctest's rules -- type ^[a-z_][a-z0-9_]*$, id ^[a-z0-9_]+$ --
/// because ctest silently drops a type it does not like. kInvalid otherwise.
jobserver::Result<std::string> ResourceSpecJson(int slots, const std::string& type,
                                                const std::string& id);

}  // namespace tierun
