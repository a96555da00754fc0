// Round trip through the wire format with code protoc generated on the build machine.
#include <iostream>
#include <string>

#include "detection.pb.h"

int main() {
    GOOGLE_PROTOBUF_VERIFY_VERSION;
    edgeforge::test::Frame frame;
    frame.set_index(42);
    for (int i = 0; i < 3; ++i) {
        auto* box = frame.add_boxes();
        box->set_x(10.5f * i);
        box->set_y(20.25f);
        box->set_w(64);
        box->set_h(128);
        box->set_score(0.5f + 0.125f * i);
        box->set_label("person");
    }
    std::string wire;
    if (!frame.SerializeToString(&wire)) return 1;
    edgeforge::test::Frame back;
    if (!back.ParseFromString(wire)) return 2;
    if (back.index() != 42 || back.boxes_size() != 3 || back.boxes(2).x() != 21.0f ||
        back.boxes(2).score() != 0.75f || back.boxes(1).label() != "person")
        return 3;
    std::cout << "protobuf " << GOOGLE_PROTOBUF_VERSION << ": " << wire.size()
              << " bytes, round trip ok" << std::endl;
    google::protobuf::ShutdownProtobufLibrary();
    return 0;
}
