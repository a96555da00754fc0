// edge-infer: FFmpeg decode -> OpenCV preprocessing -> DNN (ONNX) or classical detection ->
// JSON Lines. See README.md next to this file.
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "edge_infer/app.hpp"
#include "edge_infer/options.hpp"
#include "edge_infer/types.hpp"

int main(int argc, char** argv) {
    using namespace edge_infer;
    std::ios::sync_with_stdio(false);
    try {
        Options o = with_installed_defaults(
            parse_args(std::vector<std::string>(argv + 1, argv + argc)),
            installed_share_dir(self_executable()));
        if (o.help) {
            std::cout << usage();
            return kOk;
        }
        if (o.version) {
            std::cout << version_text();
            return kOk;
        }
        return run(o, std::cerr);
    } catch (const AppError& e) {
        std::cerr << "edge-infer: error: " << e.what() << "\n";
        return e.code;
    } catch (const cv::Exception& e) {
        std::cerr << "edge-infer: error: OpenCV: " << e.what() << "\n";
        return kInternal;
    } catch (const std::exception& e) {
        std::cerr << "edge-infer: error: " << e.what() << "\n";
        return kInternal;
    }
}
