// usage: test_package CLIP FRAMES WIDTH HEIGHT MODEL.onnx CASCADE.xml EXPECT_NEON
#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>
#include <opencv2/videoio.hpp>

#include <cmath>
#include <cstdlib>
#include <iostream>
#include <regex>
#include <string>
#include <vector>

static int failures = 0;
static void check(bool ok, const std::string& what) {
    std::cout << (ok ? "ok   " : "FAIL ") << what << std::endl;
    if (!ok) ++failures;
}

int main(int argc, char** argv) {
    if (argc != 8) return 2;
    const int want_frames = std::atoi(argv[2]), want_w = std::atoi(argv[3]),
              want_h = std::atoi(argv[4]);
    const bool expect_neon = std::string(argv[7]) == "1";

    const std::string info = cv::getBuildInformation();
    check(std::regex_search(info, std::regex("FFMPEG:\\s+YES")), "build information: FFMPEG: YES");
    if (expect_neon)
        check(std::regex_search(info, std::regex("Baseline:[^\\n]*NEON")),
              "build information: NEON in the CPU baseline");

    cv::VideoCapture cap(argv[1], cv::CAP_FFMPEG);
    check(cap.isOpened(), "VideoCapture opens the clip with the FFmpeg backend");
    int frames = 0;
    cv::Mat frame, first;
    while (cap.read(frame)) {
        if (frames++ == 0) first = frame.clone();
    }
    check(frames == want_frames, "read " + std::to_string(frames) + " frames, expected " +
                                     std::to_string(want_frames));
    check(!first.empty() && first.cols == want_w && first.rows == want_h && first.channels() == 3,
          "first frame is " + std::to_string(want_w) + "x" + std::to_string(want_h) + " BGR");

    std::vector<uchar> png, jpg;
    check(cv::imencode(".png", first, png), "imencode PNG");
    cv::Mat png_back = cv::imdecode(png, cv::IMREAD_COLOR);
    check(!png_back.empty() && cv::norm(first, png_back, cv::NORM_INF) == 0, "PNG round trip is exact");
    // JPEG is lossy: a smooth gradient must survive quality 95 with a high PSNR (the clip's
    // saturated colour bars lose much more to 4:2:0 chroma subsampling)
    cv::Mat smooth(120, 160, CV_8UC3);
    for (int y = 0; y < smooth.rows; ++y)
        for (int x = 0; x < smooth.cols; ++x)
            smooth.at<cv::Vec3b>(y, x) = cv::Vec3b(uchar(x + 40), uchar(y + 60), uchar((x + y) / 2 + 20));
    check(cv::imencode(".jpg", smooth, jpg, {cv::IMWRITE_JPEG_QUALITY, 95}), "imencode JPEG");
    cv::Mat jpg_back = cv::imdecode(jpg, cv::IMREAD_COLOR);
    const double psnr = jpg_back.empty() ? 0.0 : cv::PSNR(smooth, jpg_back);
    check(psnr > 40.0, "JPEG round trip at quality 95: PSNR " + std::to_string(psnr) + " dB > 40");

    cv::dnn::Net net = cv::dnn::readNetFromONNX(argv[5]);
    check(!net.empty(), "readNetFromONNX");
    int shape[] = {1, 3, 4, 4};
    cv::Mat blob(4, shape, CV_32F);
    for (int c = 0; c < 3; ++c)
        for (int i = 0; i < 16; ++i) blob.ptr<float>(0, c)[i] = float(c + 1);
    net.setInput(blob);
    cv::Mat out = net.forward();
    bool exact = out.dims == 4 && out.size[1] == 2;
    for (int i = 0; exact && i < 16; ++i)
        exact = std::fabs(out.ptr<float>(0, 0)[i] - 1.25f) < 1e-6f &&
                std::fabs(out.ptr<float>(0, 1)[i] - 1.5f) < 1e-6f;
    check(exact, "dnn forward pass gives 1.25 and 1.5");

    cv::CascadeClassifier cascade;
    check(cascade.load(argv[6]), "Haar cascade loads");
    std::vector<cv::Rect> faces;
    cv::Mat grey;
    cv::cvtColor(first, grey, cv::COLOR_BGR2GRAY);
    cascade.detectMultiScale(grey, faces);

    std::cout << "opencv " << CV_VERSION << ": " << (failures ? "FAILED" : "all checks passed")
              << std::endl;
    return failures ? 1 : 0;
}
