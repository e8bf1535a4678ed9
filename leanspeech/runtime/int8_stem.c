/* The fused int8 stem of spectrogram CNNs (runtime/int8_stem.py loads it through runtime/native.py):
   a 3x3 convolution of a one-channel uint8 image (stride 1, zero padding 1) -> ReLU -> 2x2 max pooling,
   in one pass, written as uint8 channels-last.

   leanspeech_int8_stem(x, batch, rows, cols, batch_stride, row_stride, col_stride, x_zero_point,
                        w, correction, multiplier, offset, channels, out_zero_point, out):
       acc[c]  = sum_{ky,kx} w[ky][c][kx] * xpad[r + ky][s + kx] - correction[c]   (exact int32)
       out[b][i][j][c] = clamp(rint(max_{2x2} acc[c] * multiplier[c] + offset[c]) + out_zero_point,
                               out_zero_point, 255)
   with x uint8 (any strides), xpad = x padded with x_zero_point (a real zero), w int8 laid out
   (3, channels, 4) with w[ky][c][3] = 0, correction[c] = x_zero_point * sum(w[.][c][.]),
   multiplier[c] = x_scale * w_scale[c] / out_scale, offset[c] = bias[c] / out_scale, and `rint` round
   half to even. Taking the maximum of the int32 sums before requantizing is exact: requantization is
   non-decreasing in acc (w_scale > 0), so it gives the integers of conv -> ReLU -> pool.

   Why a kernel of its own: oneDNN's int8 convolutions want input channels in groups of four, so one input
   channel runs at a fraction of their speed. Here a kernel row's three taps (and a zero) are the four
   bytes one VNNI vpdpbusd multiplies per lane: three instructions per 16 output channels and position.

   Variants: AVX-512 VNNI, and portable C with the same integer and float arithmetic (tests compare
   them; the runtime fuses the stem only where the VNNI variant runs, since oneDNN beats portable C). */

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef void (*stem_rows_fn)(const uint8_t *, int64_t, int64_t, int64_t, const int8_t *, const int32_t *,
                             const float *, const float *, int64_t, int32_t, uint8_t *);

static uint8_t requantize(int32_t best, int32_t correction, float multiplier, float offset, int32_t zero_point) {
    float q = nearbyintf((float)(best - correction) * multiplier + offset) + (float)zero_point;
    q = q < (float)zero_point ? (float)zero_point : (q > 255.0f ? 255.0f : q);
    return (uint8_t)q;
}

/* One image: `padded` is (2 * prow + 2) rows of `width` >= 2 * pcol + 3 bytes. */
static void stem_portable(const uint8_t *padded, int64_t width, int64_t prow, int64_t pcol, const int8_t *w,
                          const int32_t *correction, const float *multiplier, const float *offset,
                          int64_t channels, int32_t zero_point, uint8_t *out) {
    for (int64_t i = 0; i < prow; i++)
        for (int64_t j = 0; j < pcol; j++)
            for (int64_t c = 0; c < channels; c++) {
                int32_t best = INT32_MIN;
                for (int dy = 0; dy < 2; dy++)
                    for (int dx = 0; dx < 2; dx++) {
                        const uint8_t *p = padded + (2 * i + dy) * width + 2 * j + dx;
                        int32_t acc = 0;
                        for (int ky = 0; ky < 3; ky++)
                            for (int kx = 0; kx < 4; kx++)
                                acc += (int32_t)w[(ky * channels + c) * 4 + kx] * (int32_t)p[ky * width + kx];
                        best = acc > best ? acc : best;
                    }
                out[(i * pcol + j) * channels + c] = requantize(best, correction[c], multiplier[c], offset[c], zero_point);
            }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HAVE_X86 1

/* Channels in blocks of 16 (one zmm of int32 sums), the block's three weight rows held in registers. */
__attribute__((target("avx512f,avx512bw,avx512vnni"))) static void stem_avx512vnni(
    const uint8_t *padded, int64_t width, int64_t prow, int64_t pcol, const int8_t *w, const int32_t *correction,
    const float *multiplier, const float *offset, int64_t channels, int32_t zero_point, uint8_t *out) {
    const __m512i zp = _mm512_set1_epi32(zero_point);
    for (int64_t block = 0; block < channels; block += 16) {
        const __m512i w0 = _mm512_loadu_si512(w + (0 * channels + block) * 4);
        const __m512i w1 = _mm512_loadu_si512(w + (1 * channels + block) * 4);
        const __m512i w2 = _mm512_loadu_si512(w + (2 * channels + block) * 4);
        const __m512i corr = _mm512_loadu_si512(correction + block);
        const __m512 mult = _mm512_loadu_ps(multiplier + block), off = _mm512_loadu_ps(offset + block);
        for (int64_t i = 0; i < prow; i++)
            for (int64_t j = 0; j < pcol; j++) {
                __m512i best = _mm512_set1_epi32(INT32_MIN);
                for (int dy = 0; dy < 2; dy++)
                    for (int dx = 0; dx < 2; dx++) {
                        const uint8_t *p = padded + (2 * i + dy) * width + 2 * j + dx;
                        int32_t r0, r1, r2;  /* four bytes of each of the three rows under the kernel */
                        memcpy(&r0, p, 4);
                        memcpy(&r1, p + width, 4);
                        memcpy(&r2, p + 2 * width, 4);
                        __m512i acc = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi32(r0), w0);
                        acc = _mm512_dpbusd_epi32(acc, _mm512_set1_epi32(r1), w1);
                        acc = _mm512_dpbusd_epi32(acc, _mm512_set1_epi32(r2), w2);
                        best = _mm512_max_epi32(best, acc);
                    }
                __m512 y = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(best, corr)), mult), off);
                __m512i q = _mm512_max_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(y), zp), zp);
                _mm_storeu_si128((__m128i *)(out + (i * pcol + j) * channels + block), _mm512_cvtusepi32_epi8(q));
            }
    }
}
#endif

