#include "edge_infer/json.hpp"

#include <cstdio>

namespace edge_infer {

std::string json_escape(const std::string& s) {
    std::string out;
    out.reserve(s.size() + 2);
    for (unsigned char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else {
                    out += char(c);
                }
        }
    }
    return out;
}

static std::string num(double v, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    std::string s(buf);
    if (s == "-0.00" || s == "-0.000" || s == "-0.0") s.erase(0, 1);
    return s;
}

std::string to_json_line(const FrameResult& r) {
    std::string s = "{\"frame\":" + std::to_string(r.index) + ",\"timestamp\":" +
                    num(r.timestamp, 3) + ",\"detections\":[";
    bool first = true;
    for (const auto& d : r.detections) {
        if (!first) s += ',';
        first = false;
        s += "{\"class\":" + std::to_string(d.class_id) + ",\"label\":\"" + json_escape(d.label) +
             "\",\"score\":" + num(d.score, 4) + ",\"box\":[" + num(d.box.x, 1) + ',' +
             num(d.box.y, 1) + ',' + num(d.box.w, 1) + ',' + num(d.box.h, 1) + "]}";
    }
    s += "]}";
    return s;
}

}  // namespace edge_infer
