/* Kernels that isolate the instruction classes of a video-analytics program, each timed
 * in-process so that program start-up and translation warm-up do not count.
 *   scalar-int  a dependent integer hash chain (control code, parsing, bit-stream reading)
 *   simd-int    sum of absolute differences over bytes (motion compensation, colour conversion)
 *   simd-float  c += a * s + b over float arrays (convolution / GEMM inner loops)
 * Prints one line per kernel: name, nanoseconds per element, a checksum. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define N 4096
#define MIN_SECONDS 0.4

static float fa[N], fb[N], fc[N];
static uint8_t pa[N + 1], pb[N];
static uint32_t words[N];

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

__attribute__((noinline)) static uint32_t scalar_int(const uint32_t *w, uint32_t h) {
    for (int i = 0; i < N; i++) {
        h ^= w[i];
        h *= 16777619u;
        h ^= h >> 13;
    }
    return h;
}

__attribute__((noinline)) static uint32_t simd_int(const uint8_t *p, const uint8_t *q) {
    uint32_t s = 0;
    for (int i = 0; i < N; i++) {
        int d = p[i] - q[i];
        s += (uint32_t)(d < 0 ? -d : d);
    }
    return s;
}

__attribute__((noinline)) static void simd_float(float *restrict c, const float *restrict a,
                                                 const float *restrict b, float s) {
    for (int i = 0; i < N; i++)
        c[i] += a[i] * s + b[i];
}

typedef uint32_t (*kernel)(long rep);

static uint32_t run_scalar_int(long rep) { return scalar_int(words, (uint32_t)rep); }
static uint32_t run_simd_int(long rep) { return simd_int(pa + (rep & 1), pb); }
static uint32_t run_simd_float(long rep) {
    simd_float(fc, fa, fb, 0.5f + (float)(rep & 15) * 1e-3f);
    return (uint32_t)(fc[rep & (N - 1)] > 0.0f);
}

static void measure(const char *name, kernel k) {
    uint32_t check = 0;
    long reps = 0, batch = 16;
    double t0 = now(), elapsed = 0.0;
    while (elapsed < MIN_SECONDS) {
        for (long r = 0; r < batch; r++)
            check += k(reps + r);
        reps += batch;
        batch *= 2;
        elapsed = now() - t0;
    }
    printf("%s %.4f %u\n", name, elapsed * 1e9 / ((double)reps * N), check);
}

int main(void) {
    for (int i = 0; i < N; i++) {
        fa[i] = (float)i * 0.001f;
        fb[i] = 1.0f / (float)(i + 1);
        pa[i] = (uint8_t)(i * 7);
        pb[i] = (uint8_t)(i * 13);
        words[i] = (uint32_t)i * 2654435761u;
    }
    measure("scalar-int", run_scalar_int);
    measure("simd-int", run_simd_int);
    measure("simd-float", run_simd_float);
    return 0;
}
