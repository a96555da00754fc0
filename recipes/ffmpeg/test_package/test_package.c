/* Demux and decode every video frame of a clip, scale the first to RGB, check the count.
 * usage: test_package CLIP EXPECTED_FRAMES WIDTH HEIGHT */
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
#include <stdio.h>
#include <stdlib.h>

static int fail(const char *what, int err) {
    char buf[128];
    av_strerror(err, buf, sizeof buf);
    fprintf(stderr, "test_package: %s: %s\n", what, buf);
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 5) return 2;
    const int expected = atoi(argv[2]), want_w = atoi(argv[3]), want_h = atoi(argv[4]);
    AVFormatContext *fmt = NULL;
    int err = avformat_open_input(&fmt, argv[1], NULL, NULL);
    if (err < 0) return fail("open", err);
    if ((err = avformat_find_stream_info(fmt, NULL)) < 0) return fail("stream info", err);
    const AVCodec *codec = NULL;
    int stream = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (stream < 0) return fail("video stream", stream);
    AVCodecContext *dec = avcodec_alloc_context3(codec);
    avcodec_parameters_to_context(dec, fmt->streams[stream]->codecpar);
    if ((err = avcodec_open2(dec, codec, NULL)) < 0) return fail("open decoder", err);

    AVPacket *pkt = av_packet_alloc();
    AVFrame *frame = av_frame_alloc();
    int frames = 0, rgb_sum_ok = 0;
    for (int draining = 0; !draining;) {
        if (av_read_frame(fmt, pkt) < 0) {
            draining = 1;
            avcodec_send_packet(dec, NULL);
        } else if (pkt->stream_index == stream) {
            avcodec_send_packet(dec, pkt);
        }
        av_packet_unref(pkt);
        while (avcodec_receive_frame(dec, frame) == 0) {
            if (frames++ == 0) {
                struct SwsContext *sws = sws_getContext(frame->width, frame->height,
                    frame->format, frame->width, frame->height, AV_PIX_FMT_RGB24,
                    SWS_BILINEAR, NULL, NULL, NULL);
                uint8_t *rgb[4];
                int linesize[4];
                av_image_alloc(rgb, linesize, frame->width, frame->height, AV_PIX_FMT_RGB24, 1);
                sws_scale(sws, (const uint8_t *const *)frame->data, frame->linesize, 0,
                          frame->height, rgb, linesize);
                long sum = 0;
                for (int i = 0; i < frame->width * frame->height * 3; ++i) sum += rgb[0][i];
                rgb_sum_ok = sum > 0;
                av_freep(&rgb[0]);
                sws_freeContext(sws);
            }
        }
    }
    printf("ffmpeg %s: %s %dx%d, decoded %d frames (expected %d)\n", av_version_info(),
           codec->name, dec->width, dec->height, frames, expected);
    int ok = frames == expected && dec->width == want_w && dec->height == want_h && rgb_sum_ok;
    av_frame_free(&frame);
    av_packet_free(&pkt);
    avcodec_free_context(&dec);
    avformat_close_input(&fmt);
    return ok ? 0 : 1;
}
