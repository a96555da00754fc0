/* Encode a 64x48 RGB gradient to PNG in memory, decode it, compare every pixel. */
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    enum { W = 64, H = 48 };
    unsigned char pixels[W * H * 3];
    for (int i = 0; i < W * H * 3; ++i) pixels[i] = (unsigned char)((i * 13) % 256);

    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = W;
    img.height = H;
    img.format = PNG_FORMAT_RGB;
    png_alloc_size_t size = 0;
    if (!png_image_write_get_memory_size(img, size, 0, pixels, 0, NULL)) return 1;
    void *buf = malloc(size);
    if (!png_image_write_to_memory(&img, buf, &size, 0, pixels, 0, NULL)) return 2;

    png_image back;
    memset(&back, 0, sizeof back);
    back.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&back, buf, size)) return 3;
    back.format = PNG_FORMAT_RGB;
    unsigned char decoded[W * H * 3];
    if (!png_image_finish_read(&back, NULL, decoded, 0, NULL)) return 4;
    if (back.width != W || back.height != H || memcmp(pixels, decoded, sizeof pixels)) return 5;
    printf("libpng %s: %dx%d RGB -> %lu bytes PNG, round trip ok\n", PNG_LIBPNG_VER_STRING, W, H,
           (unsigned long)size);
    free(buf);
    return 0;
}
