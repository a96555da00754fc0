// libstdc++ 9+ headers call the string streams' out-of-line default constructors, exported
// only as GLIBCXX_3.4.26: a JetPack 4 (GLIBCXX_3.4.25) device cannot load the result.
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>

__attribute__((noinline)) std::string describe(int frames, double fps) {
    std::ostringstream out;
    out << frames << " frames at " << fps << " fps";
    std::stringstream both;
    both << out.str();
    std::istringstream in;
    in.str("7");
    int extra = 0;
    in >> extra;
    std::string s = both.str() + " +" + std::to_string(extra);
    std::string_view view = s;
    return std::string(view);
}

int main() {
    std::cout << describe(48, 24.5) << "\n";
    return 0;
}
