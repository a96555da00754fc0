#include "edge_infer/options.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <map>
#include <sstream>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include "edge_infer/types.hpp"

namespace edge_infer {
namespace {

[[noreturn]] void fail(const std::string& msg) {
    throw AppError(kUsage, msg + "\n(see edge-infer --help)");
}

// long long, not long: long is 32 bits on armhf
long long to_long(const std::string& flag, const std::string& v, long long lo, long long hi) {
    errno = 0;
    char* end = nullptr;
    long long n = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || errno == ERANGE)
        fail(flag + ": expected an integer, got '" + v + "'");
    if (n < lo || n > hi)
        fail(flag + ": " + v + " is out of range [" + std::to_string(lo) + ", " +
             std::to_string(hi) + "]");
    return n;
}

double to_double(const std::string& flag, const std::string& v, double lo, double hi) {
    errno = 0;
    char* end = nullptr;
    double d = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(d))
        fail(flag + ": expected a number, got '" + v + "'");
    if (d < lo || d > hi) {
        std::ostringstream os;
        os << flag << ": " << v << " is out of range [" << lo << ", " << hi << "]";
        fail(os.str());
    }
    return d;
}

}  // namespace

const char* backend_name(Backend b) {
    switch (b) {
        case Backend::Dnn: return "dnn";
        case Backend::Hog: return "hog";
        case Backend::Haar: return "haar";
        case Backend::None: return "none";
    }
    return "?";
}

std::string usage() {
    return
        "usage: edge-infer [options] INPUT\n"
        "\n"
        "Detect objects in a video file or stream; writes one JSON object per frame.\n"
        "INPUT is a file, an rtsp://, rtp://, udp:// or tcp:// URL, or an .sdp file\n"
        "describing an RTP session (needed for RTP payloads other than MPEG-TS).\n"
        "\n"
        "  --backend dnn|hog|haar|none  detector (default dnn; none: decode only)\n"
        "  --model FILE            ONNX detector for dnn (default: the installed\n"
        "                          ../share/edge-infer/pedestrian-grid.onnx)\n"
        "  --cascade FILE          Haar cascade XML for haar (default: the installed\n"
        "                          ../share/edge-infer/haarcascade_frontalface_default.xml)\n"
        "  --output FILE           JSON Lines destination (default - : stdout)\n"
        "  --input-size WxH        network input (default 256x192)\n"
        "  --score-threshold F     minimum score (default 0.5)\n"
        "  --nms-threshold F       IoU above which overlapping boxes are merged (default 0.45)\n"
        "  --threads N             OpenCV worker threads (default: OpenCV's choice)\n"
        "  --queue N               decoded frames buffered between threads (default 4)\n"
        "  --drop-frames auto|yes|no  when the detector falls behind, drop the oldest\n"
        "                          buffered frame (yes) or wait (no); auto: drop for live\n"
        "                          sources (URLs, .sdp), wait for files\n"
        "  --max-frames N          stop after N frames\n"
        "  --timeout SECONDS       network open/read timeout (default 5)\n"
        "  --keep-going            accept a damaged stream (exit 0 despite decode errors)\n"
        "  --summary               print frames, FPS and per-stage latency to stderr\n"
        "  --version               print version, board, compiler and library versions\n"
        "  --help                  this text\n"
        "\n"
        "exit codes: 0 ok, 2 bad arguments, 3 input cannot be opened or read,\n"
        "            4 damaged stream, 5 bad model or cascade, 1 internal error\n";
}

