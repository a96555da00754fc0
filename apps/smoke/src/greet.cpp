#include "greet.hpp"

#include <stdexcept>

namespace greet {
std::string hello(const std::string& name) {
    if (name.empty()) throw std::invalid_argument("empty name");
    return "hello, " + name;
}

long checked_divide(long a, long b) {
    if (b == 0) throw std::domain_error("division by zero");
    return a / b;
}
}  // namespace greet
