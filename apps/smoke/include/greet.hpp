#pragma once
#include <string>

namespace greet {
// Returns "hello, <name>"; throws std::invalid_argument for an empty name.
std::string hello(const std::string& name);
// Integer division that throws std::domain_error on a zero divisor.
long checked_divide(long a, long b);
}  // namespace greet