Options parse_args(const std::vector<std::string>& args) {
    Options o;
    bool have_input = false;
    using Setter = std::function<void(const std::string&)>;
    const std::map<std::string, Setter> with_value = {
        {"--backend", [&](const std::string& v) {
             if (v == "dnn") o.backend = Backend::Dnn;
             else if (v == "hog") o.backend = Backend::Hog;
             else if (v == "haar") o.backend = Backend::Haar;
             else if (v == "none") o.backend = Backend::None;
             else fail("--backend: unknown backend '" + v + "' (expected dnn, hog, haar or none)");
         }},
        {"--model", [&](const std::string& v) { o.model = v; }},
        {"--cascade", [&](const std::string& v) { o.cascade = v; }},
        {"--output", [&](const std::string& v) { o.output = v; }},
        {"--input-size", [&](const std::string& v) {
             auto x = v.find('x');
             if (x == std::string::npos) fail("--input-size: expected WxH, got '" + v + "'");
             o.input_width = int(to_long("--input-size", v.substr(0, x), 32, 4096));
             o.input_height = int(to_long("--input-size", v.substr(x + 1), 32, 4096));
             if (o.input_width % 8 || o.input_height % 8)
                 fail("--input-size: " + v + " is not a multiple of the model's stride (8)");
         }},
        {"--score-threshold", [&](const std::string& v) {
             o.score_threshold = float(to_double("--score-threshold", v, 0.0, 1.0)); }},
        {"--nms-threshold", [&](const std::string& v) {
             o.nms_threshold = float(to_double("--nms-threshold", v, 0.0, 1.0)); }},
        {"--threads", [&](const std::string& v) { o.threads = int(to_long("--threads", v, 0, 256)); }},
        {"--queue", [&](const std::string& v) { o.queue_size = int(to_long("--queue", v, 1, 1024)); }},
        {"--drop-frames", [&](const std::string& v) {
             if (v == "auto") o.drop = DropPolicy::Auto;
             else if (v == "yes") o.drop = DropPolicy::Yes;
             else if (v == "no") o.drop = DropPolicy::No;
             else fail("--drop-frames: expected auto, yes or no, got '" + v + "'");
         }},
        {"--max-frames", [&](const std::string& v) {
             o.max_frames = to_long("--max-frames", v, 1, 1LL << 40); }},
        {"--timeout", [&](const std::string& v) { o.timeout_s = to_double("--timeout", v, 0.1, 3600); }},
    };
    const std::map<std::string, bool*> flags = {
        {"--keep-going", &o.keep_going}, {"--summary", &o.summary},
        {"--version", &o.version}, {"--help", &o.help}, {"-h", &o.help},
    };
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string a = args[i], value;
        bool inline_value = false;
        if (a.rfind("--", 0) == 0) {
            auto eq = a.find('=');
            if (eq != std::string::npos) {
                value = a.substr(eq + 1);
                a = a.substr(0, eq);
                inline_value = true;
            }
        }
        if (auto f = flags.find(a); f != flags.end()) {
            if (inline_value) fail(a + " takes no value");
            *f->second = true;
        } else if (auto s = with_value.find(a); s != with_value.end()) {
            if (!inline_value) {
                if (i + 1 >= args.size()) fail(a + " needs a value");
                value = args[++i];
            }
            s->second(value);
        } else if (a.size() > 1 && a[0] == '-') {
            fail("unknown option '" + a + "'");
        } else if (have_input) {
            fail("more than one input: '" + o.input + "' and '" + a + "'");
        } else {
            o.input = a;
            have_input = true;
        }
    }
    if (o.help || o.version) return o;
    if (!have_input) fail("no input given");
    return o;
}

std::string installed_share_dir(const std::string& executable) {
    const auto slash = executable.find_last_of('/');
    if (slash == std::string::npos) return "../share/edge-infer";
    return executable.substr(0, slash) + "/../share/edge-infer";
}

Options with_installed_defaults(Options o, const std::string& share_dir) {
    if (o.help || o.version) return o;
    auto installed = [&](const char* name) {
        const std::string path = share_dir + "/" + name;
        struct stat st {};
        return (!share_dir.empty() && ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode))
                   ? path : std::string();
    };
    if (o.backend == Backend::Dnn && o.model.empty()) {
        o.model = installed(kInstalledModel);
        if (o.model.empty())
            fail("--backend dnn needs --model FILE (no " + std::string(kInstalledModel) +
                 " installed in " + share_dir + ")");
    }
    if (o.backend == Backend::Haar && o.cascade.empty()) {
        o.cascade = installed(kInstalledCascade);
        if (o.cascade.empty())
            fail("--backend haar needs --cascade FILE (no " + std::string(kInstalledCascade) +
                 " installed in " + share_dir + ")");
    }
    return o;
}

std::string self_executable() {
    std::vector<char> buf(4096);
    const ssize_t n = ::readlink("/proc/self/exe", buf.data(), buf.size() - 1);
    return n > 0 ? std::string(buf.data(), static_cast<size_t>(n)) : std::string();
}

}  // namespace edge_infer
