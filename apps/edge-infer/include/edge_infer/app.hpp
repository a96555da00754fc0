#pragma once

#include <ostream>
#include <string>

#include "edge_infer/options.hpp"

namespace edge_infer {

// Runs the whole pipeline; returns the process exit code. Errors are reported on `err`.
int run(const Options& o, std::ostream& err);
std::string version_text();

}  // namespace edge_infer