static const char *const NAMES[] = {
#ifdef HAVE_X86
    "avx512vnni",
#endif
    "portable"};
static const stem_rows_fn KERNELS[] = {
#ifdef HAVE_X86
    stem_avx512vnni,
#endif
    stem_portable};
#define N_VARIANTS ((int)(sizeof NAMES / sizeof NAMES[0]))

int leanspeech_int8_pick(const char *const *names, int count, const char *wanted); /* int8_dot.c */

static int chosen = -1;

/* The variant in use (the fastest this CPU supports unless leanspeech_int8_stem_use chose one). */
const char *leanspeech_int8_stem_variant(void) {
    if (chosen < 0) chosen = leanspeech_int8_pick(NAMES, N_VARIANTS, NULL);
    return NAMES[chosen];
}

/* Use the named variant (tests compare them); returns 0 if this CPU or build does not have it. */
int leanspeech_int8_stem_use(const char *name) {
    const int k = leanspeech_int8_pick(NAMES, N_VARIANTS, name);
    if (k >= 0) chosen = k;
    return k >= 0;
}

/* Returns 0, or -1 if the padded copy could not be allocated (nothing written). */
int leanspeech_int8_stem(const uint8_t *x, int64_t batch, int64_t rows, int64_t cols, int64_t batch_stride,
                         int64_t row_stride, int64_t col_stride, int32_t x_zero_point, const int8_t *w,
                         const int32_t *correction, const float *multiplier, const float *offset,
                         int64_t channels, int32_t out_zero_point, uint8_t *out) {
    if (chosen < 0) leanspeech_int8_stem_variant();
    const int64_t prow = rows / 2, pcol = cols / 2, width = cols + 3; /* +3: the 4-byte row reads */
    const size_t size = (size_t)((rows + 2) * width);
    uint8_t *padded = malloc(size);
    if (!padded) return -1;
    memset(padded, x_zero_point, size);
    for (int64_t b = 0; b < batch; b++) {
        const uint8_t *image = x + b * batch_stride;
        for (int64_t r = 0; r < rows; r++) {
            uint8_t *row = padded + (r + 1) * width + 1;
            if (col_stride == 1)
                memcpy(row, image + r * row_stride, (size_t)cols);
            else
                for (int64_t c = 0; c < cols; c++) row[c] = image[r * row_stride + c * col_stride];
        }
        KERNELS[chosen](padded, width, prow, pcol, w, correction, multiplier, offset, channels, out_zero_point,
                        out + b * prow * pcol * channels);
    }
    free(padded);
    return 0;
}
