/* Round trip: compress a buffer, decompress it, compare. */
#include <stdio.h>
#include <string.h>
#include <zlib.h>

int main(void) {
    unsigned char in[4096], packed[8192], out[4096];
    for (size_t i = 0; i < sizeof in; ++i) in[i] = (unsigned char)(i * 7 % 251);
    uLongf packed_len = sizeof packed, out_len = sizeof out;
    if (compress2(packed, &packed_len, in, sizeof in, 9) != Z_OK) return 1;
    if (uncompress(out, &out_len, packed, packed_len) != Z_OK) return 2;
    if (out_len != sizeof in || memcmp(in, out, sizeof in) != 0) return 3;
    printf("zlib %s: %lu -> %lu bytes, round trip ok\n", zlibVersion(),
           (unsigned long)sizeof in, (unsigned long)packed_len);
    return 0;
}
