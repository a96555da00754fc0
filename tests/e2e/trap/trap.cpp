// The program from ENVIRONMENT.md's ABI traps: one std::thread and a double formatted with
// std::to_chars when the C++ library has it (libstdc++ 11+), snprintf otherwise.
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>
#if defined(_GLIBCXX_RELEASE) && _GLIBCXX_RELEASE >= 11
#include <charconv>
#endif

static std::string format(double v) {
#if defined(_GLIBCXX_RELEASE) && _GLIBCXX_RELEASE >= 11
    char buf[64];
    auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 3);
    return std::string(buf, res.ptr);
#else
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3f", v);
    return buf;
#endif
}

int main() {
    double result = 0;
    std::thread worker([&result] { result = 22.0 / 7.0; });
    worker.join();
    std::cout << "trap: " << format(result) << std::endl;
    return 0;
}
