// Prints a fixed report; the tests compare it line by line.
#include <cstring>
#include <iostream>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "greet.hpp"

#if defined(__aarch64__)
static const char* kArch = "aarch64";
#elif defined(__arm__)
static const char* kArch = "arm";
#elif defined(__x86_64__)
static const char* kArch = "x86_64";
#else
static const char* kArch = "unknown";
#endif

int main(int argc, char** argv) {
    if (argc > 1 && std::strcmp(argv[1], "--fail") == 0) {
        std::cerr << "smoke: failing on request\n";
        return 3;
    }
    std::cout << "smoke: arch=" << kArch << "\n";
    std::cout << "smoke: greet=" << greet::hello("edgeforge") << "\n";

    constexpr int kThreads = 4;
    constexpr long kN = 1000;
    long total = 0;
    std::mutex m;
    std::vector<std::thread> workers;
    for (int t = 0; t < kThreads; ++t) {
        workers.emplace_back([t, &total, &m] {
            long local = 0;
            for (long i = t + 1; i <= kN; i += kThreads) local += i;
            std::lock_guard<std::mutex> lock(m);
            total += local;
        });
    }
    for (auto& w : workers) w.join();
    std::cout << "smoke: threads=" << kThreads << " sum=" << total << "\n";

    try {
        greet::checked_divide(1, 0);
        std::cout << "smoke: no exception\n";
        return 1;
    } catch (const std::domain_error& e) {
        std::cout << "smoke: caught=" << e.what() << "\n";
    }
    try {
        greet::hello("");
    } catch (const std::exception& e) {
        std::cout << "smoke: caught=" << e.what() << "\n";
    }
    std::cout << "smoke: ok" << std::endl;
    return 0;
}
