#pragma once

/// Runs a program and returns what it printed on stdout (stderr discarded);
/// empty when it cannot run. For short version probes such as `make --version`.

#include <string>
#include <vector>

namespace tierun {

std::string CaptureOutput(const std::vector<std::string>& argv);

}  // namespace tierun
