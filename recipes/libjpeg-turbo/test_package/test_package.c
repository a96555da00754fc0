/* Compress a flat grey 32x32 image to JPEG in memory, decompress it, check the pixels. */
#include <stdio.h>
#include <stdlib.h>
#include <jpeglib.h>

int main(void) {
    enum { W = 32, H = 32 };
    unsigned char img[W * H * 3];
    for (int i = 0; i < W * H * 3; ++i) img[i] = 128;

    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    unsigned char *out = NULL;
    unsigned long out_size = 0;
    jpeg_mem_dest(&c, &out, &out_size);
    c.image_width = W;
    c.image_height = H;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 95, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = &img[c.next_scanline * W * 3];
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);

    struct jpeg_decompress_struct d;
    d.err = jpeg_std_error(&err);
    jpeg_create_decompress(&d);
    jpeg_mem_src(&d, out, out_size);
    jpeg_read_header(&d, TRUE);
    jpeg_start_decompress(&d);
    unsigned char row[W * 3];
    int worst = 0;
    while (d.output_scanline < d.output_height) {
        JSAMPROW r = row;
        jpeg_read_scanlines(&d, &r, 1);
        for (int i = 0; i < W * 3; ++i) {
            int diff = abs((int)row[i] - 128);
            if (diff > worst) worst = diff;
        }
    }
    jpeg_finish_decompress(&d);
    jpeg_destroy_decompress(&d);
    free(out);
    if (worst > 2) return 1;
    printf("libjpeg-turbo: %dx%d -> %lu bytes JPEG, max error %d, round trip ok\n", W, H,
           out_size, worst);
    return 0;
}
